import logging

logger = logging.getLogger(__name__)


def load_overrides(store, defaults):
    try:
        return store.read()
    except Exception:
        logger.warning("overrides unavailable, using defaults", exc_info=True)
        return defaults
