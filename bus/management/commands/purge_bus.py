"""Delete expired message bus rows in batches (run it from cron)."""

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from bus.exceptions import PurgeLockedError
from bus.management.purging import add_purge_arguments
from bus.store.purge import PurgeReport, messages_purge_expired
from controlplane.management.base import EXIT_CODES, DocumentedCommand
from controlplane.units import format_bytes


class Command(DocumentedCommand):
    help = "Delete expired message bus rows in batches and print rows and bytes freed."
    example = "python manage.py purge_bus --max-seconds 600 --batch-size 5000"
    exit_codes = {
        **EXIT_CODES,
        1: "the purge failed: database error, or another purge is running",
    }

    def add_arguments(self, parser: CommandParser) -> None:
        add_purge_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        verbosity = options["verbosity"]

        def progress(batch: int, rows: int, freed: int) -> None:
            if verbosity >= 2:
                self.stdout.write(
                    f"batch {batch}: deleted {rows} rows, "
                    f"{format_bytes(freed)} compressed as stored"
                )

        try:
            report = messages_purge_expired(
                batch_size=options["batch_size"],
                max_seconds=options["max_seconds"],
                dry_run=options["dry_run"],
                on_batch=progress,
            )
        except PurgeLockedError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        except DatabaseError as exc:
            raise CommandError(f"purge failed: database error: {exc}") from exc
        if verbosity < 1:
            return
        if report.dry_run:
            self.stdout.write(
                f"would delete {report.rows} expired rows: {_sizes(report)}"
            )
            return
        tail = "" if report.complete else "; stopped at --max-seconds, more remain"
        self.stdout.write(
            f"deleted {report.rows} expired rows: {_sizes(report)}, "
            f"in {report.batches} batches, {report.seconds:.1f} s{tail}"
        )


def _sizes(report: PurgeReport) -> str:
    """Say which bytes are which: the table frees the compressed ones."""
    return (
        f"{format_bytes(report.bytes)} compressed as stored ({report.bytes} bytes), "
        f"{format_bytes(report.payload_bytes)} of results uncompressed"
    )
