"""Secret literals as findings store and show them: first characters and length.

A finding quotes source lines; a secret literal on them would end up in the
database, the report pages and every export. The analyzer masks each literal
it takes for a secret in the lines before they become snippets, and the file
view masks the source it shows the same way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from audit.analysis.constants import SECRET_SHOWN_CHARS


def _printable(text: str) -> str:
    """Return text with control characters escaped, so a mask stays on one line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def mask_secret(value: str) -> str:
    """Return the shown form of a secret: `sk_l… (40 chars)`."""
    return f"{_printable(value[:SECRET_SHOWN_CHARS])}… ({len(value)} chars)"


def mask_lines(lines: list[str], secrets: Iterable[ast.Constant]) -> list[str]:
    """Return lines with each secret literal's source replaced by its mask.

    A literal spanning several lines is masked on its first line and leaves the
    others empty, so line numbers still match the findings.
    """
    masked = list(lines)
    # Right to left, so each replacement leaves the offsets of earlier ones valid.
    for node in sorted(secrets, key=_start, reverse=True):
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        if last >= len(masked):
            # Past the lines Python split: _mask_leftovers finds it by its text.
            continue
        # Column offsets count UTF-8 bytes, not characters.
        head = masked[first].encode("utf-8")[: node.col_offset]
        tail = masked[last].encode("utf-8")[node.end_col_offset :]
        shown = f'"{mask_secret(node.value)}"'.encode()
        masked[first] = (head + shown + tail).decode("utf-8")
        for number in range(first + 1, last + 1):
            masked[number] = ""
    return _mask_leftovers(masked, secrets)


def _start(node: ast.Constant) -> tuple[int, int]:
    return node.lineno, node.col_offset


def _mask_leftovers(lines: list[str], secrets: Iterable[ast.Constant]) -> list[str]:
    """Mask any secret still spelled out in lines.

    Python counts a form feed or a line separator inside a line as a line break
    where ast does not, which shifts positions; a secret must not leak through
    that, so its text is replaced wherever it still appears.
    """
    values = {node.value for node in secrets}
    return [
        _replace_all(line, values) if any(v in line for v in values) else line
        for line in lines
    ]


def _replace_all(line: str, values: set[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        line = line.replace(value, mask_secret(value))
    return line
