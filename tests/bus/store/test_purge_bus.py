"""purge_bus: batches, dry run, lock, exit codes, unexpired rows untouched."""

import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from bus.models import BusEvent, Message
from bus.store.purge import PURGE_LOCK_KEY, messages_purge_expired

ROOT = Path(__file__).resolve().parents[3]


def make_messages(count: int, *, expired: bool, size: int = 100) -> list[Message]:
    now = timezone.now()
    offset = timedelta(hours=-1 if expired else 1)
    return Message.objects.bulk_create(
        Message(
            transaction_id=f"txn_{'e' if expired else 'l'}{index:031x}",
            tool_name="generate",
            payload=b"x" * size,
            payload_size_bytes=size * 4,
            compression_type="zstd",
            compressed_size_bytes=size,
            checksum="0" * 64,
            status=Message.Status.COMPLETE,
            expires_at=now + offset + timedelta(seconds=index),
        )
        for index in range(count)
    )


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_bus", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_purge_bus__deletes_expired_only_and_reports() -> None:
    make_messages(7, expired=True)
    live = make_messages(4, expired=False)

    output = purge()

    assert "deleted 7 expired rows: 700 B compressed as stored (700 bytes)" in output
    assert "2.7 KiB of results uncompressed" in output
    assert set(Message.objects.values_list("pk", flat=True)) == {m.pk for m in live}
    event = BusEvent.objects.get(kind=BusEvent.Kind.PURGED)
    assert event.detail["rows"] == 7 and event.detail["bytes"] == 700
    assert event.detail["payload_bytes"] == 2800
    assert event.detail["complete"] is True


@pytest.mark.django_db
def test_purge_bus__dry_run_deletes_nothing() -> None:
    make_messages(5, expired=True)
    make_messages(2, expired=False)

    output = purge("--dry-run")

    assert output.strip() == (
        "would delete 5 expired rows: 500 B compressed as stored (500 bytes), "
        "2 KiB of results uncompressed"
    )
    assert Message.objects.count() == 7
    assert not BusEvent.objects.exists()


@pytest.mark.django_db
def test_purge_bus__batches_with_progress_at_verbosity_2() -> None:
    make_messages(10, expired=True)
    output = purge("--batch-size", "3", "--verbosity", "2")
    lines = output.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        "batch 1",
        "batch 2",
        "batch 3",
        "batch 4",
    ]
    assert "deleted 1 rows" in lines[3]
    assert "in 4 batches" in lines[-1]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_purge_bus__nothing_to_do_is_success_and_unrecorded() -> None:
    make_messages(3, expired=False)
    assert "deleted 0 expired rows" in purge()
    assert purge("--verbosity", "0") == ""
    assert Message.objects.count() == 3
    assert not BusEvent.objects.exists()


@pytest.mark.django_db
def test_messages_purge_expired__stops_at_the_time_limit() -> None:
    make_messages(10, expired=True)
    ticks = iter(range(100))
    report = messages_purge_expired(
        batch_size=4, max_seconds=2, clock=lambda: next(ticks)
    )
    assert (report.rows, report.batches, report.complete) == (4, 1, False)
    assert Message.objects.count() == 6


def other_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    keep = {
        k: v for k, v in params.items() if k in ("host", "port", "user", "password")
    }
    return psycopg.connect(dbname=params["dbname"], autocommit=True, **keep)


@pytest.mark.django_db(transaction=True)
def test_purge_bus__refuses_to_run_twice_at_once() -> None:
    make_messages(2, expired=True)
    with other_connection() as held:
        held.execute("SELECT pg_advisory_lock(%s)", [PURGE_LOCK_KEY])
        with pytest.raises(CommandError) as caught:
            purge()
        # Unlocked here, not by closing: a closed session's locks go only when
        # its backend process has exited, which the next purge could outrun.
        held.execute("SELECT pg_advisory_unlock(%s)", [PURGE_LOCK_KEY])
    assert caught.value.returncode == 1
    assert "another purge_bus is running" in str(caught.value)
    assert Message.objects.count() == 2
    purge()
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_purge_bus__skips_rows_locked_by_a_reader() -> None:
    """A row a fetch holds FOR UPDATE is left for the next run, never waited on."""
    rows = make_messages(3, expired=True)
    with other_connection() as reader, reader.transaction():
        reader.execute(
            "SELECT id FROM message_bus WHERE id = %s FOR UPDATE", [rows[0].pk]
        )
        assert "deleted 2 expired rows" in purge()
    assert list(Message.objects.values_list("pk", flat=True)) == [rows[0].pk]


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "manage.py", "purge_bus", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--max-seconds", "-1"]])
def test_purge_bus__bad_arguments_exit_2(args: list[str]) -> None:
    result = run_cli(*args, database_url="postgres://postgres@127.0.0.1:1/none")
    assert result.returncode == 2, result.stderr
    assert "invalid" in result.stderr


def test_purge_bus__unreachable_database_exits_1() -> None:
    result = run_cli(database_url="postgres://postgres@127.0.0.1:1/none")
    assert result.returncode == 1, result.stderr
    assert "purge failed" in result.stderr


@pytest.mark.django_db
def test_purge_bus__batches_survive_ties_on_expires_at() -> None:
    """Each batch resumes at the last expires_at seen, so ties are not skipped."""
    rows = make_messages(10, expired=True)
    Message.objects.filter(pk__in=[m.pk for m in rows]).update(
        expires_at=timezone.now() - timedelta(hours=2)
    )
    assert "deleted 10 expired rows" in purge("--batch-size", "3")
    assert not Message.objects.exists()
