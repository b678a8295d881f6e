"""purge_calls deletes the call records past CALL_HISTORY_DAYS, and only those."""

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from bus.models import CallRecord

pytestmark = pytest.mark.django_db


def _record(age: timedelta, request_id: str) -> CallRecord:
    return CallRecord.objects.create(
        created_at=timezone.now() - age,
        agent_name="agent-one",
        transport=CallRecord.Transport.WEBSOCKET,
        tool_name="echo",
        request_id=request_id,
        outcome="ok",
        latency_ms=1.0,
        result_bytes=10,
    )


def _purge(*arguments: str) -> str:
    out = StringIO()
    call_command("purge_calls", *arguments, stdout=out)
    return out.getvalue()


@pytest.fixture
def history() -> None:
    """Five records past the default 7 days, three within them."""
    for n in range(5):
        _record(timedelta(days=8, minutes=n), f"old-{n}")
    for n in range(3):
        _record(timedelta(days=6, hours=23), f"new-{n}")


def test_purge_calls__deletes_only_records_past_the_retention(history) -> None:
    output = _purge("--batch-size", "2", "-v", "2")
    assert sorted(CallRecord.objects.values_list("request_id", flat=True)) == [
        "new-0",
        "new-1",
        "new-2",
    ]
    assert "batch 3: deleted 1 call records" in output
    assert "deleted 5 call records older than 7 days in 3 batches" in output
    assert "deleted 0 call records" in _purge()  # safe to run twice


def test_purge_calls__dry_run_deletes_nothing(history) -> None:
    assert _purge("--dry-run") == "would delete 5 call records older than 7 days\n"
    assert CallRecord.objects.count() == 8


def test_purge_calls__follows_call_history_days(history, set_config) -> None:
    set_config(CALL_HISTORY_DAYS=30)
    assert "deleted 0 call records older than 30 days" in _purge()
    assert CallRecord.objects.count() == 8


def test_purge_calls__bad_batch_size_is_exit_code_2(subprocess_env) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "purge_calls", "--batch-size", "0"],
        cwd=settings.BASE_DIR,
        env=subprocess_env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--batch-size" in done.stderr
