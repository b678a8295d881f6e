import logging

logger = logging.getLogger(__name__)


def notify(user):
    try:
        user.notify()
    except Exception:  # expect: AUD006
        logger.warning("could not notify user %s", user.id)
