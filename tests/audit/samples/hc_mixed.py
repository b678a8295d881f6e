import os
import logging

logger = logging.getLogger(__name__)


class Client:
    def __init__(self, session):
        self.session = session
        self.base = os.environ.get("BASE_URL", "http://localhost:8080")  # expect: AUD101

    def get(self, path):
        try:
            return self.session.get(self.base + path, timeout=15)  # expect: AUD104
        except Exception:  # expect: AUD003
            self.session = None
