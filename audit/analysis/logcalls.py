"""Log calls: which calls log, at what level, and with the traceback or not.

Any logger API counts (stdlib, `self.log`, structlog, loguru, Twisted's
`log.err()`), and so does a project's own helper given a level first
(`self._log(DEBUG, msg)`).
"""

from __future__ import annotations

import ast

from audit.analysis.impact import call_name

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
        "msg",
        "err",
        "failure",
        "trace",
        "success",
        "notice",
        "alert",
    }
)
# Twisted's log.err and log.failure record the active failure with its traceback.
_TRACEBACK_LOG_METHODS = frozenset({"exception", "err", "failure"})
_LOGGING_DEBUG_LEVEL = 10
# Level names a logging helper is given first: `self._log(DEBUG, msg)`.
_LEVEL_NAMES = frozenset(
    {"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"}
)
_DEBUG_LEVEL_NAMES = frozenset({"TRACE", "DEBUG"})


def receiver_is_logger(node: ast.expr) -> bool:
    """Return True for a logger receiver: `log`, `self.logger`, `getLogger()`."""
    if isinstance(node, ast.Name):
        return "log" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "log" in node.attr.lower()
    if isinstance(node, ast.Call):
        return "log" in call_name(node).lower()
    return False


def logger_aliases(module: ast.Module) -> frozenset[str]:
    """Return the module-level names bound to a logger's methods.

    `crit, warning = logger.critical, logger.warning` or `error = log.error`
    at the top of a module: a call of `crit(...)` is a log call.
    """
    found = set()
    for stmt in module.body:
        if not isinstance(stmt, ast.Assign):
            continue
        for target in stmt.targets:
            pairs = [(target, stmt.value)]
            if isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                pairs = list(zip(target.elts, stmt.value.elts, strict=False))
            for name, value in pairs:
                if (
                    isinstance(name, ast.Name)
                    and isinstance(value, ast.Attribute)
                    and value.attr in _LOG_METHODS
                    and receiver_is_logger(value.value)
                ):
                    found.add(name.id)
    return frozenset(found)


def is_log_call(node: ast.AST, aliases: frozenset[str] = frozenset()) -> bool:
    """Return True for a call of a logging method on a logger (`log.err()` too).

    A project's own logging helper given a level first (`self._log(DEBUG, msg)`,
    `log_message(logging.INFO, ...)`) is a log call at that level, and so is a
    call of a name in aliases (see `logger_aliases`).
    """
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        if func.attr in _LOG_METHODS and receiver_is_logger(func.value):
            return True
        name = func.attr
    elif isinstance(func, ast.Name):
        if func.id in aliases:
            return True
        name = func.id
    else:
        return False
    return "log" in name.lower() and _level_name(node) is not None


def _level_name(call: ast.Call) -> str | None:
    """Return the level a call names first (`DEBUG`, `logging.INFO`), if any."""
    level = call.args[0] if call.args else None
    if isinstance(level, ast.Attribute):
        name = level.attr
    elif isinstance(level, ast.Name):
        name = level.id
    else:
        return None
    return name if name in _LEVEL_NAMES else None


def is_debug_level(call: ast.Call) -> bool:
    """Return True when a log call is at debug level."""
    method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if method in {"debug", "trace"}:
        return True
    if call.args and isinstance(call.args[0], ast.Constant):
        return method == "log" and call.args[0].value == _LOGGING_DEBUG_LEVEL
    return _level_name(call) in _DEBUG_LEVEL_NAMES


def has_exc_info(call: ast.Call) -> bool:
    """Return True when a log call records the traceback."""
    if (
        isinstance(call.func, ast.Attribute)
        and call.func.attr in _TRACEBACK_LOG_METHODS
    ):
        return True
    for keyword in call.keywords:
        if keyword.arg in {"exc_info", "stack_info"}:
            value = keyword.value
            return not (isinstance(value, ast.Constant) and not value.value)
    return False


def only_debug_tracebacks(body: list[ast.stmt]) -> bool:
    """Return True when a handler body only logs at debug level, with traceback."""
    return bool(body) and all(
        isinstance(stmt, ast.Expr)
        and is_log_call(stmt.value)
        and is_debug_level(stmt.value)  # type: ignore[arg-type]
        and has_exc_info(stmt.value)  # type: ignore[arg-type]
        for stmt in body
    )
