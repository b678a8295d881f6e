import logging

import structlog
from twisted.python import log

logger = logging.getLogger(__name__)


def is_reachable(client) -> bool:
    try:
        client.ping()
    except Exception:
        return False
    return True


def resolve(resolver, path):
    try:
        match = resolver.resolve(path)
    except KeyError:
        pass
    else:
        return match
    return None


async def answer(send, request):
    try:
        return await request.run()
    except Exception:
        await send({"op": "error", "code": "EXEC_ERROR"})


def twisted_style(job):
    try:
        job()
    except Exception:
        log.err()


def structlog_style(job):
    try:
        job()
    except Exception:
        structlog.get_logger().warning("job failed", exc_info=True)


def commented(job):
    # The job is optional: a failure leaves the cache cold, nothing more.
    try:
        job()
    except Exception:
        pass


def estimate(text):
    try:
        return count_tokens(text)
    except Exception:  # expect: AUD003
        return max(1, len(text) // 4)


def handler_with_def(job):
    try:
        job()
    except Exception:  # expect: AUD003

        def fallback():
            return None

        job.fallback = fallback


def count_tokens(text):
    return len(text.split())


def connect(client):
    try:
        client.connect()
    except Exception:
        return False
    return True


def view(request, handler):
    try:
        return handler(request)
    except Exception:
        return HttpResponse(status=500)


class HttpResponse:
    def __init__(self, status):
        self.status = status


class FieldError(Exception):
    pass


class ValidationError(Exception):
    pass


def has_changed(field, initial, data):
    try:
        value = field.to_python(data)
    except ValidationError:
        pass
    else:
        return value != initial
    return True


def output_field(expression):
    try:
        field = expression.output_field
    except FieldError:
        field = None
    return field


def measure(download):
    try:
        download.result = download.run()
    except OSError:  # expect: AUD007
        download.result = 0


def bare_return(job, log):
    try:
        job()
    except Exception as exc:  # expect: AUD005
        log.debug("job failed: %s", exc)
        return


class Connection:
    async def close(self):
        self.stream.close()
        # Block until the serving loop is done, but ignore its exceptions:
        # the serving loop logs them itself.
        assert self._serving_future is not None
        try:
            await self._serving_future
        except Exception:
            pass

    async def drain(self):
        assert self._serving_future is not None
        try:
            await self._serving_future
        except Exception:  # expect: AUD002
            pass
