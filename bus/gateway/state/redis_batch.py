"""Several Lua scripts of the seams as one Redis command.

Each command costs a worker far more CPU in redis-py (connection checkout,
the retry wrapper, the socket timeout's timers, packing, parsing, a wake-up
for the reply) than it costs Redis: about 75 us on the development machine,
where one ``EVALSHA`` carrying three scripts' keys and arguments costs about
as much as one of them, and three ``EVALSHA`` in a pipeline 55 us each. So
steps of a call that do not decide one another run as one script made of
theirs: each seam's script becomes a function of its own ``KEYS`` and
``ARGV``, and the combined script calls them in the order given, so an
ordering the seams rely on (an answer cached before its call stops being in
flight) holds, and Redis runs the whole atomically. The keys of the steps
carry different hash tags: this needs a Redis that is not a cluster, as the
gateway's client is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from bus.gateway.state.redis_autopipeline import AutoPipeline

# Shared by the combined scripts: `steps` holds the scripts as functions;
# ARGV starts with each step's count of keys and of arguments, then come the
# steps' arguments, and KEYS holds the steps' keys, each step's in a row.
# `inputs(i)` cuts them out for step i (steps take their inputs in order).
STEP_INPUTS = """
local k, a = 0, #steps * 2
local function inputs(i)
  local nk, na = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local keys, args = {}, {}
  for j = 1, nk do keys[j] = KEYS[k + j] end
  for j = 1, na do args[j] = ARGV[a + j] end
  k, a = k + nk, a + na
  return keys, args
end
"""

# Every step, in order; their replies are not used.
RUN_STEPS = """
for i, step in ipairs(steps) do step(inputs(i)) end
return #steps
"""


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One script with its keys and arguments, and what its failure leaves behind.

    `failed` logs the failure: the steps batched here (storing an answer,
    ending an entry, releasing a slot) each have a fallback (the entry or
    lease expires, a resend runs the call again) and must not stop the
    answer from going out. Their replies are not used.
    """

    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]
    failed: Callable[[RedisError], None]

    async def run(self) -> None:
        """Run the script alone (loading it if Redis lost it); log a failure."""
        try:
            await self.script(keys=self.keys, args=self.args)
        except RedisError as error:
            self.failed(error)


def combined_source(scripts: Sequence[str], runner: str = RUN_STEPS) -> str:
    """Return one script that has the given ones run by `runner`, each on its
    own keys and arguments (every one in order, by default)."""
    functions = "".join(
        f"steps[{n}] = function(KEYS, ARGV)\n{source}\nend\n"
        for n, source in enumerate(scripts, start=1)
    )
    return "local steps = {}\n" + functions + STEP_INPUTS + runner


Step = tuple[str, Sequence[str], Sequence[Any]]


class ScriptBatches:
    """Run several scripts as one command, on one client."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.pipeline = AutoPipeline(client)
        # One combined script per sequence of steps (a handful: the ways a
        # call can end or be admitted); registered once, loaded by Redis on
        # first use.
        self._combined: dict[tuple[str, ...], AsyncScript] = {}

    async def run(self, calls: Sequence[ScriptCall]) -> None:
        """Run the scripts in order in one command; a failure goes to each `failed`."""
        try:
            if len(calls) == 1:
                await self.pipeline.evaluate(
                    calls[0].script, calls[0].keys, calls[0].args
                )
                return
            steps = [
                (_text(call.script.script), call.keys, call.args) for call in calls
            ]
            await self.evaluate(steps)
        except RedisError as error:
            for call in calls:
                call.failed(error)

    async def evaluate(self, steps: Sequence[Step], runner: str = RUN_STEPS) -> Any:
        """Run steps (source, keys, arguments) as one script; return its reply."""
        sources = tuple(source for source, _, _ in steps)
        script = self._combined.get((*sources, runner))
        if script is None:
            script = self._combined[(*sources, runner)] = self.client.register_script(
                combined_source(sources, runner)
            )
        counts = [n for _, keys, args in steps for n in (len(keys), len(args))]
        return await self.pipeline.evaluate(
            script,
            [key for _, keys, _ in steps for key in keys],
            [*counts, *(arg for _, _, args in steps for arg in args)],
        )


def _text(source: str | bytes) -> str:
    return source if isinstance(source, str) else source.decode()
