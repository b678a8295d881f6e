"""CPU time of the analysis alone, to compare two versions of the analyzer side by side.

Usage: python benchmarks/audit_cpu.py [TREE] [--repeat N]

Reads every Python file of the tree (default: the installed Django package) into
memory once, then analyzes them all in this process N times and prints the best
CPU time. No worker pool, no file system, no storage: on a loaded machine CPU
time moves far less than wall time, so a change of a few percent is visible when
two checkouts are run alternately (`cd other-checkout && python
benchmarks/audit_cpu.py`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.analysis import analyze_source  # noqa: E402
from benchmarks.audit_speed import default_tree  # noqa: E402

DEFAULT_REPEAT = 3


def main() -> None:
    """Analyze the tree's files repeatedly and print the best CPU time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=None, help="Tree to analyze.")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    options = parser.parse_args()
    tree = Path(options.tree or default_tree())
    sources = [(str(path), path.read_bytes()) for path in sorted(tree.rglob("*.py"))]
    best = float("inf")
    for _ in range(options.repeat):
        start = time.process_time()
        for path, data in sources:
            analyze_source(data, path)
        best = min(best, time.process_time() - start)
    print(f"{len(sources)} files, analysis CPU best of {options.repeat}: {best:.3f} s")


if __name__ == "__main__":
    main()
