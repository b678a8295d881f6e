import logging

log = logging.getLogger(__name__)


def refresh(token):
    try:
        token.refresh()
    except Exception:  # expect: AUD005
        log.debug("refresh failed", exc_info=True)


def refresh_level(token):
    try:
        token.refresh()
    except Exception as exc:  # expect: AUD005
        log.log(logging.DEBUG, "refresh failed: %s", exc)
