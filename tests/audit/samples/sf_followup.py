import logging
import sys
import traceback
import os

logger = logging.getLogger(__name__)


class ExitNow(Exception):
    pass


def find_program(path):
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is None:
        raise FileNotFoundError(path)
    return st


def size_or_zero(path):
    try:
        size = os.stat(path).st_size
    # expect-next: AUD007
    except OSError:
        size = None
    return size


def serve(loop):
    try:
        loop.run()
    except ExitNow:
        pass


def handle(request, respond):
    try:
        respond(request.run())
    except Exception:
        logger.exception("request failed")
        try:
            request.send_error(500)
        except Exception:
            pass


def dispatch(channel):
    try:
        channel.handle_read()
    except:
        channel.handle_error()


class Process:
    def spawn(self):
        try:
            pid = os.fork()
        except OSError as exc:
            self.record_spawn_failure(exc.args[0])
            return None
        return pid

    def record_spawn_failure(self, code):
        self.failure = code

    def transition(self):
        self.spawn()


def exec_child(options, tools):
    try:
        options.execve()
    except:
        info = tools.compact_traceback()
        options.write(2, f"could not exec: {info}")


def run_hook(hook, stream):
    try:
        hook()
    except:
        stream.write("".join(traceback.format_tb(sys.exc_info()[2])))


def forget(poller, fd):
    try:
        poller.unregister_readable(fd)
    except:
        pass


def start_stress(command, popen):
    try:
        popen(command)
    # expect-next: AUD007
    except OSError:
        logger.debug("unable to start %s", command)


def sample(read_sensors, last):
    try:
        return read_sensors()
    except OSError:
        logger.debug("sensors failed, keeping the last reading")
        return last
