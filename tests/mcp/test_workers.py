"""/mcp/ on `serve --workers 2` with Redis: one MCP session's requests reach both
workers, and are served and limited as one session's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus.gateway.state.redis_capacity import PREFIX
from bus.gateway.worker import worker_path
from tests.mcp.clients import mcp_session, metrics_lines
from tests.servers import REDIS_URL, needs_redis, redis_keys_cleared

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    needs_redis,
]

WORKERS = 2
# Requests on fresh connections until both workers have answered some: the
# kernel gives each connection to whichever worker accepts first.
MAX_BATCHES = 10
BATCH = 8


@pytest.fixture
def redis_url() -> str:
    with redis_keys_cleared(REDIS_URL, PREFIX):
        yield REDIS_URL


def _workers(files: list[Path], outcome: str) -> set[str]:
    return {
        line["worker"] for line in metrics_lines(files) if line["outcome"] == outcome
    }


async def _until_both_workers(session, files: list[Path], text: str, outcome: str):
    """Call echo on fresh connections until both workers answered with `outcome`.

    Calls go in concurrent batches: one at a time, a worker that accepts in a
    loop can take every connection.
    """
    results = []
    for batch in range(MAX_BATCHES):
        results += await asyncio.gather(
            *(
                session.call_tool("echo", {"text": f"{text} {batch}.{index}"})
                for index in range(BATCH)
            )
        )
        # Records reach the metrics files within a second of the answer.
        await asyncio.sleep(1.2)
        if len(_workers(files, outcome)) == WORKERS:
            break
    return results


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_mcp_workers__one_session_is_served_and_limited_on_every_worker(
    control_plane, agent, redis_url, kind
) -> None:
    server = control_plane(
        kind, workers=WORKERS, REDIS_URL=redis_url, WS_SESSION_MAX_INFLIGHT=str(BATCH)
    )
    files = [
        Path(worker_path(str(server.metrics), index=index, count=WORKERS))
        for index in range(1, WORKERS + 1)
    ]
    async with mcp_session(
        server.port, agent[1], new_connection_per_request=True
    ) as session:
        served = await _until_both_workers(session, files, "call", "ok")
        assert not any(result.is_error for result in served)
        assert len(_workers(files, "ok")) == WORKERS
        # The same MCP session on both workers.
        assert len({line["sess"] for line in metrics_lines(files)}) == 1

        # While the session's calls fill its limit (on either worker), its
        # other calls are refused on every worker: the limit is the
        # session's, not a worker's.
        running = [
            # Other arguments each: the same ones would be DUPLICATE, not run.
            asyncio.create_task(session.call_tool("sleep", {"seconds": 30 + index}))
            for index in range(BATCH)
        ]
        await asyncio.sleep(2)
        refused = await _until_both_workers(session, files, "extra", "OVER_CAPACITY")
        assert len(_workers(files, "OVER_CAPACITY")) == WORKERS
        assert all(result.is_error for result in refused)
        assert {result.content[0].text.split(":")[0] for result in refused} == {
            "OVER_CAPACITY"
        }
        for call in running:
            call.cancel()
        await asyncio.gather(*running, return_exceptions=True)
