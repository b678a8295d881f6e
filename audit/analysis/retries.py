"""Handlers whose failure the code around them tries again or hands on.

Pure predicates on the block that holds a `try` (`enclosing_blocks`), used by
the silent-failure checks: a loop over candidates that raises when they run
out, a retry loop that raises when it gives up, and a straight run of ways to
the answer each in its own `try`, leave no failure lost.
"""

from __future__ import annotations

import ast


def next_candidate(try_node: ast.Try, chain: list[list[ast.stmt]]) -> bool:
    """Return True for a `try` that ends the loop on success, in a loop whose
    exhaustion raises right after it (or in its `else:`)."""
    if len(chain) < 2 or not isinstance(try_node.body[-1], ast.Return | ast.Break):
        return False
    body, outer = chain[-1], chain[-2]
    for index, stmt in enumerate(outer):
        if isinstance(stmt, ast.For | ast.AsyncFor | ast.While) and stmt.body is body:
            following = outer[index + 1] if index + 1 < len(outer) else None
            return isinstance(following, ast.Raise) or any(
                isinstance(line, ast.Raise) for line in stmt.orelse
            )
    return False


def next_alternative(try_node: ast.Try, chain: list[list[ast.stmt]]) -> bool:
    """Return True for a `try` that returns on success, followed right away by
    another `try` that returns: a failed first way leaves the answer to the next
    (`return IPv4Address(x)`, then `return IPv6Address(x)`)."""
    if not isinstance(try_node.body[-1], ast.Return):
        return False
    block = chain[-1] if chain else []
    for index, stmt in enumerate(block):
        if stmt is try_node:
            following = block[index + 1] if index + 1 < len(block) else None
            return isinstance(following, ast.Try) and any(
                isinstance(line, ast.Return) for line in following.body
            )
    return False


def retried_until_raise(try_node: ast.Try, chain: list[list[ast.stmt]]) -> bool:
    """Return True for a `try` that ends the loop on success, in a loop whose
    body checks, before the `try`, a condition that raises: each failure is
    retried and the one that gives up is raised, so none is lost."""
    if len(chain) < 2 or not isinstance(try_node.body[-1], ast.Return | ast.Break):
        return False
    body, outer = chain[-1], chain[-2]
    if not any(
        isinstance(stmt, ast.For | ast.AsyncFor | ast.While) and stmt.body is body
        for stmt in outer
    ):
        return False
    for stmt in body:
        if stmt is try_node:
            return False
        if isinstance(stmt, ast.If) and any(
            isinstance(line, ast.Raise) for line in stmt.body
        ):
            return True
    return False
