"""Intent the code states around an exception handler.

Whether a failure is reported (any logger API, an error sent to the caller or
peer, the exception kept to raise later, a traceback printed, an exit), is the
answer (a probe, the miss of a look-up, the end of a wait), or is explained by
a comment in or above the `try`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from audit.analysis.impact import call_name, is_cleanup
from audit.analysis.logcalls import is_log_call

_TRACEBACK_FUNCS = frozenset(
    {"print_exc", "format_exc", "print_exception", "format_exception", "exc_info"}
)
_EXIT_FUNCS = frozenset({"exit", "_exit", "abort"})
NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# Exceptions whose catching is the answer: a look-up or conversion that missed,
# an optional import, a probe, or the normal end of a wait, loop or program.
_EXPECTED_NAMES = frozenset(
    {
        "KeyError",
        "IndexError",
        "LookupError",
        "AttributeError",
        "ValueError",
        "TypeError",
        "UnicodeError",
        "UnicodeDecodeError",
        "UnicodeEncodeError",
        "StopIteration",
        "StopAsyncIteration",
        "ImportError",
        "ModuleNotFoundError",
        "NotImplementedError",
        "FileNotFoundError",
        "FileExistsError",
        "NotADirectoryError",
        "IsADirectoryError",
        "ProcessLookupError",
        "ChildProcessError",
        "KeyboardInterrupt",
        "SystemExit",
        "GeneratorExit",
        "CancelledError",
        "TimeoutError",
        "InterruptedError",
        "DoesNotExist",
        "ObjectDoesNotExist",
        "Resolver404",
        "NoReverseMatch",
        "Http404",
        "NotFound",
        "NoSuchKey",
        "EmptyPage",
        "PageNotAnInteger",
        "Empty",
    }
)
# Name endings of project exceptions that mean the same: `ConnectionClosed`,
# `UserNotFound`, `SessionExpired`.
_EXPECTED_SUFFIXES = ("Closed", "ClosedOK", "NotFound", "DoesNotExist", "Expired")
# Endings of exceptions raised to stop a loop or a program: `ExitNow`,
# `ConsumerStopped`, `ServerShutdown`. Catching one is the planned end.
_STOP_SUFFIXES = ("Exit", "ExitNow", "Stopped", "Shutdown")

# Words of a called name that report the failure to a caller, a peer or a user.
_REPORT_WORDS = (
    "error",
    "fail",
    "reject",
    "abort",
    "exit",
    "respond",
    "response",
    "deny",
    "warn",
)
# A 4xx/5xx status opening a text protocol's reply line.
_STATUS_REPLY = re.compile(r"[45]\d\d[ -]")
# Function name prefixes of probes: the exception is the answer False.
_PROBE_PREFIXES = (
    "is_",
    "has_",
    "can_",
    "check",
    "probe",
    "ping",
    "test",
    "supports",
    "exists",
    "available",
    "alive",
    "healthy",
    "_is_",
    "_has_",
    "_can_",
    "_check",
    "_probe",
    "_ping",
)
# Words of a docstring that say the function swallows errors on purpose.
_DOCUMENTED_WORDS = ("suppressed", "ignored", "silently", "never raises")
# Statements of a `try` body short enough for its opening comment to explain it.
_SHORT_BODY = 2
# Comments that are tool pragmas, not a reason.
_PRAGMAS = ("pragma", "noqa", "type:", "nosec", "pylint", "fmt:", "audit:")
# Comments that mark work left to do: they say the code is not yet right, the
# opposite of a reason why it is (`# TODO: should store and await on task`).
_TODO_MARKS = ("todo", "fixme", "xxx")


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a node sits: its enclosing function and whether it is inside a loop."""

    function: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    in_loop: bool = False


MODULE_SCOPE = Scope()


def body_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Yield every node of the handler body, not descending into nested scopes."""
    stack: list[ast.AST] = [
        stmt for stmt in body if not isinstance(stmt, NESTED_SCOPES)
    ]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(
            child
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, NESTED_SCOPES)
        )


def mentions(node: ast.AST, name: str | None) -> bool:
    """Return True when node reads the variable `name`."""
    if name is None:
        return False
    return any(
        isinstance(child, ast.Name) and child.id == name for child in ast.walk(node)
    )


def reports_failure(func: ast.Attribute | ast.Name) -> bool:
    """Return True for a traceback captured (`print_exc`, `*traceback*`), `sys.exit`."""
    name = func.attr if isinstance(func, ast.Attribute) else func.id
    if name in _TRACEBACK_FUNCS or "traceback" in name.lower():
        # `print_exception`, `asyncore.compact_traceback()`: the handler
        # captures the traceback to show or store it.
        return True
    if isinstance(func, ast.Attribute) and ast.unparse(func.value) == "traceback":
        return True
    return (
        isinstance(func, ast.Attribute)
        and name in _EXIT_FUNCS
        and isinstance(func.value, ast.Name)
        and func.value.id in {"sys", "os"}
    )


def reports_to_caller(call: ast.Call) -> bool:
    """Return True for a call that hands the failure to a caller, peer or user.

    `send_error(...)`, `fail_connection()`, `handle_error(...)`, `sys.exit(...)`,
    `printer(..., error=True)`, or any call given a dict naming an error
    (`await send({"op": "error", ...})`).
    """
    lowered = call_name(call).lower()
    if any(word in lowered for word in _REPORT_WORDS):
        return True
    if "exception" in lowered and (call.args or "log" in lowered):
        # `handle_callback_exception(cb)`, `future.set_exception(exc)`,
        # `self._logException()`: the failure goes to what handles or logs
        # it. A bare `handleException()` hook says nothing of where it goes
        # (Twisted's base one does nothing).
        return True
    if any(
        keyword.arg == "error"
        and isinstance(keyword.value, ast.Constant)
        and keyword.value.value is True
        for keyword in call.keywords
    ):
        return True
    return any(
        _names_error(arg) or _error_code(arg) or _error_reply(arg) for arg in call.args
    )


def _error_reply(node: ast.expr) -> bool:
    """Return True for a text-protocol error reply (`"501 5.5.2 Can't decode"`).

    SMTP, FTP and HTTP answer a failure with a 4xx or 5xx status line: a call
    given one tells the peer the request failed.
    """
    if isinstance(node, ast.JoinedStr) and node.values:
        node = node.values[0]
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    return _STATUS_REPLY.match(node.value) is not None


def _error_code(node: ast.expr) -> bool:
    """Return True for an UPPER_CASE error-code constant (`MQTT_ERR_CONN_LOST`).

    `on_disconnect(MQTT_ERR_CONN_LOST)` tells a callback why the work stopped.
    """
    name = (
        node.id
        if isinstance(node, ast.Name)
        else node.attr
        if isinstance(node, ast.Attribute)
        else ""
    )
    return name.isupper() and "ERR" in name


def _names_error(node: ast.expr) -> bool:
    """Return True for a dict literal with an "error" key or value."""
    if not isinstance(node, ast.Dict):
        return False
    texts = [
        part.value
        for part in (*node.keys, *node.values)
        if isinstance(part, ast.Constant) and isinstance(part.value, str)
    ]
    return any("error" in text.lower() for text in texts)


def justified(lines: list[str], first: int, last: int) -> bool:
    """Return True when a comment (not a tool pragma) sits on lines first..last."""
    for line in lines[max(first - 1, 0) : last]:
        position = line.find("#")
        if position < 0:
            continue
        comment = line[position + 1 :].strip().lower()
        if comment and not comment.startswith(_PRAGMAS + _TODO_MARKS):
            return True
    return False


def try_commented(
    try_node: ast.Try, handler: ast.ExceptHandler, lines: list[str]
) -> bool:
    """Return True for a comment above the `try`, on its line, or in the handler.

    Lines are read as text, not tokens (tokenizing every file would cost more
    than the rest of the analysis): a `#` inside a string literal on those lines
    is taken for a comment too. That is rare, and it can only exempt.
    """
    above = try_node.lineno - 1
    # An `assert` between the comment and the `try` checks a precondition of
    # the step the comment explains (`# ignore its exceptions` / `assert
    # self._future is not None` / `try: await self._future`).
    while above >= 1 and lines[above - 1].strip().startswith(("#", "assert ")):
        above -= 1
    end = handler.end_lineno or handler.lineno
    # The comment lines that open a short `try` body (`try:` then `# why`) speak
    # for it; atop a longer body they describe its first step, not the handler.
    first = try_node.lineno
    if len(try_node.body) <= _SHORT_BODY:
        first = max(first, try_node.body[0].lineno - 1)
    return justified(lines, above + 1, first) or justified(lines, handler.lineno, end)


def documented(scope: Scope) -> bool:
    """Return True when the function's docstring says exceptions are suppressed.

    `Exceptions are suppressed and result in the default value to be returned`
    states the intent as plainly as a comment above the `try` would.
    """
    function = scope.function
    docstring = ast.get_docstring(function) if function is not None else None
    return bool(docstring) and any(
        word in docstring.lower() for word in _DOCUMENTED_WORDS
    )


def expected(names: set[str]) -> bool:
    """Return True when every caught exception means an expected outcome.

    A project's `NotFoundError` means what its `NotFound` would, and an
    exception saying the work was already done (`MsgAlreadyAckdError`,
    `AlreadyExists`) means the goal holds.
    """
    return bool(names) and all(
        name in _EXPECTED_NAMES
        or name.removesuffix("Error").endswith(_EXPECTED_SUFFIXES)
        or name.endswith(_STOP_SUFFIXES)
        or name.startswith("NoSuch")
        or "Already" in name
        for name in names
    )


def probe_alternatives(try_node: ast.Try, scope: Scope) -> bool:
    """Return True for `for x in options: try … except: pass else: break/return`."""
    return scope.in_loop and any(
        isinstance(node, ast.Break | ast.Return)
        for stmt in try_node.orelse
        for node in ast.walk(stmt)
    )


def is_probe(handler: ast.ExceptHandler, scope: Scope) -> bool:
    """Return True when the handler answers a bool from a function that asks one.

    A function asks when its name is a question (`is_…`, `ping…`), it is
    annotated `-> bool`, or it answers True on success: its False reports the
    failure to a caller who must look (AUD009 reports a caller who does not).
    """
    returns = [stmt for stmt in handler.body if isinstance(stmt, ast.Return)]
    if not returns or not all(
        isinstance(ret.value, ast.Constant) and isinstance(ret.value.value, bool)
        for ret in returns
    ):
        return False
    function = scope.function
    if function is None:
        return False
    annotation = function.returns
    return (
        function.name.lower().startswith(_PROBE_PREFIXES)
        or (isinstance(annotation, ast.Name) and annotation.id == "bool")
        or any(
            isinstance(node, ast.Return)
            and isinstance(node.value, ast.Constant)
            and node.value.value is True
            for node in ast.walk(function)
        )
    )


def only_cleanup(try_node: ast.Try) -> bool:
    """Return True when the `try` only releases things (close, unlink, cancel)."""
    return releases(try_node.body)


def releases(body: list[ast.stmt]) -> bool:
    """Return True when every statement is a cleanup call or an `if` of them."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            # `close(); if not nowait: await wait_closed()`: still only release.
            if (
                not any(isinstance(node, ast.Call) for node in ast.walk(stmt.test))
                and releases(stmt.body)
                and releases(stmt.orelse)
            ):
                continue
            return False
        value = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(value, ast.Await):
            value = value.value
        if not (isinstance(value, ast.Call) and is_cleanup(call_name(value))):
            return False
    return True


def uses_exception(handler: ast.ExceptHandler) -> bool:
    """Return True when the caught exception is kept or handed on outside a log call."""
    name = handler.name
    if name is None:
        return False
    for node in _nodes_outside_logs(handler.body):
        value = getattr(node, "value", None)
        if (
            isinstance(node, ast.Assign | ast.AugAssign | ast.Return)
            and value is not None
            and mentions(value, name)
        ):
            return True
        if isinstance(node, ast.Call) and any(
            mentions(arg, name) for arg in (*node.args, *node.keywords)
        ):
            return True
    return False


def _nodes_outside_logs(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Yield the nodes of a handler body, not descending into log calls.

    `log.debug("failed: " + str(exc))` formats the exception into a log line:
    the `str(exc)` in it hands nothing on, so the log call alone decides.
    """
    stack: list[ast.AST] = [
        stmt for stmt in body if not isinstance(stmt, NESTED_SCOPES)
    ]
    while stack:
        node = stack.pop()
        if is_log_call(node):
            continue
        yield node
        stack.extend(
            child
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, NESTED_SCOPES)
        )
