"""Delete call records older than CALL_HISTORY_DAYS in batches (run it from cron)."""

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from bus.gateway.call_purge import call_records_purge
from bus.management.purging import add_purge_arguments
from controlplane.config import get_config
from controlplane.management.base import DocumentedCommand


class Command(DocumentedCommand):
    help = (
        "Delete call records older than CALL_HISTORY_DAYS (default 7) in batches "
        "and print how many went."
    )
    example = "python manage.py purge_calls --max-seconds 600"
    exit_codes = {
        0: "done, also when nothing was old",
        1: "the purge failed: database error",
        2: "bad arguments",
    }

    def add_arguments(self, parser: CommandParser) -> None:
        add_purge_arguments(parser)

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
