import os

_trace_frames = os.environ.get("SPOOLER_TRACE_FRAMES", False)
_trace_level = os.environ.get("SPOOLER_TRACE_LEVEL", "verbose")  # expect: AUD101

DEFAULT_BROKER_PORT = 5672
ADMIN_PORT = 15672  # expect: AUD103


class Link:
    def open(self):
        return self._establish(max_retries=1)

    def open_patiently(self):
        return self._establish(max_retries=4)  # expect: AUD104

    def _establish(self, max_retries):
        return max_retries


def trace_wanted():
    return os.environ.get("SPOOLER_TRACE_CALLS", False)  # expect: AUD101
