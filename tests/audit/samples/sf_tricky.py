import logging

logger = logging.getLogger(__name__)


class Cache:
    def get(self, key):
        try:
            return self.backend.get(key)
        except Exception:  # expect: AUD003
            return self._default

    def put(self, key, value, failed):
        try:
            self.backend.set(key, value)
        except Exception:  # expect: AUD006
            logger.error("cache write failed")
            failed.set()
