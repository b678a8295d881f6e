import asyncio
import logging

log = logging.getLogger(__name__)


class TaskStore:
    def __init__(self, loop):
        self.loop = loop
        self.tasks = set()

    def create_task(self, coro):
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class Channel(TaskStore):
    def start(self, consumer, message):
        # The object's own task method keeps the task: judged where it is defined.
        self.create_task(self._reader())
        self.create_task(consumer(message))

    def on_reader_end(self):
        # A release run in the background is best-effort cleanup.
        self.loop.create_task(self._close())

        async def close_writer_task():
            await self._close()

        self.loop.create_task(close_writer_task())
        self.loop.create_task(self._resume())  # expect: AUD008

    def on_gap(self):
        # Re-create the consumer in the background so that the message
        # handler is not blocked by the request.
        asyncio.create_task(self._recreate())

    async def stop(self, reader, writer):
        reader.cancel()
        writer.cancel()
        await asyncio.gather(reader, writer, return_exceptions=True)
        await asyncio.gather(reader, self.other, return_exceptions=True)  # expect: AUD011

    async def reject_all(self, futures, exc):
        tasks = []
        for future in futures:
            future.throw(exc)
            tasks.append(future)
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*self.pending, return_exceptions=True)  # expect: AUD011


class Passthrough:
    def create_task(self, coro):
        return self.loop.create_task(coro)

    def start(self):
        self.create_task(self._reader())  # expect: AUD008


async def ack_after(callback, msg, errors):
    await callback(msg)
    try:
        await msg.ack()
    except errors.MsgAlreadyAckdError:
        pass
    try:
        await msg.nak()
    except errors.MsgFailedError:  # expect: AUD007
        pass


async def ensure_consumer(jsm, stream, durable, NotFoundError):
    should_create = True
    try:
        await jsm.consumer_info(stream, durable)
        should_create = False
    except NotFoundError:
        pass
    return should_create


def report_ssl_error(sock, err):
    try:
        peer = sock.getpeername()
    except Exception:
        peer = "(not connected)"
    log.warning("SSL error on %s %s: %s", sock.fileno(), peer, err)


def handle_error(self, t, v):
    try:
        self_repr = repr(self)
    except:  # noqa: E722
        self_repr = "<__repr__(self) failed for object at %0x>" % id(self)
    self.log_info("uncaptured python exception (%s: %s %s)" % (self_repr, t, v))


def describe(sock):
    try:
        peer = sock.getpeername()
    except Exception:  # expect: AUD003
        peer = "(not connected)"
    log.warning("connection from %s", peer)
    return peer


def ensure_watcher(loop):
    loop.create_task(_shutdown_watcher())  # expect: AUD008


async def _shutdown_watcher():
    return None

