import contextlib
from contextlib import suppress


def cleanup(path, os):
    with contextlib.suppress(Exception):  # expect: AUD004
        os.remove(path)
    with suppress(BaseException):  # expect: AUD004
        os.rmdir(path)
    with suppress(FileNotFoundError):
        os.remove(path + ".lock")
