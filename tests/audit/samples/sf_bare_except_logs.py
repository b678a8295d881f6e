import logging

logger = logging.getLogger(__name__)


def run(job):
    try:
        job()
    except:  # expect: AUD001
        logger.exception("job failed")
