"""What the body of a handler that neither re-raises nor passes in silence says.

Pure classifiers used by `silent.handler_code` once the intent patterns around
the `try` are ruled out: a narrow handler is reported only for an unexplained
ignore, a broad one for a fallback, a debug-only line or a log line without
the exception.
"""

from __future__ import annotations

import ast

from audit.analysis.context import closes_written
from audit.analysis.followup import checked_later, overwrites_unreadable
from audit.analysis.intent import (
    Scope,
    expected,
    mentions,
    only_cleanup,
    uses_exception,
)
from audit.analysis.logcalls import has_exc_info, is_debug_level, is_log_call
from audit.analysis.outcomes import absent_on_delete

# Exceptions of failed I/O: a read, a write, a request, a connection.
_IO_ERRORS = frozenset(
    {
        "OSError",
        "IOError",
        "EnvironmentError",
        "error",
        "ConnectionError",
        "BrokenPipeError",
        "ConnectionResetError",
        "HTTPError",
        "URLError",
        "RequestException",
        "SSLError",
    }
)
# Errors that mean the file is not there: nothing of it can be lost.
_ABSENT_FILE_ERRORS = frozenset({"FileNotFoundError", "NotADirectoryError"})


def narrow_code(
    handler: ast.ExceptHandler,
    try_node: ast.Try,
    names: set[str],
    body: list[ast.stmt],
    scope: Scope,
) -> str | None:
    """Classify a narrow handler: only an unexplained ignore is reported.

    A `try` with an `else:` makes the exception one of two expected outcomes
    (`try: v = to_python(x) except ValidationError: pass else: use(v)`).
    Substituting a literal (`self.result = 0`) or only a debug line counts as
    ignoring only for I/O errors, where it hides lost data or a failed action;
    for a domain error it is the look-up idiom (`except FieldError: field = None`).
    """
    if (
        not names <= _ABSENT_FILE_ERRORS
        and body
        and all(isinstance(stmt, ast.Assign) for stmt in body)
        and overwrites_unreadable(try_node, scope)
    ):
        return "AUD007"
    if expected(names) or try_node.orelse or absent_on_delete(names, try_node):
        return None
    if _sorts_current_error(try_node):
        return None
    if only_cleanup(try_node) and not closes_written(try_node, scope):
        return None
    if scope.in_loop and body and isinstance(body[-1], ast.Continue):
        # `except SomeError: [flag = True;] continue` in a loop skips the item
        # or retries on purpose.
        return None
    substitutes = not names.isdisjoint(_IO_ERRORS)
    ignores = all(
        isinstance(stmt, ast.Pass | ast.Continue)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
        or (
            # A failed I/O noted only at debug: gone in production.
            substitutes
            and isinstance(stmt, ast.Expr)
            and is_log_call(stmt.value)
            and is_debug_level(stmt.value)  # type: ignore[arg-type]
        )
        or (
            substitutes
            and isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Constant)
            and all(
                isinstance(target, ast.Attribute | ast.Name) for target in stmt.targets
            )
        )
        for stmt in body
    )
    if ignores and body and not checked_later(body, scope):
        return "AUD007"
    return None


def _sorts_current_error(try_node: ast.Try) -> bool:
    """Return True for `try: raise` then handlers that sort the error being handled.

    An error handler re-raising the current exception to pick a branch by its
    type chose, per type, what to log: a branch that passes is that choice.
    """
    return (
        len(try_node.body) == 1
        and isinstance(try_node.body[0], ast.Raise)
        and try_node.body[0].exc is None
        and len(try_node.handlers) > 1
    )


def broad_code(handler: ast.ExceptHandler, log_calls: list[ast.Call]) -> str | None:
    """Classify a broad handler that neither re-raises, reports nor only passes."""
    loud_logs = [call for call in log_calls if not is_debug_level(call)]
    if uses_exception(handler):
        return None
    if log_calls and not loud_logs:
        return "AUD005"
    if any(has_exc_info(call) for call in loud_logs):
        return None
    if loud_logs:
        if any(mentions(call, handler.name) for call in loud_logs):
            return None
        return "AUD006"
    if any(mentions(stmt, handler.name) for stmt in handler.body):
        return None
    return "AUD003"
