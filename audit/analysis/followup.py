"""What the code around a handler does with its outcome.

A handler is judged with what follows it: a fallback the code checks right
after is handled (`except OSError: st = None` then `if st is None: raise`); a
handler that reports its failure makes the cleanup nested in it secondary; a
file that failed to parse and is then overwritten loses its content.
"""

from __future__ import annotations

import ast

from audit.analysis.impact import call_name
from audit.analysis.intent import (
    NESTED_SCOPES,
    Scope,
    body_nodes,
    reports_failure,
    reports_to_caller,
)
from audit.analysis.logcalls import is_debug_level, is_log_call

_READ_METHODS = frozenset({"read_text", "read_bytes"})
_WRITE_METHODS = frozenset({"write_text", "write_bytes"})
_TESTS = (ast.If, ast.IfExp, ast.While, ast.Assert)


def reports_loudly(handler: ast.ExceptHandler) -> bool:
    """Return True when the handler logs above debug or reports to a caller or peer."""
    for node in body_nodes(handler.body):
        if not isinstance(node, ast.Call):
            continue
        if is_log_call(node):
            if not is_debug_level(node):
                return True
        elif reports_to_caller(node) or (
            isinstance(node.func, ast.Attribute | ast.Name)
            and reports_failure(node.func)
        ):
            return True
    return False


def nested_tries(handler: ast.ExceptHandler) -> list[ast.Try]:
    """Return the `try` statements of a handler's body (its own statements only).

    That is where a best-effort second step sits (`try: send_error(500)`); not
    looking deeper keeps the check off the cost of every handler.
    """
    return [stmt for stmt in handler.body if isinstance(stmt, ast.Try)]


def checked_later(body: list[ast.stmt], scope: Scope) -> bool:
    """Return True when every name the handler binds is tested by its function.

    `except OSError: st = None` followed by `if st is None:` turns the failure
    into a value the code looks at: it is handled, not hidden.
    """
    function = scope.function
    targets = {
        target.id
        for stmt in body
        if isinstance(stmt, ast.Assign)
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }
    if function is None or not targets:
        return False
    tested: set[str] = set()
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, NESTED_SCOPES):
            continue
        if isinstance(node, _TESTS):
            tested.update(
                name.id for name in ast.walk(node.test) if isinstance(name, ast.Name)
            )
        stack.extend(ast.iter_child_nodes(node))
    return targets <= tested


def _file_calls(nodes: list[ast.stmt] | ast.AST, writing: bool) -> set[str]:
    """Return the files (as source text) that nodes open for reading or writing.

    `open(f)`/`open(f, "rb")` and `p.read_text()` read; `open(f, "w")` and
    `p.write_text(...)` overwrite (appending loses nothing).
    """
    roots = nodes if isinstance(nodes, list) else [nodes]
    found = set()
    for node in (child for root in roots for child in ast.walk(root)):
        if not isinstance(node, ast.Call):
            continue
        name = call_name(node)
        if name == "open" and isinstance(node.func, ast.Name) and node.args:
            mode = node.args[1] if len(node.args) > 1 else None
            for keyword in node.keywords:
                if keyword.arg == "mode":
                    mode = keyword.value
            text = mode.value if isinstance(mode, ast.Constant) else "r"
            if not isinstance(text, str):
                continue
            if ("w" in text) == writing and not ({"a", "x", "+"} & set(text)):
                found.add(ast.unparse(node.args[0]))
        elif isinstance(node.func, ast.Attribute) and name in (
            _WRITE_METHODS if writing else _READ_METHODS
        ):
            found.add(ast.unparse(node.func.value))
    return found


def overwrites_unreadable(try_node: ast.Try, scope: Scope) -> bool:
    """Return True when the `try` reads a file that its function later overwrites.

    `try: data = json.load(open(f)) except (OSError, ValueError): data = []`
    followed by `open(f, "w")` replaces a file that exists but could not be
    parsed: whatever it held is gone, and nobody was told.
    """
    if scope.function is None:
        return False
    read = _file_calls(try_node.body, writing=False)
    return bool(read) and not read.isdisjoint(_file_calls(scope.function, writing=True))
