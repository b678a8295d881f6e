import logging

logger = logging.getLogger(__name__)


def handle(frame, reply):
    try:
        return reply(frame)
    except Exception:
        logger.exception("frame %s failed", frame.id)
        return {"code": "EXEC_ERROR", "message": "internal error"}
