"""A tool with side effects for hostile-client tests: each run leaves a line in a
file, so a test in another process can count the runs."""

from pathlib import Path


def append_line(path: str, line: str) -> str:
    """Append one line to a file and return how many lines it holds."""
    target = Path(path)
    with target.open("a") as file:
        file.write(line + "\n")
    return f"{len(target.read_text().splitlines())} lines"
