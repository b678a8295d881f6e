import logging

logger = logging.getLogger(__name__)


def run(job):
    try:
        job()
    except:
        logger.exception("job failed")


def ratio(done, total):
    try:
        return done / total
    except:  # expect: AUD001
        return 0.0


def poll(job):
    try:
        job()
    except:  # expect: AUD001
        logger.debug("poll failed")
