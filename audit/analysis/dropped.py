"""Failures dropped without a handler: lost tasks, ignored results, swallowing exits.

These lose an error as surely as `except Exception: pass`, but no handler shows it:
a task nobody keeps a reference to (its exception is only printed at garbage
collection, if ever), a helper's False/None ignored by its caller, an `__exit__`
that returns True, `gather(..., return_exceptions=True)` whose results nobody reads.
"""

from __future__ import annotations

import ast

from audit.analysis.impact import call_name

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


def _returns_failure(handler: ast.ExceptHandler) -> bool:
    """Return True when a handler ends by returning False or None."""
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


def error_returning_helpers(module: ast.Module) -> frozenset[str]:
    """Return the names of this module's functions that report failure by returning.

    Such a function catches an exception and returns False or None instead of
    raising, and returns something else on success: its caller must look.
    """
    names = set()
    for function in ast.walk(module):
        if not isinstance(function, _FUNCTIONS) or not _returns_success(function):
            continue
        if any(
            isinstance(node, ast.ExceptHandler) and _returns_failure(node)
            for node in ast.walk(function)
        ):
            names.add(function.name)
    return frozenset(names)


def ignored_helper(stmt: ast.Expr, helpers: frozenset[str]) -> str | None:
    """Return the helper's name when stmt calls one and drops what it returns."""
    value = _unawaited(stmt.value)
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    is_local = isinstance(func, ast.Name) or (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in {"self", "cls"}
    )
    name = call_name(value)
    return name if is_local and name in helpers else None


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


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """Return the nodes of a function or module outside its nested functions."""
    found, stack = [], list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        if isinstance(node, (*_FUNCTIONS, ast.Lambda)):
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _collects_exceptions(call: ast.Call) -> bool:
    return call_name(call) == "gather" and any(
        keyword.arg == "return_exceptions"
        and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value)
        for keyword in call.keywords
    )


def unchecked_gathers(
    function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Module,
) -> list[ast.Call]:
    """Return the `gather(..., return_exceptions=True)` calls whose results are unread.

    Unread: the call is a statement, or its result goes to a name that the
    function never reads.
    """
    found = []
    own = list(_own_nodes(function))
    loads = {
        node.id
        for node in own
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    for stmt in own:
        if isinstance(stmt, ast.Expr):
            value = _unawaited(stmt.value)
            if isinstance(value, ast.Call) and _collects_exceptions(value):
                found.append(value)
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            value = _unawaited(stmt.value)
            target = stmt.targets[0]
            if (
                isinstance(value, ast.Call)
                and _collects_exceptions(value)
                and isinstance(target, ast.Name)
                and target.id not in loads
            ):
                found.append(value)
    return found
