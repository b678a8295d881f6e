import logging

logger = logging.getLogger(__name__)


class Worker:
    def start(self):
        try:
            self.connect()
        except Exception:  # expect: AUD002
            pass

    def stop(self):
        try:
            self.disconnect()
        except OSError:
            # The socket may already be closed by the peer.
            pass

    def poll(self):
        try:
            return self.queue.get()
        except Exception:
            logger.exception("poll failed")
            raise
