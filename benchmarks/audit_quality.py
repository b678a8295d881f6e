"""Score the audit on real open-source code: precision and recall per family.

    python benchmarks/audit_quality.py [--cache DIR] [--json] [--show-errors]
                                       [--part tuning|holdout]

Downloads the pinned sdists of tests/audit/realcode/projects.toml with pip into
the cache (default ~/.cache/controlplane-audit-corpus), analyzes the labeled files
as a scan would, and compares the findings with tests/audit/realcode/labels.csv.
A finding on a line that has no label of its family counts as a false positive.
Held-out files (set aside before tuning) are scored apart from the tuning part;
each wrong verdict names its part, and `--part tuning` shows only the tuning
part's, so tuning never has to look at what is held out.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.analysis import FileOptions, Finding, analyze_source  # noqa: E402
from audit.analysis.discovery import is_config_module  # noqa: E402
from benchmarks.audit_corpus import (  # noqa: E402
    DEFAULT_CACHE,
    LABELS_FILE,
    Project,
    fetch,
    projects,
)

FAMILIES = ("silent_failure", "hardcoded_config")
PARTS = ("tuning", "holdout")

Place = tuple[str, str, int, str]


@dataclass
class Score:
    """True and false positives and false negatives of one slice of the corpus."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    labeled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def as_dict(self) -> dict[str, object]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "labeled": self.labeled,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
        }


def read_labels() -> dict[Place, tuple[str, str]]:
    """Return (label, reason) by (project, file, line, family)."""
    with LABELS_FILE.open(newline="") as handle:
        return {
            (row["project"], row["file"], int(row["line"]), row["family"]): (
                row["label"],
                row["reason"],
            )
            for row in csv.DictReader(handle)
        }


def analyze(project: Project, root: Path) -> dict[str, list[Finding]]:
    """Return the findings of each labeled file of project.

    Raises RuntimeError when a labeled file cannot be analyzed.
    """
    found = {}
    for relative in project.files:
        options = FileOptions(config_module=is_config_module(relative))
        result = analyze_source((root / relative).read_bytes(), relative, options)
        if result.error is not None:
            raise RuntimeError(f"{project.name} {relative}: {result.error.message}")
        found[relative] = list(result.findings)
    return found


def score(cache: Path) -> tuple[dict, list[str]]:
    """Return the scores by part, family and project, and the wrong verdicts."""
    labels = read_labels()
    scores: dict[tuple[str, str, str], Score] = {}
    wrong: list[str] = []

    def slot(part: str, family: str, project: str) -> Score:
        return scores.setdefault((part, family, project), Score())

    for project in projects():
        root = fetch(project, cache)
        findings = analyze(project, root)
        for relative, file_findings in findings.items():
            part = "holdout" if relative in project.holdout else "tuning"
            reported = Counter(
                (finding.line, str(finding.family)) for finding in file_findings
            )
            by_place = {
                (finding.line, str(finding.family)): finding
                for finding in file_findings
            }
            places = {
                (line, family)
                for (name, path, line, family) in labels
                if name == project.name and path == relative
            }
            for line, family in sorted(places | set(reported)):
                label, reason = labels.get(
                    (project.name, relative, line, family), ("unlabeled", "")
                )
                bucket = slot(part, family, project.name)
                bucket.labeled += label != "unlabeled"
                said = (line, family) in reported
                if label == "finding" and said:
                    bucket.tp += 1
                elif label == "finding":
                    bucket.fn += 1
                    wrong.append(
                        f"{part}: miss {project.name} {relative}:{line} "
                        f"{family}: {reason}"
                    )
                elif said:
                    bucket.fp += 1
                    finding = by_place[(line, family)]
                    wrong.append(
                        f"{part}: false positive {project.name} {relative}:{line} "
                        f"{finding.code} ({label}: {reason})"
                    )
    return _totals(scores), wrong


def _totals(scores: dict[tuple[str, str, str], Score]) -> dict:
    """Sum the per-project scores into per-part, per-family totals."""
    report: dict = {}
    for part in PARTS:
        report[part] = {}
        for family in FAMILIES:
            total = Score()
            projects_of = {}
            for (p, f, name), value in sorted(scores.items()):
                if p == part and f == family:
                    total.tp += value.tp
                    total.fp += value.fp
                    total.fn += value.fn
                    total.labeled += value.labeled
                    projects_of[name] = value.as_dict()
            report[part][family] = {"total": total.as_dict(), "projects": projects_of}
    return report


def _print(report: dict, wrong: list[str], show: bool, parts: tuple[str, ...]) -> None:
    for part in parts:
        print(f"== {part}")
        print(f"{'family':18} {'project':14} labeled  tp  fp  fn  precision  recall")
        for family in FAMILIES:
            entry = report[part][family]
            rows = list(entry["projects"].items()) + [("all", entry["total"])]
            for name, value in rows:
                print(
                    f"{family:18} {name:14} {value['labeled']:7} {value['tp']:3} "
                    f"{value['fp']:3} {value['fn']:3}  {value['precision']:9.2f}"
                    f"  {value['recall']:6.2f}"
                )
    if show:
        print("== wrong verdicts")
        for line in wrong:
            if line.partition(":")[0] in parts:
                print(line)


def main() -> None:
    """Parse options, score the corpus and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="sdists")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--show-errors", action="store_true", help="list misses and false positives"
    )
    parser.add_argument(
        "--part", choices=PARTS, help="show only this part (default: both)"
    )
    options = parser.parse_args()
    parts = (options.part,) if options.part else PARTS
    report, wrong = score(options.cache)
    if options.json:
        report = {part: report[part] for part in parts}
        wrong = [line for line in wrong if line.partition(":")[0] in parts]
        print(json.dumps({"scores": report, "wrong": wrong}, indent=2))
    else:
        _print(report, wrong, options.show_errors, parts)


if __name__ == "__main__":
    main()
