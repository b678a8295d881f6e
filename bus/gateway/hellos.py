"""Failed hellos: the rate limit per client address, and the record of each failure.

PROTOCOL.md "Handshake": once WS_AUTH_FAILURES_PER_MINUTE hellos from one
address have failed within the last minute, every hello from it is refused
with `rate_limited`, valid or not, until fewer failures fall in that minute.

What counts as a failure is what the client sent: a first frame that is not
a hello object (`invalid_hello`), another op first (`missing_hello`), a token
that is missing, unknown, revoked or expired (`unauthorized`). Not counted:
`unavailable` (the server could not check the token; the client did nothing
wrong), the hello timeout (no hello was tried, so nothing was guessed), and
`rate_limited` itself (so an address gets out once it waits, however often it
knocks meanwhile).
"""

from __future__ import annotations

import logging

from bus.gateway.state.hello_failures import WINDOW_SECS, HelloFailures
from bus.protocol import HelloError
from controlplane.config import Config

logger = logging.getLogger(__name__)

COUNTED = frozenset(
    {HelloError.INVALID_HELLO, HelloError.MISSING_HELLO, HelloError.UNAUTHORIZED}
)


async def hello_limited(
    *, failures: HelloFailures, address: str, config: Config
) -> bool:
    """Return whether hellos from the address are refused for now (rate_limited)."""
    return await failures.count(address) >= config.WS_AUTH_FAILURES_PER_MINUTE


async def hello_failed(
    *, failures: HelloFailures, address: str, reason: str, config: Config
) -> None:
    """Count and log a failed hello; raise ValueError for a reason that never counts."""
    if reason not in COUNTED:
        raise ValueError(f"{reason} is not a failed hello that counts")
    count = await failures.record(address)
    limit = config.WS_AUTH_FAILURES_PER_MINUTE
    # The address, never the token: a log line must not hand out credentials.
    logger.warning(
        "Refused a hello from %s: %s (%d failed within %gs, limit %d)",
        address,
        reason,
        count,
        WINDOW_SECS,
        limit,
    )
    if count == limit:
        logger.warning(
            "Hellos from %s are refused (rate_limited) until fewer than %d of its "
            "hellos failed within %gs",
            address,
            limit,
            WINDOW_SECS,
        )
