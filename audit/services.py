"""State changes of the audit app: run a scan, store it, triage findings."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.analysis import Family, ScanOptions, ScanResult, scan
from audit.analysis.runner import ProgressCallback
from audit.constants import PERSIST_BATCH_SIZE
from audit.exceptions import AuditPathError, TriageError
from audit.models import AuditRun, Finding, TriageDecision, TriageStatus

logger = logging.getLogger(__name__)
# Length of Finding.function and Finding.reason: longer texts are cut, not refused.
_TEXT_MAX = Finding._meta.get_field("reason").max_length

# A finding marked fixed that shows up again has regressed: it reopens.
_CARRIED_STATUSES = frozenset(
    {TriageStatus.ACKNOWLEDGED, TriageStatus.FALSE_POSITIVE, TriageStatus.OPEN}
)


def default_target(paths: Sequence[str | os.PathLike[str]]) -> str:
    """Return the target name of a scan: its resolved paths, sorted, joined."""
    return " ".join(sorted(str(os.path.abspath(path)) for path in paths))


def run_create(
    *,
    target: str,
    paths: Sequence[str],
    families: Iterable[Family],
    options: ScanOptions,
) -> AuditRun:
    """Create a running AuditRun that records what will be scanned and how."""
    return AuditRun.objects.create(
        target=target,
        root="",
        paths=[str(path) for path in paths],
        kinds=sorted(str(family) for family in families),
        options={
            "excludes": list(options.excludes),
            "config_modules": list(options.config_modules),
            "include_tests": options.include_tests,
        },
        started_at=timezone.now(),
    )


@transaction.atomic
def run_persist(*, run: AuditRun, result: ScanResult) -> AuditRun:
    """Store a scan's findings and file errors on run, applying earlier triage."""
    fingerprints = {finding.fingerprint for finding in result.findings}
    decisions = {
        decision.fingerprint: decision
        for decision in TriageDecision.objects.filter(
            target=run.target, fingerprint__in=fingerprints
        )
    }
    rows = []
    for record in result.findings:
        row = Finding(
            run=run,
            code=record.code,
            family=str(record.family),
            severity=str(record.severity),
            path=record.path,
            line=record.line,
            column=record.column,
            end_line=record.end_line,
            snippet=record.snippet,
            message=record.message,
            fix_hint=record.fix_hint,
            function=record.function[:_TEXT_MAX],
            reason=record.reason[:_TEXT_MAX],
            file_sha256=result.file_hashes.get(record.path, ""),
            fingerprint=record.fingerprint,
        )
        decision = decisions.get(record.fingerprint)
        if decision is not None and decision.status in _CARRIED_STATUSES:
            row.status = decision.status
            row.triage_note = decision.note
            row.triaged_by_id = decision.triaged_by_id
            row.triaged_at = decision.triaged_at
        rows.append(row)
    Finding.objects.bulk_create(rows, batch_size=PERSIST_BATCH_SIZE)
    run.root = result.root
    run.files_scanned = result.files_scanned
    run.files_failed = len(result.errors)
    run.error_files = [
        {**asdict(error), "kind": str(error.kind)} for error in result.errors
    ]
    run.status = AuditRun.Status.COMPLETED
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "audit run %s stored: %s findings, %s files, %s file errors",
        run.pk,
        len(rows),
        run.files_scanned,
        run.files_failed,
    )
    return run


def audit_run_execute(
    *,
    paths: Sequence[str],
    families: Iterable[Family],
    options: ScanOptions,
    target: str | None = None,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
    cache_dir: str | None = None,
) -> AuditRun:
    """Scan paths, store the run with its findings, and return it.

    Raises AuditPathError when a path does not exist. A scan that fails for any
    other reason leaves the run marked failed and re-raises.
    """
    missing = [str(path) for path in paths if not os.path.exists(path)]
    if missing:
        raise AuditPathError(f"No such file or directory: {', '.join(missing)}")
    enabled = frozenset(families)
    run = run_create(
        target=target or default_target(paths),
        paths=paths,
        families=enabled,
        options=options,
    )
    try:
        result = scan(
            paths,
            families=enabled,
            options=options,
            jobs=jobs,
            progress=progress,
            cache_dir=cache_dir,
        )
        return run_persist(run=run, result=result)
    except BaseException:
        # Record the failure on the run so the report shows it, then let it go on.
        logger.exception("audit run %s failed", run.pk)
        run.status = AuditRun.Status.FAILED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        raise


@transaction.atomic
def finding_triage(
    *,
    findings: QuerySet[Finding],
    status: str,
    note: str,
    user: AbstractBaseUser | None,
) -> int:
    """Set the triage status of findings and remember it for their fingerprints.

    Later runs of the same target start from this decision. Returns the number
    of findings changed. Raises TriageError for an unknown status.
    """
    if status not in TriageStatus.values:
        raise TriageError(f"Unknown triage status: {status!r}")
    now = timezone.now()
    user_id = user.pk if user is not None else None
    selected = list(findings.select_related("run"))
    TriageDecision.objects.bulk_create(
        [
            TriageDecision(
                target=finding.run.target,
                fingerprint=finding.fingerprint,
                code=finding.code,
                path=finding.path,
                status=status,
                note=note,
                triaged_by_id=user_id,
                triaged_at=now,
            )
            # One decision per (target, fingerprint), even across selected runs.
            for finding in {(f.run.target, f.fingerprint): f for f in selected}.values()
        ],
        update_conflicts=True,
        unique_fields=["target", "fingerprint"],
        update_fields=["code", "path", "status", "note", "triaged_by", "triaged_at"],
        batch_size=PERSIST_BATCH_SIZE,
    )
    changed = Finding.objects.filter(pk__in=[f.pk for f in selected]).update(
        status=status, triage_note=note, triaged_by_id=user_id, triaged_at=now
    )
    logger.info("triaged %s findings as %s", changed, status)
    return changed
