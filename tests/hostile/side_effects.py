"""A tool with side effects for hostile-client tests: each run leaves a line in a
file, so a test in another process can count the runs."""

import asyncio
from pathlib import Path


def append_line(path: str, line: str) -> str:
    """Append one line to a file and return how many lines it holds."""
    target = Path(path)
    with target.open("a") as file:
        file.write(line + "\n")
    return f"{len(target.read_text().splitlines())} lines"


async def append_line_after(path: str, line: str, seconds: float) -> str:
    """Wait, then append one line: a long call whose runs a test can count."""
    await asyncio.sleep(seconds)
    return append_line(path, line)
