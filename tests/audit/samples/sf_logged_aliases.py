import logging

logger = logging.getLogger(__name__)
fatal_line, note = logger.critical, logger.info
shout = logger.error


class Spool:
    def replay(self, entry):
        try:
            self.sink.push(entry)
        except Exception:
            fatal_line("could not replay entry %r", entry, exc_info=True)

    def resend(self, entry):
        try:
            self.sink.push(entry)
        except Exception:  # expect: AUD006
            shout("could not resend entry")

    def stop(self, links):
        for link in links:
            try:
                link.close()
            except Exception:
                logger.debug("closing %r failed", link, exc_info=True)

    def drop(self, link):
        try:
            link._do_close_now()
        except TimeoutError:
            pass

    def flush(self, entry):
        try:
            self.sink.push(entry)
        except Exception:  # expect: AUD005
            logger.debug("push failed", exc_info=True)

