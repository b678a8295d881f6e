import logging
import socket
from contextlib import suppress

logger = logging.getLogger(__name__)
WAKE = b"x"
MISSING_PAYLOAD = "<missing>"
UNREADABLE_RECORD = "<unreadable record>"


class RefusedError(Exception):
    pass


def local_pair():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    near = socket.socket()
    near.setblocking(False)
    try:
        near.connect(listener.getsockname())
    except BlockingIOError:
        pass
    far, _ = listener.accept()
    return near, far


class Loop:
    def wake(self):
        try:
            self.waker.send(WAKE)
        except BlockingIOError:
            pass

    def push(self, frame):
        try:
            self.peer.send(frame)
        except BlockingIOError:  # expect: AUD007
            pass

    def first_reachable(self, hosts):
        for host in hosts:
            try:
                return self.open(host)
            except Exception:
                pass
        raise ConnectionError("no host answered")

    def first_reachable_quietly(self, hosts):
        for host in hosts:
            try:
                return self.open(host)
            except Exception:  # expect: AUD002
                pass
        return None

    def keepalive(self):
        try:
            self.ping()
        except Exception:
            self.drop()
            self.on_lost(self.ERR_CONNECTION_LOST)

    def keepalive_quietly(self):
        try:
            self.ping()
        except Exception:  # expect: AUD003
            self.drop()
            self.on_lost(self.state)

    async def hang_up(self, nowait):
        try:
            self.writer.close()
            if not nowait:
                await self.writer.wait_closed()
        except OSError:
            pass

    def __del__(self):
        try:
            self.reset()
        except Exception:
            pass


class Record:
    def load(self, raw):
        try:
            self.body = self.codec.loads(raw)
        except Exception:
            self.body = UNREADABLE_RECORD

    def load_quietly(self, raw):
        try:
            self.body = self.codec.loads(raw)
        except Exception:  # expect: AUD003
            self.body = MISSING_PAYLOAD

    def dump(self):
        out = {}
        try:
            out["body"] = self.codec.dumps(self.body)
        except:  # noqa: E722
            out["body"] = "Unserializable value"
        return out


def announce(client, name):
    try:
        # An informational command: servers before 7.2 refuse it.
        client.call("CLIENT", "SETNAME", name)
    except RefusedError:
        pass
    try:
        client.register(name)
    except RefusedError:  # expect: AUD007
        pass


def finish(pipe, job):
    job.mark_failed(pipe)
    with suppress(ConnectionError):  # expect: AUD007
        pipe.execute()
    with suppress(KeyError):
        pipe.execute()
    # The pipeline is discarded on purpose when the store is unreachable: the
    # job is retried from its lease.
    with suppress(ConnectionError):
        pipe.execute()


def announce_both(client, names):
    try:
        # Informational: servers before 7.2 refuse it.
        client.call("CLIENT", "SETINFO", names[0])
    except RefusedError:
        pass
    try:
        client.call("CLIENT", "SETINFO", names[1])
    except RefusedError:
        pass
    try:
        client.reset(names)
    except RefusedError:  # expect: AUD007
        pass


def read_replies(client, sent):
    # Replies to informational commands: a refusal changes nothing.
    for _ in range(sent):
        try:
            client.read_reply()
        except RefusedError:
            pass
    for _ in range(sent):
        try:
            client.read_reply()
        except RefusedError:  # expect: AUD007
            pass


def options_from(url, options):
    if url.path and "db" not in options:
        try:
            options["db"] = int(url.path.lstrip("/"))
        except ValueError:  # expect: AUD007
            pass
    try:
        options["timeout"] = float(options.get("timeout"))
    except (TypeError, ValueError):
        pass
    if url.port:
        try:
            # A named port ("redis") is resolved by the connection itself.
            options["port"] = int(url.port)
        except ValueError:
            pass
    return options


def record_failure(pipe, job):
    try:
        job.record_failure(pipe)
        pipe.execute()
    except Exception:  # expect: AUD002
        # The failure handlers below must run even when the store is down.
        pass
    try:
        job.notify()
    except Exception:
        # Notification is optional: the job's state is already stored.
        pass
