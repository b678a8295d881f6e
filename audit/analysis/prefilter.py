"""Which statements of a file can hold a finding: a textual prefilter of the walk.

Most source text cannot produce a finding: a rule fires only where the code
says one of a few words (`except`, `getenv`, `timeout`, `password`...) or holds
a literal of a few shapes (a URL, a host, a path, a key). A `str.find` pass per
word and a few regular expressions that start from a rare character find, in
the lower-cased text, the lines where any of them appears; the walker then
enters a statement only when its lines hold one, so the rules see every node
they could report and nothing else. The
parse itself stays whole: it is what tells a broken file from a valid one, and
the rules read whole functions and the whole module around what they judge.

What the text of a statement may hide from a plain search counts as a trigger
too: an escape that spells any character (`\\x6c`, `\\N{...}`, a backslash at
the end of a line), two string literals that Python joins (`"local" "host"`),
and characters that Python's identifier normalization or case-insensitive
matching turns into ASCII (`ｔｉｍｅｏｕｔ`, `ſ`).

`tests/audit/test_prefilter.py` runs the analyzer with and without this filter
over Django, the real-code corpus, this project and the samples, and asserts
identical findings: it is the guard of the list below.
"""

from __future__ import annotations

import ast
import functools
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from audit.analysis.dropped import is_error_returning, local_call

# Every word and literal shape a rule can fire on, lower case; a word may stand
# for several (`exit__` for `__exit__` and `__aexit__`: each word costs a pass
# over the text). A rule that fires on anything else must add its word here;
# tests/audit/test_prefilter.py fails until it does.
TRIGGER_WORDS = (
    # silent.py, dropped.py: handlers (the first word: it is counted apart),
    # suppressors, lost tasks, gathers, exits.
    "except",
    "suppress",
    "create_task",
    "ensure_future",
    "gather",
    "exit__",
    # literals.py: environment reads (AUD101, AUD107).
    "getenv",
    "environ",
    # literals.py TIMEOUT_NAME_RE and the calls whose argument is a timeout
    # (AUD104, AUD108), fallbacks.py's count names (configuration overrides).
    "timeout",
    "ttl",
    "retries",
    "interval",
    "delay",
    "backoff",
    "prefetch",
    "limit",
    "deadline",
    "expir",
    "pool_size",
    "batch_size",
    "chunk_size",
    "buffer_size",
    "wait_for",
    "sleep",
    "threads",
    "workers",
    "processes",
    "connections",
    "concurrency",
    # literals.py _SECRET_NAME_RE: values named as secrets (AUD105).
    "passw",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "accesskey",
    "private_key",
    "privatekey",
    "auth_key",
    "authkey",
    "credential",
    # literals.py looks_like_host and _CREDENTIAL_URL_RE: URLs, local hosts.
    "://",
    "localhost",
)
# Literal shapes and names that a plain word search would find too often: each
# is matched by the regular expression engine from a rare first character.
TRIGGER_SHAPES = (
    # TIMEOUT_NAME_RE's `max_` names (not Django's every `max_length`).
    r"max_(?:retries|connections|workers|attempts|tries|requests|bytes|size|pool)",
    # literals.py is_port_name: a name ending in `port` after its start or an
    # underscore (not `import`, `report`).
    r"port(?![a-z0-9])(?<![a-z0-9]port)",
    # looks_like_host's _HOST_RE: a domain under one of its top-level domains,
    # maybe with a port, at the end of the literal.
    r"""\.(?:com|net|org|io|ai|dev|internal|local|cloud|app)(?::\d{1,5})?["']""",
    # At the start of a literal: _SECRET_VALUE_RE's key formats, _IP_PORT_RE's
    # dotted quad, _PATH_RE's absolute paths under well-known roots.
    r"""["'](?:sk-|sk_live_|gh[pousr]_|github_pat_|akia|xox[abpr]-|aiza|-----begin"""
    r"""|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"""
    r"""|/(?:etc|var|tmp|home|opt|usr|srv|mnt|data|root|run|users|library)/"""
    r"""|~/|[a-z]:\\)""",
)
# The characters a trigger can hold inside a literal (quotes only bound one).
_TRIGGER_CHARS = r"[a-z0-9_.:/~\\-]"
# Text that a plain search cannot see through. An escape that can spell any
# character (`\N{` is `\n{` once lower-cased), or joins two lines of a string.
# Two string literals that Python joins into one value, where a trigger could
# run across the join (`"local" "host"`): a trigger character, the closing
# quote(s), spaces, line breaks or comments, a prefix, the opening quote(s),
# and a trigger character. A misread literal only widens the filter.
_HAZARDS = (
    r"\\(?:[xu0-7]|n\{|\n)",
    rf"""["'](?<={_TRIGGER_CHARS}["'])["']{{0,2}}"""
    r"""(?:(?:[ \t\f\n]|\\\n|#[^\n]*+)*+[rbuf]{0,2}["']{1,3})+"""
    rf"(?={_TRIGGER_CHARS})",
)
# One expression per first character, so that each scan skips ahead in C: the
# shapes that start at a quote and joined literals share one.
_QUOTED = (TRIGGER_SHAPES[-1], _HAZARDS[-1])
_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (*TRIGGER_SHAPES[:-1], *_HAZARDS[:-1], "|".join(_QUOTED))
)
_OTHER_WORDS = TRIGGER_WORDS[1:]
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.cache
def _folds_to_ascii(char: str) -> bool:
    """Return True when a rule may read char as ASCII.

    Identifiers are NFKC-normalized (`ｔｉｍｅｏｕｔ` is `timeout`), and the
    rules' case-insensitive expressions match `ſ` as `s` and `ı` as `i`.
    """
    forms = (
        unicodedata.normalize("NFKC", char),
        char.lower(),
        char.upper(),
        char.casefold(),
    )
    return any(other.isascii() for form in forms for other in form)


class Triggers:
    """The lines of one source that hold a trigger, and which statements hold one."""

    def __init__(self, source: str) -> None:
        """Find the trigger lines of source (as the parser numbers its lines).

        A match is counted on the line where it starts: whatever it belongs to
        (a literal, a call, a name) is part of every statement around that line.
        """
        if "\r" in source:
            # The parser counts a lone carriage return as a line break too.
            source = source.replace("\r\n", "\n").replace("\r", "\n")
        self.source = source
        lowered = source.lower()
        self._handlers = _find_all(lowered, "except")
        starts = [
            *self._handlers,
            *(found for word in _OTHER_WORDS for found in _find_all(lowered, word)),
            *(
                match.start()
                for pattern in _PATTERNS
                for match in pattern.finditer(lowered)
            ),
        ]
        lines = set(_line_numbers(lowered, sorted(starts)))
        if not source.isascii():
            odd = {char for char in _NON_ASCII.findall(source) if _folds_to_ascii(char)}
            if odd:
                pattern = re.compile("|".join(map(re.escape, odd)))
                found = [match.start() for match in pattern.finditer(source)]
                lines.update(_line_numbers(source, found))
        self.lines = sorted(lines)

    def covers(self, node: ast.stmt) -> bool:
        """Return True when a line of the statement, decorators included, holds one."""
        lines = self.lines
        decorators = getattr(node, "decorator_list", None)
        start = decorators[0].lineno if decorators else node.lineno
        index = bisect_left(lines, start)
        return index < len(lines) and lines[index] <= (node.end_lineno or start)

    def add(self, lines: Iterable[int]) -> None:
        """Count lines as trigger lines too."""
        self.lines = sorted({*self.lines, *lines})

    def handler_lines(self) -> list[int]:
        """Return the lines that say `except`, in order."""
        return _line_numbers(self.source, self._handlers)

    def name_lines(self, name: str) -> list[int]:
        """Return the lines where the identifier name appears, in order."""
        source, size = self.source, len(name)
        found = [
            position
            for position in _find_all(source, name)
            if not _continues_name(source, position - 1)
            and not _continues_name(source, position + size)
        ]
        return _line_numbers(source, found)


def _find_all(text: str, word: str) -> list[int]:
    """Return every position of word in text, in order."""
    found = []
    position = text.find(word)
    while position >= 0:
        found.append(position)
        position = text.find(word, position + 1)
    return found


def _line_numbers(text: str, positions: list[int]) -> list[int]:
    """Return the line of each position (given in order), counting newlines once."""
    line, last, lines = 1, 0, []
    for position in positions:
        line += text.count("\n", last, position)
        last = position
        lines.append(line)
    return lines


def _continues_name(text: str, position: int) -> bool:
    """Return True when the character at position can be part of an identifier."""
    if not 0 <= position < len(text):
        return False
    char = text[position]
    return char.isalnum() or char == "_"


# Statements that hold blocks of statements, and where.
_COMPOUND = {
    ast.FunctionDef: ("body",),
    ast.AsyncFunctionDef: ("body",),
    ast.ClassDef: ("body",),
    ast.If: ("body", "orelse"),
    ast.For: ("body", "orelse"),
    ast.AsyncFor: ("body", "orelse"),
    ast.While: ("body", "orelse"),
    ast.With: ("body",),
    ast.AsyncWith: ("body",),
    ast.Try: ("body", "orelse", "finalbody"),
    ast.TryStar: ("body", "orelse", "finalbody"),
}
Entry = tuple[ast.AST, Any, Any, Any]
Functions = dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]


def _calls(node: ast.stmt) -> Iterable[tuple[str, int]]:
    """Yield (name, line) of each statement under node that calls a local function."""
    stack = [node]
    while stack:
        stmt = stack.pop()
        kind = stmt.__class__
        if kind is ast.Expr:
            name = local_call(stmt)  # type: ignore[arg-type]
            if name:
                yield name, stmt.lineno
        elif kind is ast.Match:
            for case in stmt.cases:  # type: ignore[attr-defined]
                stack.extend(case.body)
        else:
            for field in _COMPOUND.get(kind, ()):
                stack.extend(getattr(stmt, field))


def _holds(lines: list[int], first: int, last: int) -> bool:
    """Return True when one of the sorted lines lies in first..last."""
    index = bisect_left(lines, first)
    return index < len(lines) and lines[index] <= last


def dropped_callers(
    skipped: list[Entry], functions: Functions, triggers: Triggers
) -> tuple[list[Entry], set[int]]:
    """Return the skipped walk entries that drop an error-returning result, and where.

    An error-returning function catches an exception, so it says `except` and
    the walk has met it: only its callers can lie in skipped code, and they
    name it.
    """
    if not (skipped and functions):
        return [], set()
    handlers = triggers.handler_lines()
    candidates = {
        name
        for name, defined in functions.items()
        if any(
            _holds(handlers, function.lineno, function.end_lineno or function.lineno)
            for function in defined
        )
    }
    mentions = sorted(line for name in candidates for line in triggers.name_lines(name))
    verdicts: dict[str, bool] = {}
    entries, lines = [], set()
    for entry in skipped:
        node = entry[0]
        if not _holds(mentions, node.lineno, node.end_lineno or node.lineno):  # type: ignore[attr-defined]
            continue
        found = False
        for name, line in _calls(node):  # type: ignore[arg-type]
            if name not in candidates:
                continue
            if name not in verdicts:
                verdicts[name] = any(map(is_error_returning, functions[name]))
            if verdicts[name]:
                found = True
                lines.add(line)
        if found:
            entries.append(entry)
    return entries, lines
