"""Delete call records older than CALL_HISTORY_DAYS in batches (run it from cron)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from bus.gateway.call_purge import call_records_purge
from bus.management.commands.purge_bus import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    _positive_float,
    _positive_int,
)
from controlplane.config import get_config


class Command(BaseCommand):
    help = (
        "Delete call records older than CALL_HISTORY_DAYS (default 7) in batches "
        "and print how many went. Exit codes: 0 done (also when nothing was old), "
        "1 database error, 2 bad arguments. Example: "
        "manage.py purge_calls --max-seconds 600"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would be deleted without deleting anything.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive_int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows deleted per transaction, 1 to {MAX_BATCH_SIZE} "
            f"(default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--max-seconds",
            type=_positive_float,
            default=None,
            help="Stop starting new batches after this many seconds (default: none).",
        )

    def handle(self, *args: object, **options: object) -> None:
        verbosity = options["verbosity"]
        days = get_config().CALL_HISTORY_DAYS

        def progress(batch: int, rows: int) -> None:
            if verbosity >= 2:
                self.stdout.write(f"batch {batch}: deleted {rows} call records")

        try:
            report = call_records_purge(
                days=days,
                batch_size=options["batch_size"],
                max_seconds=options["max_seconds"],
                dry_run=options["dry_run"],
                on_batch=progress,
            )
        except DatabaseError as exc:
            raise CommandError(f"purge failed: database error: {exc}") from exc
        if verbosity < 1:
            return
        if report.dry_run:
            self.stdout.write(
                f"would delete {report.rows} call records older than {days} days"
            )
            return
        tail = "" if report.complete else "; stopped at --max-seconds, more remain"
        self.stdout.write(
            f"deleted {report.rows} call records older than {days} days "
            f"in {report.batches} batches, {report.seconds:.1f} s{tail}"
        )
