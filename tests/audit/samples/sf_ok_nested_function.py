import logging

logger = logging.getLogger(__name__)


def outer(task):
    def inner():
        try:
            task()
        except ValueError as exc:
            logger.error("task failed: %s", exc)
    return inner
