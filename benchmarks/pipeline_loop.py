"""The call pipeline without a socket: N tasks calling `echo` through Gateway.call_tool.

    DATABASE_URL=postgres://… python benchmarks/pipeline_loop.py [--tasks 64]
        [--calls 150]
    python -m pyinstrument benchmarks/pipeline_loop.py   # where the time goes

Each task opens a session on an in-memory transport (as tests/bus/gateway/
test_pipeline.py's Recorder) and waits for each call's answer before the next;
every call has a distinct text, so the whole pipeline runs (schema, replay and
semantic caches, capacity, calls in flight, run, result, metrics, call record)
and nothing is answered from a cache. Prints calls/s and the process's CPU
microseconds per call, the figure to compare between trees. The database must
be migrated (the built-in tools come from the migrations). Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# As ws_throughput.py: the limits must not shape the measurement.
os.environ["WS_GLOBAL_MAX_INFLIGHT"] = "1000"
os.environ.setdefault(
    "WS_METRICS_PATH", str(Path(tempfile.gettempdir()) / "pipeline_loop.metrics.jsonl")
)

import django  # noqa: E402

django.setup()

from bus.apps import bus_app  # noqa: E402
from bus.gateway.events import Answer, CallEvent  # noqa: E402
from bus.gateway.factory import build_gateway  # noqa: E402
from bus.gateway.pipeline import Gateway  # noqa: E402
from bus.gateway.sessions import Agent  # noqa: E402
from bus.protocol import CallRequest  # noqa: E402

WARMUP_CALLS = 50


class Waiter:
    """An in-memory transport that resolves each call's future on its answer."""

    name = "memory"

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[dict]] = {}

    async def deliver(self, event: CallEvent) -> int:
        if isinstance(event, Answer):
            future = self.waiting.pop(event.request_id, None)
            if future is not None:
                future.set_result(event.body)
        return 1

    async def close(self, code: int) -> None:
        """Nothing to close: there is no socket."""


async def _task(gateway: Gateway, index: int, calls: int) -> None:
    transport = Waiter()
    session = gateway.open_session(
        agent=Agent(key=f"bench-{index}", id=None, name="bench"),
        transport=transport,
        token_hash=None,
    )
    loop = asyncio.get_running_loop()
    for call in range(calls):
        request_id = f"{index}-{call}"
        answered = transport.waiting[request_id] = loop.create_future()
        await gateway.call_tool(
            session,
            CallRequest(
                name="echo", request_id=request_id, arguments={"text": request_id}
            ),
            time.perf_counter(),
        )
        await answered


async def _run(tasks: int, calls: int) -> None:
    gateway = build_gateway(claims=bus_app().claims)
    await _task(gateway, -1, WARMUP_CALLS)
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(_task(gateway, index, calls) for index in range(tasks)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = tasks * calls
    print(
        f"{total} calls, {total / wall:.0f} calls/s, "
        f"{1e6 * cpu / total:.1f} us CPU per call"
    )
    await gateway.drain(0)


def main() -> None:
    """Parse the command line and run the loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--calls", type=int, default=150, help="per task")
    args = parser.parse_args()
    asyncio.run(_run(args.tasks, args.calls))


if __name__ == "__main__":
    main()
