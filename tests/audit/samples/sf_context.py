import logging
import os
from logging import DEBUG

logger = logging.getLogger(__name__)


class Loop:
    def drop_stray(self, poller, fd):
        # Best-effort release: an fd nobody owns is unregistered if it still is.
        logger.info("event on unknown fd %d", fd)
        try:
            poller.unregister_readable(fd)
        except:
            pass

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def save_report(stream, lines):
    for line in lines:
        stream.write(line)
    try:
        stream.close()
    except Exception:  # expect: AUD002
        pass


def agent_socket(connect, path):
    """Return a connection to the local agent, or None if none is running."""
    try:
        return connect(path)
    except Exception:
        return None


def first_row(cursor):
    try:
        return cursor.fetchone()
    except Exception:  # expect: AUD002
        return None


def terminal_colors(curses):
    colors = 8
    try:
        curses.setupterm()
        colors = curses.tigetnum("colors")
    except curses.error:
        pass
    return colors


def terminal_width(curses):
    try:
        width = curses.tigetnum("cols")
    except curses.error:  # expect: AUD007
        pass
    return width


def owner_ids():
    try:
        uid, gid = os.geteuid(), os.getegid()
    except Exception:
        uid = 0
        gid = 0
    return uid, gid


def stored_ids(store, path):
    try:
        uid = store.load_uid(path)
    except Exception:  # expect: AUD003
        uid = 0
    return uid


def too_many(paths, dump):
    if len(paths) > 1000:
        try:
            dump(paths)
        except Exception:
            pass
        raise ValueError("too many paths to invalidate at once")
    return paths


class Session:
    def _log(self, level, message):
        logger.log(level, "[session] %s", message)

    def serve(self, read_packet):
        while True:
            try:
                packet = read_packet()
            except Exception as exc:  # expect: AUD005
                self._log(DEBUG, "read failed: " + str(exc))
                return
            self.handle(packet)

    def handle(self, packet):
        try:
            packet.apply()
        except Exception as exc:  # expect: AUD005
            logger.debug("apply failed: " + str(exc))
