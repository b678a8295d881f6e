import logging

logger = logging.getLogger(__name__)


def view(request, render_error):
    try:
        return request.process()
    except Exception as exc:
        logger.error("request failed: %r", exc)
        return render_error(500)


def view_response(request, error_response):
    try:
        return request.process()
    except Exception:
        return error_response("upstream unavailable", status=502)
