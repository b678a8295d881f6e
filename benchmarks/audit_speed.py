"""Audit speed: our analyzer against ruff on the same tree (default: installed Django).

Usage: python benchmarks/audit_speed.py [TREE] [--repeat N] [--jobs N]

Reports files/s, best wall time of N runs, peak memory, and the ratio of our
wall time to `ruff check --select E722,BLE001,S110,S112` on the same tree.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.analysis import scan  # noqa: E402

RUFF_RULES = "E722,BLE001,S110,S112"
DEFAULT_REPEAT = 5
KIB_PER_MIB = 1024


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


def time_ours(tree: str, jobs: int) -> tuple[float, int, int]:
    """Scan the tree once; return (seconds, files, findings)."""
    start = time.perf_counter()
    result = scan([tree], jobs=jobs)
    return time.perf_counter() - start, result.files_scanned, len(result.findings)


def time_ruff(tree: str, ruff: str) -> float:
    """Run ruff once on the tree without its cache; return seconds."""
    command = [ruff, "check", "--select", RUFF_RULES, "--no-cache", "--exit-zero"]
    start = time.perf_counter()
    subprocess.run([*command, "-q", tree], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Run both tools repeatedly and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=None, help="Tree to scan.")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    tree = args.tree or default_tree()
    ruff = ruff_binary()
    ours = [time_ours(tree, args.jobs) for _ in range(args.repeat)]
    theirs = [time_ruff(tree, ruff) for _ in range(args.repeat)]
    best, files, findings = min(ours)
    ruff_best = min(theirs)
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / KIB_PER_MIB
    label = f"audit (jobs={args.jobs})"
    lines = [
        f"tree: {tree} ({files} Python files), {os.cpu_count()} cores",
        f"{'tool':<22} {'wall s (best)':>14} {'files/s':>10}",
        f"{label:<22} {best:>14.3f} {files / best:>10.0f}",
        f"{'ruff ' + RUFF_RULES:<22} {ruff_best:>14.3f} {files / ruff_best:>10.0f}",
        f"ratio ours/ruff: {best / ruff_best:.1f}x   findings: {findings}",
        f"peak RSS: main {own_peak:.0f} MiB, "
        f"largest worker or ruff {worker_peak:.0f} MiB",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
