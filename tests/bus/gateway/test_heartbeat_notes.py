"""A running tool's own progress goes out as heartbeats with a note, bounded."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from bus.gateway.events import Progress
from tests.bus.gateway.test_pipeline import Recorder, _call, _session

pytestmark = pytest.mark.django_db(transaction=True)


async def test_heartbeat__notes_go_out_at_most_one_per_interval(
    gateway, make_tool, ws_config
) -> None:
    ws_config(WS_PROGRESS_INTERVAL_SECS=60.0)
    await database_sync_to_async(make_tool)("chatty", "tests.bus.sample_tools.chatty")
    recorder = Recorder()
    await _call(gateway, _session(gateway, recorder), "chatty")
    notes = [e.note for e in recorder.events if isinstance(e, Progress)]
    # 100 notes within one interval: the first goes out, the rest are dropped.
    assert notes == ["step 0"]
    assert recorder.result("chatty")["text"] == "talked"


async def test_heartbeat__a_sync_tool_reports_from_its_thread(
    gateway, make_tool, ws_config
) -> None:
    ws_config(WS_PROGRESS_INTERVAL_SECS=60.0)
    await database_sync_to_async(make_tool)(
        "chatty", "tests.bus.sample_tools.chatty_thread"
    )
    recorder = Recorder()
    await _call(gateway, _session(gateway, recorder), "chatty")
    notes = [e.note for e in recorder.events if isinstance(e, Progress)]
    assert notes == ["from a thread"]
