"""Silent-failure checks: exception handlers and suppressors that hide errors."""

from __future__ import annotations

import ast
from collections.abc import Iterator

_BROAD_NAMES = frozenset({"Exception", "BaseException"})
_LOG_METHODS = frozenset(
    {
        "debug",
        "info",
        "warning",
        "warn",
        "error",
        "critical",
        "fatal",
        "exception",
        "log",
    }
)
_TRACEBACK_FUNCS = frozenset(
    {"print_exc", "format_exc", "print_exception", "format_exception", "exc_info"}
)
_EXIT_FUNCS = frozenset({"exit", "_exit", "abort"})
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_LOGGING_DEBUG_LEVEL = 10


def is_broad_type(node: ast.expr | None) -> bool:
    """Return True for `Exception`, `BaseException` or a tuple containing one."""
    if node is None:
        return False
    if isinstance(node, ast.Tuple):
        return any(is_broad_type(elt) for elt in node.elts)
    if isinstance(node, ast.Name):
        return node.id in _BROAD_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in _BROAD_NAMES and isinstance(node.value, ast.Name)
    return False


def _body_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Yield every node of the handler body, not descending into nested scopes."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(
            child
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, _NESTED_SCOPES)
        )


def _is_silent_statement(stmt: ast.stmt) -> bool:
    """Return True for pass, `...`, a bare string, continue, return and return None."""
    if isinstance(stmt, ast.Pass | ast.Continue):
        return True
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant)
    if isinstance(stmt, ast.Return):
        value = stmt.value
        return value is None or (
            isinstance(value, ast.Constant) and value.value is None
        )
    return False


def _receiver_is_logger(node: ast.expr) -> bool:
    """Return True when an attribute receiver looks like a logger or `logging`."""
    if isinstance(node, ast.Name):
        return "log" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "log" in node.attr.lower()
    return False


def _is_debug_level(call: ast.Call) -> bool:
    """Return True when a log call is at debug level."""
    method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if method == "debug":
        return True
    if method == "log" and call.args:
        level = call.args[0]
        if isinstance(level, ast.Attribute):
            return level.attr == "DEBUG"
        if isinstance(level, ast.Constant):
            return level.value == _LOGGING_DEBUG_LEVEL
    return False


def _has_exc_info(call: ast.Call) -> bool:
    """Return True when a log call records the traceback."""
    if isinstance(call.func, ast.Attribute) and call.func.attr == "exception":
        return True
    for keyword in call.keywords:
        if keyword.arg in {"exc_info", "stack_info"}:
            value = keyword.value
            return not (isinstance(value, ast.Constant) and not value.value)
    return False


def _mentions(node: ast.AST, name: str | None) -> bool:
    """Return True when node reads the variable `name`."""
    if name is None:
        return False
    return any(
        isinstance(child, ast.Name) and child.id == name for child in ast.walk(node)
    )


def _is_default_value(node: ast.expr | None) -> bool:
    """Return True for a literal or a plain name: a default, not an error value."""
    if node is None or isinstance(node, ast.Constant | ast.Name):
        return True
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return all(_is_default_value(elt) for elt in node.elts)
    if isinstance(node, ast.Dict):
        return not node.keys
    return False


def _reports_failure(func: ast.Attribute) -> bool:
    """Return True for traceback capture (`traceback.print_exc`) or `sys.exit`."""
    if func.attr in _TRACEBACK_FUNCS:
        return True
    receiver = func.value
    return (
        func.attr in _EXIT_FUNCS
        and isinstance(receiver, ast.Name)
        and receiver.id in {"sys", "os"}
    )


def _handler_commented(handler: ast.ExceptHandler, lines: list[str]) -> bool:
    """Return True when the handler's lines carry a comment.

    A body of only pass/continue holds no string literal, so any `#` is a comment.
    """
    end = handler.end_lineno or handler.lineno
    return any("#" in line for line in lines[handler.lineno - 1 : end])


def handler_code(handler: ast.ExceptHandler, lines: list[str]) -> str | None:
    """Return the rule code an exception handler violates, or None."""
    bare = handler.type is None
    broad = bare or is_broad_type(handler.type)
    silent_body = all(_is_silent_statement(stmt) for stmt in handler.body)
    if not broad:
        only_ignore = all(
            isinstance(stmt, ast.Pass | ast.Continue)
            or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
            for stmt in handler.body
        )
        if only_ignore and not _handler_commented(handler, lines):
            return "AUD007"
        return None
    log_calls: list[ast.Call] = []
    returns: list[ast.Return] = []
    reports = False
    for node in _body_nodes(handler.body):
        if isinstance(node, ast.Raise):
            return None
        if isinstance(node, ast.Return):
            returns.append(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if _reports_failure(node.func):
                reports = True
            elif node.func.attr in _LOG_METHODS and _receiver_is_logger(
                node.func.value
            ):
                log_calls.append(node)
    if silent_body:
        return "AUD002"
    if bare:
        return "AUD001"
    if reports:
        return None
    return _broad_code(handler, log_calls, returns)


def _broad_code(
    handler: ast.ExceptHandler, log_calls: list[ast.Call], returns: list[ast.Return]
) -> str | None:
    """Classify a broad handler that neither re-raises nor is only silent."""
    loud_logs = [call for call in log_calls if not _is_debug_level(call)]
    if log_calls and not loud_logs:
        return "AUD005"
    if any(_has_exc_info(call) for call in loud_logs):
        return None
    if loud_logs:
        if any(_mentions(call, handler.name) for call in loud_logs):
            return None
        return "AUD006"
    if any(_mentions(stmt, handler.name) for stmt in handler.body):
        return None
    if returns and not all(_is_default_value(ret.value) for ret in returns):
        return None
    return "AUD003"


def suppress_is_broad(call: ast.Call) -> bool:
    """Return True for `suppress(Exception)` / `contextlib.suppress(BaseException)`."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "suppress" and any(is_broad_type(arg) for arg in call.args)
