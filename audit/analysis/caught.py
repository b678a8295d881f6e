"""The exception types a handler catches, module-level tuples of them resolved."""

from __future__ import annotations

import ast

BROAD_NAMES = frozenset({"Exception", "BaseException"})


def exception_names(node: ast.expr | None, tuples: dict[str, list[str]]) -> set[str]:
    """Return the last names of the caught exception types, tuples resolved."""
    if node is None:
        return set()
    if isinstance(node, ast.Tuple):
        return set().union(*(exception_names(elt, tuples) for elt in node.elts))
    if isinstance(node, ast.BinOp):
        return exception_names(node.left, tuples) | exception_names(node.right, tuples)
    if isinstance(node, ast.Name):
        return set(tuples.get(node.id, [node.id]))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def exception_tuples(module: ast.Module) -> dict[str, list[str]]:
    """Return module-level names bound to tuples of exception types.

    Module level includes the bodies of top-level `if` and `try` statements
    (`try: import ssl … HTTP_ERRORS = (…) except ImportError: …`).
    """
    found: dict[str, list[str]] = {}
    for stmt in _module_statements(module):
        if isinstance(stmt, ast.Assign) and isinstance(
            stmt.value, ast.Tuple | ast.BinOp
        ):
            names = exception_names(stmt.value, found)
            for target in stmt.targets:
                if isinstance(target, ast.Name) and names:
                    found[target.id] = sorted(names)
    return found


def _module_statements(module: ast.Module) -> list[ast.stmt]:
    """Return the module's statements, those of top-level if/try blocks included."""
    found, pending = [], list(module.body)
    while pending:
        stmt = pending.pop(0)
        found.append(stmt)
        if isinstance(stmt, ast.If | ast.Try | ast.TryStar):
            pending[:0] = [
                *stmt.body,
                *getattr(stmt, "orelse", []),
                *(
                    line
                    for handler in getattr(stmt, "handlers", [])
                    for line in handler.body
                ),
                *getattr(stmt, "finalbody", []),
            ]
    return found


def is_broad_type(
    node: ast.expr | None, tuples: dict[str, list[str]] | None = None
) -> bool:
    """Return True for `Exception`, `BaseException` or a tuple containing one."""
    return not BROAD_NAMES.isdisjoint(exception_names(node, tuples or {}))
