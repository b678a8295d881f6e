import asyncio
import logging
import socket
import sys

logger = logging.getLogger(__name__)


class Controller:
    def __init__(self, loop):
        self.loop = loop

    def end(self):
        # TODO: should store and await on the task at some point.
        self.loop.create_task(self.finalize())  # expect: AUD008

    def end_commented(self):
        # Fire and forget: finalize() logs its own errors and sets `ended`.
        self.loop.create_task(self.finalize())

    async def finalize(self):
        await asyncio.sleep(0)


def fetch(url):
    try:
        return open(url).read()
    # FIXME: a failed read should be reported.
    except OSError:  # expect: AUD007
        pass


def clear_python2_exception_state():
    try:
        sys.exc_clear()
    except Exception:
        pass


def flush_standard_streams():
    try:
        sys.stdout.flush()
    except Exception:  # expect: AUD002
        pass


class Periodic:
    def _run(self):
        try:
            self.callback()
        except Exception:
            self.io_loop.handle_callback_exception(self.callback)

    def _run_quietly(self):
        try:
            self.callback()
        except Exception:  # expect: AUD003
            self.failures = 1

    def write(self, data):
        try:
            self.file.write(data)
        except Exception:  # expect: AUD003
            self.handle_exception()


class Dispatcher:
    def handle_error(self):
        try:
            raise
        except (socket.gaierror, OSError):
            pass
        except Exception:
            self.log_exception(self)
        self.handle_close()

    def handle_other(self):
        try:
            self.send_pending()
        except OSError:  # expect: AUD007
            pass


class Store:
    def remove_all_jobs(self):
        try:
            self.client.delete(self.path, recursive=True)
        except NoNodeError:
            pass

    def load_jobs(self):
        try:
            self.client.get_children(self.path)
        except NoNodeError:  # expect: AUD007
            pass


class Session:
    async def auth_plain(self, blob):
        try:
            return b64decode(blob, validate=True)
        except Exception:
            await self.push("501 5.5.2 Can't decode base64")
            return None

    async def auth_login(self, blob):
        try:
            return b64decode(blob, validate=True)
        except Exception:  # expect: AUD003
            await self.push("334 VXNlcm5hbWU6")
            return None
