"""Severity by impact: what a failure at this place costs, from the code around it.

The rubric (README, "Severity by impact"): critical when a failure on a request,
data or security path is lost and the program goes on in a wrong state; high when
an error vanishes elsewhere; medium when it stays visible only at debug level or a
value a deployment must change is fixed in code; low when only cleanup can fail
or the cause is merely incomplete.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from audit.analysis.records import Severity
from audit.analysis.rules import RULES_BY_CODE

# Words in a called name that put the code on a path whose failure loses data or
# a result: a send, a write, a store, a delivery, a commit.
_DATA_WORDS = (
    "send",
    "write",
    "store",
    "save",
    "commit",
    "publish",
    "deliver",
    "respond",
    "reply",
    "result",
    "flush",
    "ack",
    "upload",
    "insert",
    "persist",
    "emit",
    "enqueue",
    "put",
)
# Words in a called name that make it a security check.
_SECURITY_WORDS = ("auth", "verify", "permission", "password", "csrf", "signature")
# Methods whose only job is to release something: failing them loses no data.
CLEANUP_NAMES = frozenset(
    {
        "close",
        "aclose",
        "wait_closed",
        "shutdown",
        "unlink",
        "remove",
        "rmdir",
        "kill",
        "terminate",
        "cancel",
        "release",
        "join",
        "write_eof",
        "unregister",
        "abort",
        "disconnect",
        "stop",
        "cleanup",
        "close_transport",
        "server_close",
    }
)
# First words of methods whose only job is to release something
# (`unregister_readable`, `close_pipes`).
_CLEANUP_PREFIXES = ("close_", "unregister_", "shutdown_", "release_", "cancel_")
# Broad handlers that give up a call's result: the caller gets nothing. A narrow
# handler falling through to a default is the conversion idiom, not a lost result.
_BROAD_LOSING = frozenset({"AUD002", "AUD003", "AUD004", "AUD005"})
# Rules whose failure is lost outright (not merely under-reported).
_LOSING = frozenset(
    {"AUD002", "AUD003", "AUD004", "AUD005", "AUD007", "AUD008", "AUD009", "AUD011"}
)


@dataclass(frozen=True, slots=True)
class Impact:
    """The severity of one finding and the one line that says why."""

    severity: Severity
    reason: str


def called_names(nodes: Iterable[ast.AST]) -> list[str]:
    """Return the names of the functions called under nodes, in source order."""
    calls = [
        child
        for node in nodes
        for child in ast.walk(node)
        if isinstance(child, ast.Call)
    ]
    calls.sort(key=lambda call: (call.lineno, call.col_offset))
    return [name for name in map(call_name, calls) if name]


def call_name(call: ast.Call) -> str:
    """Return the last name of the called function (`self.sock.close` -> `close`)."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def is_cleanup(name: str) -> bool:
    """Return True for a method that only releases something (`close_pipes`).

    A private helper's underscores and `do_` prefix name the same verb
    (`_close()`, `_do_close_self()`).
    """
    name = name.lstrip("_").removeprefix("do_")
    return name in CLEANUP_NAMES or name.startswith(_CLEANUP_PREFIXES)


def _has_word(name: str, words: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in words)


def path_of(names: list[str]) -> str:
    """Return "cleanup", "security", "data" or "" for the calls of a guarded block."""
    if names and all(map(is_cleanup, names)):
        return "cleanup"
    if any(_has_word(name, _SECURITY_WORDS) for name in names):
        return "security"
    if any(_has_word(name, _DATA_WORDS) for name in names):
        return "data"
    return ""


def _returns_call(guarded: list[ast.stmt]) -> bool:
    """Return True when the guarded block returns what a call produced."""
    return any(
        isinstance(node, ast.Return) and isinstance(node.value, ast.Call | ast.Await)
        for stmt in guarded
        for node in ast.walk(stmt)
    )


def _headline(guarded: list[ast.stmt], names: list[str]) -> str:
    """Return the call that best names what the guarded block does.

    The first call on a data or security path if there is one, else the first
    call of a statement (not of a loop or `if` condition, such as a timer).
    """
    for name in names:
        if _has_word(name, _DATA_WORDS) or _has_word(name, _SECURITY_WORDS):
            return name
    for stmt in guarded:
        for node in ast.walk(stmt):
            value = getattr(node, "value", None)
            if isinstance(node, ast.Expr | ast.Assign | ast.Return | ast.AugAssign):
                if isinstance(value, ast.Await):
                    value = value.value
                if isinstance(value, ast.Call) and call_name(value):
                    return call_name(value)
    return names[0] if names else ""


def silent_impact(code: str, guarded: list[ast.stmt], what: str) -> Impact:
    """Return the severity and reason of a silent failure around guarded code.

    what names the construct in the reason ("`except Exception: pass`").
    """
    names = called_names(guarded)
    path = path_of(names)
    if not path and code in _BROAD_LOSING and _returns_call(guarded):
        path = "result"
    headline = _headline(guarded, names)
    around = f"`{headline}()`" if headline else "this block"
    if path == "cleanup":
        return Impact(
            Severity.LOW,
            f"{what} around {around}: only cleanup can fail here, "
            "at worst a resource stays open",
        )
    if path == "security" and code in _LOSING:
        return Impact(
            Severity.CRITICAL,
            f"{what} around {around}: a failed security check is skipped "
            "and the request goes on",
        )
    if path == "data" and code in _LOSING:
        return Impact(
            Severity.CRITICAL,
            f"{what} around {around}: a failure here loses the data or result "
            "and the program goes on as if it had been delivered",
        )
    if path == "result" and code in _LOSING:
        return Impact(
            Severity.CRITICAL,
            f"{what} around {around}: the caller gets nothing instead of the "
            "result and cannot tell a failure from an empty answer",
        )
    if path:
        return Impact(
            Severity.HIGH,
            f"{what} around {around}: the cause of a failed delivery is not kept",
        )
    return Impact(RULES_BY_CODE[code].severity, _baseline_reason(code, what, around))


def _baseline_reason(code: str, what: str, around: str) -> str:
    if code == "AUD005":
        return f"{what} around {around}: the error is visible only at debug level"
    if code == "AUD006":
        return f"{what} around {around}: the log line says that it failed, not why"
    return f"{what} around {around}: the error vanishes without a trace"
