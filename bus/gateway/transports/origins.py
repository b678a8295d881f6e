"""Origin validation for agent WebSockets."""

from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Refuse browser pages from foreign origins; allow clients that send no Origin.

    Agents are programs that authenticate with a token in hello and send no
    Origin header; a browser always sends one, so a page on another site cannot
    drive an agent session through a visitor's browser.
    """

    def __init__(self, application: object) -> None:
        super().__init__(application, list(settings.ALLOWED_HOSTS))

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        """Accept a missing Origin; otherwise it must match ALLOWED_HOSTS."""
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)
