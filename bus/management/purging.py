"""The options every batched purge command takes (purge_bus, purge_calls)."""

from django.core.management.base import CommandParser

DEFAULT_BATCH_SIZE = 5000
MAX_BATCH_SIZE = 100_000


def _positive_int(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(raw)
    return value


def add_purge_arguments(parser: CommandParser) -> None:
    """Declare --dry-run, --batch-size and --max-seconds."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="Report what would be deleted without deleting anything.",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"Rows deleted per transaction, 1 to {MAX_BATCH_SIZE}.",
    )
    parser.add_argument(
        "--max-seconds",
        type=_positive_float,
        default=None,
        help="Stop starting new batches after this many seconds (default: none).",
    )
