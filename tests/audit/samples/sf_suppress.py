import contextlib
from contextlib import suppress


def cleanup(path, os, cache, value):
    with contextlib.suppress(Exception):  # expect: AUD004
        cache.store(path, value)
    with suppress(BaseException):  # expect: AUD004
        os.replace(path, path + ".old")
    with suppress(FileNotFoundError):
        os.remove(path + ".lock")


class Channel:
    async def close(self, exc):
        with suppress(Exception):  # expect: AUD004
            await self._on_close(exc)
        with suppress(Exception):
            await self._cancel_tasks(exc)
        with suppress(Exception):
            self.sock.close()

    def flush_and_close(self, stream, data):
        stream.write(data)
        with suppress(Exception):  # expect: AUD004
            stream.close()
