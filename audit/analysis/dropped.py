"""Failures dropped without a handler: lost tasks, ignored results, swallowing exits.

These lose an error as surely as `except Exception: pass`, but no handler shows it:
a task nobody keeps a reference to (its exception is only printed at garbage
collection, if ever), a helper's False/None ignored by its caller, an `__exit__`
that returns True, `gather(..., return_exceptions=True)` whose results nobody reads.
"""

from __future__ import annotations

import ast

from audit.analysis.followup import reports_loudly
from audit.analysis.impact import call_name
from audit.analysis.intent import expected, uses_exception

_TASK_FUNCS = frozenset({"create_task", "ensure_future"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _unawaited(node: ast.expr) -> ast.expr:
    return node.value if isinstance(node, ast.Await) else node


def discarded_task(stmt: ast.Expr) -> bool:
    """Return True for `asyncio.create_task(...)` as a statement: no reference kept."""
    value = stmt.value
    return isinstance(value, ast.Call) and call_name(value) in _TASK_FUNCS


def _is_failure_value(node: ast.expr) -> bool:
    """Return True for the constants False and None (by identity: not 0 or "")."""
    return isinstance(node, ast.Constant) and (
        node.value is False or node.value is None
    )


def _caught(node: ast.expr | None) -> set[str]:
    """Return the last names of the exception types a handler catches."""
    if isinstance(node, ast.Tuple):
        return set().union(*(_caught(elt) for elt in node.elts))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return {node.id} if isinstance(node, ast.Name) else set()


def _returns_failure(handler: ast.ExceptHandler) -> bool:
    """Return True when a handler of an error ends by returning False or None.

    An expected outcome (`except FileNotFoundError: return False`, "nothing to
    delete") is an answer, not a failure the caller must look at; a handler
    that records or logs the failure has already made it visible.
    """
    caught = _caught(handler.type)
    if caught and expected(caught):
        return False
    if uses_exception(handler) or reports_loudly(handler):
        # The handler recorded the failure (`self.record_error(exc)`, a
        # warning): the None that follows is not its only trace.
        return False
    last = handler.body[-1] if handler.body else None
    if not isinstance(last, ast.Return):
        return False
    value = last.value
    return value is None or _is_failure_value(value)


def _returns_success(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Return True when some return of function gives a value that is not None/False."""
    return any(
        isinstance(node, ast.Return)
        and node.value is not None
        and not _is_failure_value(node.value)
        for node in ast.walk(function)
    )


def is_error_returning(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Return True when function reports failure by returning instead of raising.

    It catches an exception and returns False or None, and returns something
    else on success: its caller must look.
    """
    return _returns_success(function) and any(
        isinstance(node, ast.ExceptHandler) and _returns_failure(node)
        for node in ast.walk(function)
    )


def local_call(stmt: ast.Expr) -> str | None:
    """Return the name of a same-module function or `self` method stmt calls.

    stmt drops what the call returns; None when it calls anything else.
    """
    value = _unawaited(stmt.value)
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    if isinstance(func, ast.Name):
        return func.id
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in {"self", "cls"}
    ):
        return func.attr
    return None


def exit_swallows(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Return]:
    """Return the `return True` statements of an `__exit__`/`__aexit__`."""
    if function.name not in {"__exit__", "__aexit__"}:
        return []
    return [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.Constant)
        and node.value.value is True
    ]


def _collects_exceptions(call: ast.Call) -> bool:
    return call_name(call) == "gather" and any(
        keyword.arg == "return_exceptions"
        and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value)
        for keyword in call.keywords
    )


def discarded_gather(stmt: ast.Expr) -> ast.Call | None:
    """Return the `gather(..., return_exceptions=True)` that stmt drops, if any."""
    value = _unawaited(stmt.value)
    return (
        value if isinstance(value, ast.Call) and _collects_exceptions(value) else None
    )


def assigned_gather(stmt: ast.Assign) -> tuple[ast.Call, str] | None:
    """Return the gather collecting exceptions that stmt binds to one name, if any."""
    value = _unawaited(stmt.value)
    target = stmt.targets[0] if len(stmt.targets) == 1 else None
    if (
        isinstance(value, ast.Call)
        and _collects_exceptions(value)
        and isinstance(target, ast.Name)
    ):
        return value, target.id
    return None


def reads(scope: ast.AST, name: str) -> bool:
    """Return True when the function or module scope reads name, nested defs aside."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        if isinstance(node, (*_FUNCTIONS, ast.Lambda)):
            continue
        if isinstance(node, ast.Name) and node.id == name:
            if isinstance(node.ctx, ast.Load):
                return True
        stack.extend(ast.iter_child_nodes(node))
    return False
