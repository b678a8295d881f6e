"""Audit speed: our audit against ruff on the same tree (default: installed Django).

Usage: python benchmarks/audit_speed.py [TREE] [--repeat N] [--jobs N]

Every command runs as a fresh process, start-up included, and the commands
take turns in each round, so machine load hits all of them alike. Reported:
best and median wall time of N rounds and each one's ratio to ruff's
`check --select E722,BLE001,S110,S112` on the same tree, without its cache
(cold) and with it (warm), next to our audit cold and with --cache-dir.
`manage.py audit --no-store` pays Django's start-up on top of the same scan.
The in-process line is the analysis alone (`audit.analysis.scan`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit.analysis import scan  # noqa: E402

RUFF_RULES = "E722,BLE001,S110,S112"
DEFAULT_REPEAT = 5
# The target of issue #12: our end-to-end time at most this many times ruff's.
TARGET_RATIO = 5


def default_tree() -> str:
    """Return the directory of the installed Django package."""
    import django

    return str(Path(django.__file__).parent)


def ruff_binary() -> str:
    """Return the ruff next to this interpreter, or the one on PATH.

    Raises SystemExit when ruff is not installed.
    """
    beside = Path(sys.executable).parent / "ruff"
    found = str(beside) if beside.exists() else shutil.which("ruff")
    if found is None:
        raise SystemExit("ruff is not installed: pip install ruff")
    return found


def commands(tree: str, jobs: int, cache: Path) -> dict[str, list[str]]:
    """Return the command line of every contender, by label."""
    ruff = [ruff_binary(), "check", "--select", RUFF_RULES, "--exit-zero", "-q"]
    audit = [sys.executable, "-m", "audit", tree, "--jobs", str(jobs)]
    audit += ["--output", os.devnull]
    return {
        "ruff cold (--no-cache)": [*ruff, "--no-cache", tree],
        "ruff warm (its cache)": [*ruff, "--cache-dir", str(cache / "ruff"), tree],
        "python -m audit cold": audit,
        "python -m audit warm": [*audit, "--cache-dir", str(cache / "audit")],
        "manage.py audit --no-store": [
            sys.executable,
            str(ROOT / "manage.py"),
            "audit",
            tree,
            "--no-store",
            "--jobs",
            str(jobs),
            "--output",
            os.devnull,
        ],
    }


def time_command(command: list[str]) -> float:
    """Run command once, its output discarded; return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(
        command,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def time_in_process(tree: str, jobs: int) -> tuple[float, int, int]:
    """Scan the tree in this process; return (seconds, files, findings)."""
    start = time.perf_counter()
    result = scan([tree], jobs=jobs)
    return time.perf_counter() - start, result.files_scanned, len(result.findings)


def main() -> None:
    """Time every contender in turns and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=None, help="Tree to scan.")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    tree = args.tree or default_tree()
    with tempfile.TemporaryDirectory(prefix="audit-speed-") as scratch:
        contenders = commands(tree, args.jobs, Path(scratch))
        # One untimed run of each fills the warm caches and the OS file cache.
        for command in contenders.values():
            time_command(command)
        times: dict[str, list[float]] = {label: [] for label in contenders}
        analysis: list[tuple[float, int, int]] = []
        for _ in range(args.repeat):
            for label, command in contenders.items():
                times[label].append(time_command(command))
            analysis.append(time_in_process(tree, args.jobs))
    _, files, findings = min(analysis)
    times["analysis alone (in process)"] = [seconds for seconds, _, _ in analysis]
    cold = min(times["ruff cold (--no-cache)"])
    warm = min(times["ruff warm (its cache)"])
    lines = [
        f"tree: {tree} ({files} Python files, {findings} findings), "
        f"{os.cpu_count()} cores, jobs={args.jobs}, best and median of {args.repeat}",
        f"{'command':<30} {'best s':>8} {'median s':>9} {'/ruff cold':>11} "
        f"{'/ruff warm':>11}",
    ]
    for label, seconds in times.items():
        best = min(seconds)
        lines.append(
            f"{label:<30} {best:>8.3f} {statistics.median(seconds):>9.3f} "
            f"{best / cold:>10.1f}x {best / warm:>10.1f}x"
        )
    lines.append(f"target: python -m audit at most {TARGET_RATIO}x ruff")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
