"""Capacity limits in Redis, shared by every server process of a deployment.

Each scope (the global one, each provider, each session) is a sorted set of
the slots held in it: member = slot id, score = lease deadline. A slot is a
lease, not a counter: its holder refreshes it while the call runs (one small
task per process, at least three times per lease) and removes it at the end;
the slots of a process that died stop counting when their leases run out.
One Lua script drops expired slots, checks the scopes in order and takes the
slot in all three atomically, so processes racing for the last slot never
pass a limit. Times are Redis's own clock, so the processes' clocks never
disagree about a deadline; a slot id starts with the server time it was taken
at, which the retry estimate needs. Every key carries the prefix's hash tag,
so the scripts' keys sit in one cluster slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bus.gateway.state.capacity import (
    CapacitySnapshot,
    Limits,
    Rejection,
    RejectionRecord,
    Slot,
    retry_after,
)
from bus.gateway.state.memory import RECENT_DURATIONS, RECENT_REJECTIONS
from bus.gateway.state.redis_batch import ScriptCall
from bus.protocol import Scope

logger = logging.getLogger(__name__)

PREFIX = "ws:{capacity}"
# A scope idle this long has its call durations and rejections forgotten: its
# history says little about the next call, and a dead process's sessions
# leave no keys behind.
HISTORY_TTL_SECS = 3600
SCOPES = (Scope.GLOBAL, Scope.PROVIDER, Scope.SESSION)

# Shared by the scripts: the server time in seconds, and a key's expiry that
# only ever grows (leases of different lengths share a scope).
LUA_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function keep(key, secs)
  local ms = math.ceil(secs * 1000)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""

# KEYS: global, provider, session scopes; their durations lists; the provider
# and session indexes; the rejections list. ARGV: slot id, lease, the three
# maxima (0 provider maximum: no limit), provider name, session id, history
# length, rejections kept, history TTL, agent and tool names (for the record).
ACQUIRE_SCRIPT = (
    LUA_PRELUDE
    + """
local lease = tonumber(ARGV[2])
local maxima = {tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])}
local names = {'', ARGV[6], ARGV[7]}
local scopes = {'global', 'provider', 'session'}
for i = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
for i = 1, 3 do
  local limited = i ~= 2 or maxima[2] > 0
  if limited and redis.call('ZCARD', KEYS[i]) >= maxima[i] then
    local oldest = nil
    for _, member in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
      local started = tonumber(string.match(member, '^([%d.]+):'))
      if oldest == nil or started < oldest then oldest = started end
    end
    redis.call('LPUSH', KEYS[9], cjson.encode(
      {at = now, scope = scopes[i], name = names[i], session_id = ARGV[7],
       agent = ARGV[11], tool = ARGV[12]}))
    redis.call('LTRIM', KEYS[9], 0, tonumber(ARGV[9]) - 1)
    keep(KEYS[9], tonumber(ARGV[10]))
    local durations = redis.call('LRANGE', KEYS[3 + i], 0, -1)
    return {i, tostring(now), tostring(oldest or now), durations}
  end
end
local member = string.format('%.6f', now) .. ':' .. ARGV[1]
local deadline = now + lease
for i = 1, 3 do
  redis.call('ZADD', KEYS[i], deadline, member)
  keep(KEYS[i], lease)
end
redis.call('ZADD', KEYS[7], 'GT', deadline, ARGV[6])
redis.call('ZADD', KEYS[8], 'GT', deadline, ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now)
keep(KEYS[7], lease)
keep(KEYS[8], lease)
return {0, member}
"""
)

# KEYS: global, provider, session scopes, their durations lists. ARGV: slot
# id, seconds the call took, history length, history TTL.
RELEASE_SCRIPT = """
for i = 1, 3 do redis.call('ZREM', KEYS[i], ARGV[1]) end
for i = 4, 6 do
  redis.call('LPUSH', KEYS[i], ARGV[2])
  redis.call('LTRIM', KEYS[i], 0, tonumber(ARGV[3]) - 1)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[4]))
end
return 1
"""

# KEYS: the provider and session indexes, then per slot its global,
# provider and session scopes. ARGV: per slot its id, lease, provider name,
# session id. Returns the ids of slots whose lease had already run out.
REFRESH_SCRIPT = (
    LUA_PRELUDE
    + """
local lost = {}
for n = 0, #ARGV / 4 - 1 do
  local member, lease = ARGV[4 * n + 1], tonumber(ARGV[4 * n + 2])
  local scope = 2 + 3 * n
  local score = redis.call('ZSCORE', KEYS[scope + 1], member)
  if score and tonumber(score) > now then
    local deadline = now + lease
    for i = 1, 3 do
      redis.call('ZADD', KEYS[scope + i], 'XX', deadline, member)
      keep(KEYS[scope + i], lease)
    end
    redis.call('ZADD', KEYS[1], 'GT', deadline, ARGV[4 * n + 3])
    redis.call('ZADD', KEYS[2], 'GT', deadline, ARGV[4 * n + 4])
    keep(KEYS[1], lease)
    keep(KEYS[2], lease)
  else
    table.insert(lost, member)
  end
end
return lost
"""
)

# KEYS: the global scope, the provider and session indexes, the rejections
# list. ARGV: the prefix. Returns the global count, the live providers and
# sessions with their counts (name, count, name, count, ...), the rejections.
SNAPSHOT_SCRIPT = (
    LUA_PRELUDE
    + """
local function live(index, kind)
  local found = {}
  for _, name in ipairs(redis.call('ZRANGEBYSCORE', index, '(' .. now, '+inf')) do
    local scope = ARGV[1] .. ':' .. kind .. ':' .. name
    local used = redis.call('ZCOUNT', scope, '(' .. now, '+inf')
    if used > 0 then
      table.insert(found, name)
      table.insert(found, used)
    end
  end
  return found
end
return {
  redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'),
  live(KEYS[2], 'provider'),
  live(KEYS[3], 'session'),
  redis.call('LRANGE', KEYS[4], 0, -1),
}
"""
)

COUNT_SCRIPT = (
    LUA_PRELUDE
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
)


class RedisCapacity:
    """Capacity leases in Redis, for every process of a deployment."""

    def __init__(self, client: Redis, *, prefix: str = PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self.acquire_script = self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._refresh = client.register_script(REFRESH_SCRIPT)
        self._snapshot = client.register_script(SNAPSHOT_SCRIPT)
        self._count = client.register_script(COUNT_SCRIPT)
        # The slots this process holds, by id: what the refresher renews.
        self._held: dict[str, Slot] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def global_inflight(self) -> int:
        """Return how many slots are taken on every process."""
        return int(await self._count(keys=[self._key(Scope.GLOBAL)]))

    async def forget_session(self, session_id: str) -> None:
        """Drop the duration history of a closed session (its slots stay counted)."""
        try:
            await self.client.delete(self._durations(Scope.SESSION, session_id))
        except RedisError:
            # A disconnect must finish while Redis is down; the history
            # expires after HISTORY_TTL_SECS by itself.
            logger.warning(
                "Cannot forget session %s in Redis; its history expires instead",
                session_id,
                exc_info=True,
            )

    async def acquire(self, limits: Limits) -> Slot | Rejection:
        """Take a slot in every scope, or return the first full scope."""
        keys, args = self.acquire_arguments(limits)
        return self.acquired(limits, await self._acquire(keys=keys, args=args))

    def acquire_arguments(self, limits: Limits) -> tuple[list[str], list[str | float]]:
        """Return ACQUIRE_SCRIPT's keys and arguments, to batch with other steps."""
        keys = [
            *self._scope_keys(limits.provider, limits.session_id),
            self._index(Scope.PROVIDER),
            self._index(Scope.SESSION),
            self._rejections(),
        ]
        args: list[str | float] = [
            uuid.uuid4().hex,
            limits.lease_secs,
            limits.global_max,
            limits.provider_max,
            limits.session_max,
            limits.provider,
            limits.session_id,
            RECENT_DURATIONS,
            RECENT_REJECTIONS,
            HISTORY_TTL_SECS,
            limits.agent,
            limits.tool,
        ]
        return keys, args

    def acquired(self, limits: Limits, outcome: list[Any]) -> Slot | Rejection:
        """Take ACQUIRE_SCRIPT's reply: a slot held here, or the rejection."""
        if outcome[0] == 0:
            slot = Slot(
                limits.provider,
                limits.session_id,
                limits.lease_secs,
                slot_id=outcome[1].decode(),
            )
            self._held[slot.slot_id] = slot
            self._ensure_refresher()
            return slot
        _, now, oldest, durations = outcome
        return Rejection(
            SCOPES[outcome[0] - 1],
            retry_after(
                oldest=float(oldest),
                durations=[float(d) for d in durations],
                now=float(now),
                floor=limits.retry_floor,
            ),
        )

    async def release(self, slot: Slot) -> None:
        """Return a slot (a second release of the same slot changes nothing)."""
        step = self.release_call(slot)
        if step is not None:
            await step.run()

    def release_call(self, slot: Slot) -> ScriptCall | None:
        """Return what `release` runs, to batch with other steps; None when not held.

        The slot counts as released here from now on, whether or not the step
        runs.
        """
        if self._held.pop(slot.slot_id, None) is None:
            return None
        return ScriptCall(
            self._release,
            self._scope_keys(slot.provider, slot.session_id),
            [
                slot.slot_id,
                time.monotonic() - slot.started_at,
                RECENT_DURATIONS,
                HISTORY_TTL_SECS,
            ],
            partial(_release_failed, slot),
        )

    async def refresh(self) -> list[str]:
        """Renew the leases of this process's slots; return the ids already lost."""
        slots = list(self._held.values())
        if not slots:
            return []
        keys = [self._index(Scope.PROVIDER), self._index(Scope.SESSION)]
        args: list[str | float] = []
        for slot in slots:
            keys += [
                self._key(Scope.GLOBAL),
                self._key(Scope.PROVIDER, slot.provider),
                self._key(Scope.SESSION, slot.session_id),
            ]
            args += [slot.slot_id, slot.lease_secs, slot.provider, slot.session_id]
        lost = [member.decode() for member in await self._refresh(keys=keys, args=args)]
        for slot_id in lost:
            # Another process may hold the capacity by now: the call runs on
            # uncounted rather than pass a limit by retaking it.
            if self._held.pop(slot_id, None) is not None:
                logger.warning("Capacity lease %s ran out while its call ran", slot_id)
        return lost

    async def snapshot(
        self,
        *,
        global_max: int,
        provider_limits: dict[str, int],
        session_max: int,
        session_ids: list[str],
    ) -> CapacitySnapshot:
        """Return the current usage of every scope, deployment-wide, for the admin."""
        used_global, providers, sessions, rejections = await self._snapshot(
            keys=[
                self._key(Scope.GLOBAL),
                self._index(Scope.PROVIDER),
                self._index(Scope.SESSION),
                self._rejections(),
            ],
            args=[self.prefix],
        )
        return CapacitySnapshot.of(
            used_global=int(used_global),
            providers=_pairs(providers),
            sessions=_pairs(sessions),
            rejections=[_rejection(raw) for raw in rejections],
            global_max=global_max,
            provider_limits=provider_limits,
            session_max=session_max,
            session_ids=session_ids,
        )

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_while_held())

    async def _refresh_while_held(self) -> None:
        """Renew this process's leases until it holds none; the task's boundary."""
        while self._held:
            await asyncio.sleep(min(s.lease_secs for s in self._held.values()) / 3)
            try:
                await self.refresh()
            except RedisError:
                # The next round tries again; a lease outlives two failed ones.
                logger.warning("Renewing capacity leases failed", exc_info=True)

    def _scope_keys(self, provider: str, session_id: str) -> list[str]:
        # The three scopes in the order they are checked, then their durations.
        names = ("", provider, session_id)
        pairs = list(zip(SCOPES, names, strict=True))
        return [
            *(self._key(scope, name) for scope, name in pairs),
            *(self._durations(scope, name) for scope, name in pairs),
        ]

    def _key(self, scope: str, name: str = "") -> str:
        if scope == Scope.GLOBAL:
            return f"{self.prefix}:global"
        return f"{self.prefix}:{scope}:{name}"

    def _durations(self, scope: str, name: str) -> str:
        return f"{self.prefix}:durations:{scope}:{name}"

    def _index(self, scope: str) -> str:
        return f"{self.prefix}:{scope}s"

    def _rejections(self) -> str:
        return f"{self.prefix}:rejections"


def _release_failed(slot: Slot, error: RedisError) -> None:
    # The call's answer must still go out; no longer refreshed, the lease
    # frees the slot within its length.
    logger.warning(
        "Releasing capacity slot %s failed; its lease runs out instead",
        slot.slot_id,
        exc_info=error,
    )


def _pairs(flat: list[bytes | int]) -> dict[str, int]:
    names = [bytes(name).decode() for name in flat[::2]]  # type: ignore[arg-type]
    return dict(zip(names, (int(used) for used in flat[1::2]), strict=True))


def _rejection(raw: bytes) -> RejectionRecord:
    fields = json.loads(raw)
    return RejectionRecord(
        at=float(fields["at"]),
        scope=fields["scope"],
        name=fields["name"],
        session_id=fields["session_id"],
        # Records written before they named agent and tool lack the two.
        agent=fields.get("agent", ""),
        tool=fields.get("tool", ""),
    )
