"""What the statements around a `try` say about its handler's silence.

The first two need the block that holds the `try`; it is looked for only for
a handler about to be reported, so the search costs nothing on the handlers
that are fine. The others read the `try`, the handler and the function:

* a best-effort step right before a `raise` is on an error path already being
  reported (`try: save_for_later(paths) except Exception: pass` then `raise
  ParameterError(...)`): its own failure cannot change the outcome;
* a narrow handler that only passes after a default was bound before the `try`
  keeps that default on purpose (`colors = 256; try: colors = probe() except
  curses.error: pass`): the miss of a probe or look-up;
* a broad handler that substitutes literals for what the platform cannot tell
  (`try: uid = os.geteuid() except Exception: uid = 0`) is feature detection;
* a `try` whose only step calls a function the running Python's built-in
  modules lack (`try: sys.exc_clear() except Exception: pass`) is a shim for
  another Python version: here the call cannot run, so nothing is lost;
* a function whose docstring says it answers None (or False) when something is
  absent gives that answer from its handler on purpose ("Return the agent's
  connection, or None if none is running.");
* a `try` that only closes what its function wrote to is not mere cleanup:
  closing flushes, so a failure there loses the data written (RUBRIC.md, "lost
  work").
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from collections.abc import Iterator

from audit.analysis.impact import call_name
from audit.analysis.intent import Scope

# Queries of the running system that some platforms lack or refuse (no effective
# ids on Windows, no terminal size in a pipe): failing is the answer "unknown".
_PLATFORM_QUERIES = frozenset(
    {
        "geteuid",
        "getegid",
        "getuid",
        "getgid",
        "getgroups",
        "getlogin",
        "getpwuid",
        "getpwnam",
        "getgrgid",
        "getgrnam",
        "uname",
        "cpu_count",
        "sched_getaffinity",
        "getloadavg",
        "get_terminal_size",
        "ttyname",
        "sysconf",
        "getpriority",
        "getrlimit",
        "getwindowsversion",
        "getpreferredencoding",
        "getlocale",
    }
)
# Modules whose functions (those above) answer questions about the running
# system; every function of `platform` does.
_PLATFORM_MODULES = frozenset(
    {"os", "pwd", "grp", "sys", "locale", "shutil", "resource"}
)
# A docstring that names None or False as the answer for "absent" or "failed".
_ABSENT_ANSWER_RE = re.compile(
    r"\b(?:or|returns?|else|otherwise)\s+`*(?:None|False)\b"
    r"|\b(?:None|False)`*\s+(?:if|when|on|otherwise)\b"
)
# Calls that put data into a stream or socket that a later close() flushes.
_WRITE_CALLS = frozenset({"write", "writelines", "send", "sendall", "print"})
_CLOSE_CALLS = frozenset({"close", "aclose"})
_BLOCK_FIELDS = ("body", "orelse", "finalbody")
_FUNCTION_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _child_blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    """Yield the statement lists directly under stmt (bodies, branches, handlers)."""
    for name in _BLOCK_FIELDS:
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    for case in getattr(stmt, "cases", ()):
        yield case.body


def enclosing_blocks(
    try_node: ast.Try, scope: Scope, module: ast.Module
) -> list[list[ast.stmt]]:
    """Return the statement lists from the scope's body down to the one holding
    try_node, outermost first (empty if not found).

    Only statements whose lines span the `try` are entered, so the search
    visits one path of the tree. A class body belongs to the module's scope.
    """
    root = scope.function.body if scope.function is not None else module.body
    chain = [root]
    line = try_node.lineno
    while True:
        block = chain[-1]
        if any(stmt is try_node for stmt in block):
            return chain
        parent = next(
            (
                stmt
                for stmt in block
                if stmt.lineno <= line <= (stmt.end_lineno or stmt.lineno)
                and not isinstance(stmt, _FUNCTION_SCOPES)
            ),
            None,
        )
        if parent is None:
            return []
        inner = next(
            (
                sub
                for sub in _child_blocks(parent)
                if sub[0].lineno <= line <= (sub[-1].end_lineno or sub[-1].lineno)
            ),
            None,
        )
        if inner is None:
            return []
        chain.append(inner)


def followed_by_raise(try_node: ast.Try, chain: list[list[ast.stmt]]) -> bool:
    """Return True when the statement right after the `try` raises."""
    block = chain[-1] if chain else []
    for index, stmt in enumerate(block):
        if stmt is try_node:
            following = block[index + 1] if index + 1 < len(block) else None
            return isinstance(following, ast.Raise)
    return False


def keeps_prior_default(try_node: ast.Try, chain: list[list[ast.stmt]]) -> bool:
    """Return True when every name the `try` binds was bound before it.

    `colors = 256` then `try: colors = tigetnum("colors") except curses.error:
    pass`: the handler leaves the default in place, the probe's other answer.
    Bindings count in the `try`'s block and in the blocks around it, above it.
    """
    bound = {
        target.id
        for stmt in try_node.body
        if isinstance(stmt, ast.Assign)
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }
    if not bound:
        return False
    before: set[str] = set()
    for block in chain:
        for stmt in block:
            if stmt.lineno >= try_node.lineno:
                break
            if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                targets = (
                    stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                )
                before.update(t.id for t in targets if isinstance(t, ast.Name))
    return bound <= before


def platform_probe(try_node: ast.Try, handler_body: list[ast.stmt]) -> bool:
    """Return True for OS queries in the `try` and only literals in the handler."""
    calls = [
        node
        for stmt in try_node.body
        for node in ast.walk(stmt)
        if isinstance(node, ast.Call)
    ]
    if not calls or not all(_is_platform_query(call) for call in calls):
        return False
    return bool(handler_body) and all(
        isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
        for stmt in handler_body
    )


def _is_platform_query(call: ast.Call) -> bool:
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return False
    module = func.value.id
    return module == "platform" or (
        module in _PLATFORM_MODULES and func.attr in _PLATFORM_QUERIES
    )


def missing_api_shim(try_node: ast.Try) -> bool:
    """Return True when the `try` only calls a built-in module's absent function.

    Only modules built into the interpreter are looked at: importing them runs
    no code of the analyzed project or of any installed package.
    """
    if len(try_node.body) != 1 or not isinstance(try_node.body[0], ast.Expr):
        return False
    call = try_node.body[0].value
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id in sys.builtin_module_names
    ):
        return False
    module = importlib.import_module(call.func.value.id)
    return not hasattr(module, call.func.attr)


def documents_absent_answer(handler: ast.ExceptHandler, scope: Scope) -> bool:
    """Return True when the handler only returns the None/False its docstring promises.

    A handler that also logs or substitutes something is judged by what it does.
    """
    if len(handler.body) != 1 or not isinstance(handler.body[0], ast.Return):
        return False
    value = handler.body[0].value
    if not (
        value is None
        or (isinstance(value, ast.Constant) and value.value in (None, False))
    ):
        return False
    function = scope.function
    docstring = ast.get_docstring(function) if function is not None else None
    return bool(docstring) and bool(_ABSENT_ANSWER_RE.search(docstring))


def closes_written(try_node: ast.Try, scope: Scope) -> bool:
    """Return True when the `try` closes something its function wrote to."""
    return body_closes_written(try_node.body, scope)


def body_closes_written(body: list[ast.stmt], scope: Scope) -> bool:
    """Return True when a block closes something its function wrote to."""
    closed = {
        ast.unparse(node.func.value)
        for stmt in body
        for node in ast.walk(stmt)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _CLOSE_CALLS
    }
    if not closed or scope.function is None:
        return False
    for node in ast.walk(scope.function):
        if not isinstance(node, ast.Call) or call_name(node) not in _WRITE_CALLS:
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and ast.unparse(func.value) in closed:
            return True
        if any(
            keyword.arg == "file" and ast.unparse(keyword.value) in closed
            for keyword in node.keywords
        ):
            return True
    return False
