"""Calls in flight in Redis, shared by every server process of a deployment.

Each call is two keys holding its entry (JSON): one by agent and request id,
and, for idempotent tools, one by semantic key. One Lua script checks both and
sets both, so of several processes registering the same request at once
exactly one wins and the others get the holder. Entries are leases like the
capacity slots: they expire after `lease_secs` unless the worker that runs
the call renews them (one task per process, three times per lease), so the
calls of a worker that died disappear within that bound. An end deletes only
its own entry (compared by value), never a newer registration of the request.

Workers reach each other on their pub/sub channels (``redis_channel``): a
cancel or a join (a session on another worker resent the request id) goes to
the worker that runs the call, which sends the call's heartbeats and answer to
the workers that joined it. Pub/sub loses what is sent while a worker
resubscribes, so what must arrive is also left in Redis for the lease: a
cancel, which the runner finds when it renews its entries, and the answer of
a joined call, which a joined worker reads once the entry is gone
(``bus.gateway.joins``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import asdict, fields, replace
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bus.gateway.events import Answer, CallEvent, Progress
from bus.gateway.state.inflight import InFlightCall, InFlightListener
from bus.gateway.state.redis_batch import ScriptCall
from bus.gateway.state.redis_capacity import LUA_PRELUDE
from bus.gateway.state.redis_channel import WorkerChannel
from bus.gateway.worker import worker_id
from bus.protocol import digest

logger = logging.getLogger(__name__)

PREFIX = "ws:{inflight}"

# KEYS: the request key, the index of entries, the semantic key (optional).
# ARGV: the entry, its lease (s), its id. Returns the holder's entry, or nil.
BEGIN_SCRIPT = (
    LUA_PRELUDE
    + """
local held = redis.call('GET', KEYS[1])
if not held and KEYS[3] then held = redis.call('GET', KEYS[3]) end
if held then return held end
local lease = tonumber(ARGV[2])
local ms = math.ceil(lease * 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1], 'PX', ms) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + lease, ARGV[3])
keep(KEYS[2], lease)
return false
"""
)

# KEYS: the request key, the index, the answer key, the semantic key
# (optional). ARGV: the entry, its id, its lease, the answer ('' for none).
# Keeps the answer for the lease, then deletes the keys that still hold this
# very entry.
END_SCRIPT = """
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4], 'PX', math.ceil(tonumber(ARGV[3]) * 1000))
end
for i, key in ipairs(KEYS) do
  if (i == 1 or i == 4) and redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
  end
end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: the index, then per entry its request key, semantic key (the request
# key again when it has none) and cancel key. ARGV: per entry its value,
# lease, id. Returns the ids of entries that were already gone, and the ids
# and reasons of entries asked to cancel (id, reason, id, reason, ...).
REFRESH_SCRIPT = (
    LUA_PRELUDE
    + """
local lost, cancelled = {}, {}
for n = 0, #ARGV / 3 - 1 do
  local entry, lease, id = ARGV[3 * n + 1], tonumber(ARGV[3 * n + 2]), ARGV[3 * n + 3]
  local request, semantic = KEYS[3 * n + 2], KEYS[3 * n + 3]
  if redis.call('GET', request) == entry then
    local ms = math.ceil(lease * 1000)
    redis.call('PEXPIRE', request, ms)
    if redis.call('GET', semantic) == entry then redis.call('PEXPIRE', semantic, ms) end
    redis.call('ZADD', KEYS[1], 'XX', now + lease, id)
    keep(KEYS[1], lease)
    local reason = redis.call('GET', KEYS[3 * n + 4])
    if reason then
      table.insert(cancelled, id)
      table.insert(cancelled, reason)
    end
  else
    table.insert(lost, id)
  end
end
return {lost, cancelled}
"""
)

COUNT_SCRIPT = (
    LUA_PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)


# Sorted, so an entry encodes to the same text on every worker.
ENTRY_FIELDS = tuple(sorted(field.name for field in fields(InFlightCall)))


class RedisCallsInFlight:
    """Calls in flight in Redis; cancels, joins and events over pub/sub."""

    def __init__(
        self, client: Redis, *, worker: str | None = None, prefix: str = PREFIX
    ) -> None:
        self.client = client
        self.worker = worker if worker is not None else worker_id()
        self.prefix = prefix
        self.begin_script = self._begin = client.register_script(BEGIN_SCRIPT)
        self._end = client.register_script(END_SCRIPT)
        self._refresh = client.register_script(REFRESH_SCRIPT)
        self._count = client.register_script(COUNT_SCRIPT)
        # The entries this worker registered, by entry id, with their stored
        # value: what the refresher renews and what an end compares against.
        self._held: dict[str, tuple[InFlightCall, str]] = {}
        # Registrations whose reply was lost (a timeout): they may be in Redis
        # with nobody renewing them; removed before this worker's next lookup.
        self._doubtful: list[tuple[InFlightCall, str]] = []
        self._refresher: asyncio.Task[None] | None = None
        self._listeners: list[InFlightListener] = []
        self.channel = WorkerChannel(
            client, worker=self.worker, prefix=prefix, handler=self._handle
        )

    async def begin(self, call: InFlightCall) -> InFlightCall | None:
        """Register a call, or return the one holding its request id or semantic key."""
        entry, value, keys, args = await self.prepare_begin(call)
        try:
            holder = await self._begin(keys=keys, args=args)
        except RedisError:
            self.begin_failed(entry, value)
            raise
        return self.begun(entry, value, holder)

    async def prepare_begin(
        self, call: InFlightCall
    ) -> tuple[InFlightCall, str, list[str], list[str | float]]:
        """Return the entry, its value and what `begin` runs (BEGIN_SCRIPT's keys
        and arguments), to batch with other steps; then `begun` or `begin_failed`.
        """
        await self._settle_doubtful()
        # Listening before the entry is visible: a cancel sent right after
        # registration must find this worker subscribed.
        await self.channel.listen()
        entry = (
            call if call.worker == self.worker else replace(call, worker=self.worker)
        )
        value = _encode_entry(entry)
        return (
            entry,
            value,
            self._keys(entry),
            [value, entry.lease_secs, entry.entry_id],
        )

    def begun(
        self, entry: InFlightCall, value: str, holder: bytes | None
    ) -> InFlightCall | None:
        """Take BEGIN_SCRIPT's reply: the holder, or None with the entry held here."""
        found = None if holder is None else _decode_entry(holder)
        # A command retried after a lost reply finds its own entry: registered.
        if found is not None and found.entry_id != entry.entry_id:
            return found
        self._held[entry.entry_id] = (entry, value)
        self._ensure_refresher()
        return None

    def begin_failed(self, entry: InFlightCall, value: str) -> None:
        """Remember a registration whose reply was lost, to remove it later."""
        self._doubtful.append((entry, value))

    async def end(self, call: InFlightCall, answer: Answer | None = None) -> None:
        """Forget a call that has its answer (a second end changes nothing).

        The answer stays for the call's lease, for joined workers whose
        relayed copy was lost.
        """
        step = self.end_call(call, answer)
        if step is not None:
            await step.run()

    def end_call(
        self, call: InFlightCall, answer: Answer | None = None
    ) -> ScriptCall | None:
        """Return what `end` runs, to batch with other steps; None when not held.

        The entry counts as ended from here on, whether or not the step runs.
        """
        held = self._held.pop(call.entry_id, None)
        if held is None:
            return None
        entry, value = held
        kept = "" if answer is None else json.dumps(_encode_event(answer))
        return ScriptCall(
            self._end,
            self._end_keys(entry),
            [value, entry.entry_id, entry.lease_secs, kept],
            partial(_end_failed, entry),
        )

    async def find(self, agent_key: str, request_id: str) -> InFlightCall | None:
        """Return the agent's call in flight under a request id, if any."""
        await self._settle_doubtful()
        value = await self.client.get(self._request_key(agent_key, request_id))
        return None if value is None else _decode_entry(value)

    async def answer_of(self, held: InFlightCall) -> Answer | None:
        """Return the answer a call ended with, for the lease after its end."""
        raw = await self.client.get(self._answer_key(held.entry_id))
        if raw is None:
            return None
        answer = _decode_event(json.loads(raw))
        return answer if isinstance(answer, Answer) else None

    async def cancel(self, agent_key: str, request_id: str, reason: str) -> bool:
        """Ask the worker running the call to cancel it; False when none runs.

        The request is also left in Redis for the call's lease, so that a
        runner that missed the message (resubscribing after an outage) finds
        it when it renews its entries.
        """
        held = await self.find(agent_key, request_id)
        if held is None:
            return False
        await self.client.set(
            self._cancel_key(held.entry_id),
            reason,
            px=math.ceil(held.lease_secs * 1000),
        )
        message = {"op": "cancel", "agent": agent_key, "rid": request_id}
        await self.channel.publish(held.worker, {**message, "reason": reason})
        return True

    async def join(self, held: InFlightCall) -> None:
        """Ask the worker running `held` to relay its events to this worker."""
        await self.channel.listen()
        message = {"op": "join", "agent": held.agent_key, "rid": held.request_id}
        await self.channel.publish(held.worker, {**message, "worker": self.worker})

    async def relay(self, worker: str, agent_key: str, event: CallEvent) -> None:
        """Send an event of a call this worker runs to a worker that joined it."""
        message = {"op": "event", "agent": agent_key, "event": _encode_event(event)}
        await self.channel.publish(worker, message)

    async def count(self) -> int:
        """Return how many calls are in flight on every worker."""
        return int(await self._count(keys=[self._index()]))

    def listen(self, listener: InFlightListener) -> None:
        """Have cancels, joins and events for this worker delivered to a listener."""
        self._listeners.append(listener)

    async def refresh(self) -> list[str]:
        """Renew this worker's entries, act on cancels left for them; return
        the ids of those already gone."""
        held = list(self._held.values())
        if not held:
            return []
        keys = [self._index()]
        args: list[str | float] = []
        for entry, value in held:
            request = self._request_key(entry.agent_key, entry.request_id)
            keys += [request, self._semantic_key(entry) or request]
            keys.append(self._cancel_key(entry.entry_id))
            args += [value, entry.lease_secs, entry.entry_id]
        gone, cancelled = await self._refresh(keys=keys, args=args)
        for raw_id, reason in zip(cancelled[::2], cancelled[1::2], strict=True):
            asked = self._held.get(raw_id.decode())
            if asked is not None:
                for listener in self._listeners:
                    listener.cancel_here(
                        asked[0].agent_key, asked[0].request_id, reason.decode()
                    )
        lost = [raw.decode() for raw in gone]
        for entry_id in lost:
            gone = self._held.pop(entry_id, None)
            if gone is not None:
                # Another worker may run this request by now: this one's
                # answer still goes to its own sessions and the cache.
                logger.warning("In-flight entry of %s ran out", gone[0].request_id)
        return lost

    async def aclose(self) -> None:
        """Stop listening and renewing (the entries then expire); for shutdown."""
        if self._refresher is not None:
            self._refresher.cancel()
        await self.channel.aclose()

    async def _handle(self, message: dict[str, Any]) -> None:
        for listener in self._listeners:
            await _deliver(listener, message)

    # Leases

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_while_held())

    async def _refresh_while_held(self) -> None:
        """Renew this worker's entries until it holds none; the task's boundary."""
        while self._held:
            await asyncio.sleep(
                min(entry.lease_secs for entry, _ in self._held.values()) / 3
            )
            try:
                await self.refresh()
            except RedisError:
                # The next round tries again; an entry outlives two failed ones.
                logger.warning("Renewing in-flight entries failed", exc_info=True)

    async def _settle_doubtful(self) -> None:
        while self._doubtful:
            entry, value = self._doubtful[0]
            await self._end(
                keys=self._end_keys(entry),
                args=[value, entry.entry_id, entry.lease_secs, ""],
            )
            self._doubtful.pop(0)

    # Keys

    def _keys(self, entry: InFlightCall) -> list[str]:
        keys = [self._request_key(entry.agent_key, entry.request_id), self._index()]
        semantic = self._semantic_key(entry)
        return keys if semantic is None else [*keys, semantic]

    def _semantic_key(self, entry: InFlightCall) -> str | None:
        if entry.semantic is None:
            return None
        return f"{self.prefix}:s:{digest(entry.semantic)}"

    def _request_key(self, agent_key: str, request_id: str) -> str:
        return f"{self.prefix}:r:{agent_key}:{digest(request_id)}"

    def _end_keys(self, entry: InFlightCall) -> list[str]:
        request, index, *semantic = self._keys(entry)
        return [request, index, self._answer_key(entry.entry_id), *semantic]

    def _answer_key(self, entry_id: str) -> str:
        return f"{self.prefix}:answer:{entry_id}"

    def _cancel_key(self, entry_id: str) -> str:
        return f"{self.prefix}:cancel:{entry_id}"

    def _index(self) -> str:
        return f"{self.prefix}:calls"


def _end_failed(entry: InFlightCall, error: RedisError) -> None:
    # The answer must still go out; no longer renewed, the entry disappears
    # when its lease runs out.
    logger.warning(
        "Ending call %s in Redis failed; its entry expires instead",
        entry.request_id,
        exc_info=error,
    )


async def _deliver(listener: InFlightListener, message: dict[str, Any]) -> None:
    op, agent, rid = message["op"], message["agent"], message.get("rid", "")
    if op == "cancel":
        listener.cancel_here(agent, rid, message["reason"])
    elif op == "join":
        listener.join_here(agent, rid, message["worker"])
    elif op == "event":
        await listener.relayed(agent, _decode_event(message["event"]))
    else:
        raise ValueError(f"unknown in-flight message op {op!r}")


def _encode_entry(entry: InFlightCall) -> str:
    # Its fields by name rather than `asdict`, which deep-copies them: this
    # runs once per call, and the fields are plain values.
    return json.dumps({name: getattr(entry, name) for name in ENTRY_FIELDS})


def _decode_entry(raw: bytes) -> InFlightCall:
    # Fields this version does not know (a newer worker's) are left out, so
    # workers of two versions can run side by side during an upgrade.
    stored = json.loads(raw)
    return InFlightCall(
        **{name: stored[name] for name in ENTRY_FIELDS if name in stored}
    )


def _encode_event(event: CallEvent) -> dict[str, Any]:
    return {"kind": type(event).__name__, **asdict(event)}


def _decode_event(fields: dict[str, Any]) -> CallEvent:
    kind = fields.pop("kind")
    if kind == "Progress":
        return Progress(**fields)
    if kind == "Answer":
        return Answer(**fields)
    raise ValueError(f"unknown relayed event {kind!r}")
