"""Outcomes the shape of the code makes expected, or makes visible, to the reader.

Each predicate reads the `try`, its handler, the block around it or the module,
and stands for one exemption (or one miss) of README "Silent failures":

* a non-blocking call that would block is the expected answer of two idioms: a
  non-blocking `connect()` always raises before the `accept()` or `select()`
  that completes it, and a wake-up byte written to a full self-pipe or socket
  pair finds a wake-up already pending;
* `for c in candidates: try: return use(c) except …: pass` followed by a
  `raise` after the loop tries the next candidate, and the exhaustion of all of
  them is reported there;
* a destructor (`__del__`) has no caller to report to: what it releases on a
  best-effort basis cannot change any outcome;
* a handler that only stores a value stating the failure
  (`result = UNSERIALIZABLE_PAYLOAD`, `obj["x"] = "Unserializable value"`)
  substitutes a marker the reader sees, not a silent fallback;
* `suppress(ConnectionError)` around a write (`pipeline.execute()`) drops the
  data the caller believes was written (RUBRIC.md, "lost work");
* `suppress(Exception)` around a release only (`await self._cancel_tasks(exc)`)
  is best-effort cleanup, as a handler that passes around one is;
* a handler that only binds names the function then reads only in log lines
  (`except Exception: peer = "(not connected)"` then `log.warning(..., peer)`)
  substitutes a label of the message being written: nothing else is lost;
* a deletion that fails because the thing is not there (`try:
  client.delete(path) except NoNodeError: pass`) leaves what the deletion
  wanted: `No<Thing>` exceptions say "absent" as `NotFound` does.
"""

from __future__ import annotations

import ast

from audit.analysis.constants import NUMBER_CONVERSIONS
from audit.analysis.context import body_closes_written
from audit.analysis.impact import call_name
from audit.analysis.intent import Scope, justified, releases, try_commented
from audit.analysis.logcalls import is_log_call

# What a call raises when a non-blocking socket or pipe would block.
_WOULD_BLOCK = frozenset({"BlockingIOError", "InterruptedError"})
_CONNECT_CALLS = frozenset({"connect", "connect_ex"})
_WAKE_CALLS = frozenset({"send", "write", "sendall"})
# Words of a string or a constant's name that state a failure to whoever reads
# the value later.
_MARKER_WORDS = (
    "unserializ",
    "undecodable",
    "unreadable",
    "unparsable",
    "unparseable",
    "invalid",
    "error",
    "failed",
    "unavailable",
)
# Calls that commit data to a store: a broad handler that only passes around
# one loses the write, whatever a comment says about carrying on.
_STORE_CALLS = frozenset({"execute", "commit", "save"})
# Name beginnings of calls that delete: their goal is that the thing is gone.
_DELETE_CALLS = ("delete", "remove", "unlink", "rmtree", "rmdir", "discard")
# Names that never are the given value itself.
_NOT_VALUES = frozenset({"self", "cls"})
# What a conversion of a bad text raises.
CONVERSION_ERRORS = frozenset({"ValueError", "TypeError", "AttributeError"})
# Errors of failed I/O that, suppressed around a write, lose the data.
_WRITE_IO_ERRORS = frozenset(
    {"OSError", "IOError", "ConnectionError", "BrokenPipeError", "TimeoutError"}
)
# Calls that write data somewhere (a store, a socket, a file, a transaction).
_WRITE_CALLS = frozenset(
    {
        "execute",
        "commit",
        "save",
        "write",
        "send",
        "sendall",
        "flush",
        "publish",
    }
)


def would_block_expected(
    names: set[str], try_node: ast.Try, module: ast.Module
) -> bool:
    """Return True for `except BlockingIOError` around a non-blocking connect or
    around a one-byte wake-up write."""
    if not names or not names <= _WOULD_BLOCK or len(try_node.body) != 1:
        return False
    stmt = try_node.body[0]
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    if not isinstance(call, ast.Call):
        return False
    name = call_name(call)
    if name in _CONNECT_CALLS:
        return True
    return (
        name in _WAKE_CALLS
        and len(call.args) == 1
        and _is_wake_byte(call.args[0], module)
    )


def _is_wake_byte(node: ast.expr, module: ast.Module) -> bool:
    """Return True for a literal of at most one byte, or a module name bound to one."""
    if isinstance(node, ast.Name):
        for stmt in module.body:
            if (
                isinstance(stmt, ast.Assign)
                and any(
                    isinstance(target, ast.Name) and target.id == node.id
                    for target in stmt.targets
                )
                and isinstance(stmt.value, ast.Constant)
            ):
                node = stmt.value
                break
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, bytes | str)
        and len(node.value) <= 1
    )


def in_destructor(scope: Scope) -> bool:
    """Return True inside `__del__`."""
    function = scope.function
    return function is not None and function.name == "__del__"


def states_failure(body: list[ast.stmt]) -> bool:
    """Return True when the handler only stores values that name the failure."""
    return bool(body) and all(
        isinstance(stmt, ast.Assign) and _is_marker(stmt.value) for stmt in body
    )


def _is_marker(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.Name) and node.id.isupper():
        text = node.id
    elif isinstance(node, ast.Attribute) and node.attr.isupper():
        text = node.attr
    else:
        return False
    lowered = text.lower()
    return any(word in lowered for word in _MARKER_WORDS)


def suppress_releases(guarded: list[ast.stmt], scope: Scope) -> bool:
    """Return True when a `suppress` guards only the release of something.

    Closing what the function wrote is a write, and stays reported.
    """
    return (
        bool(guarded) and releases(guarded) and not body_closes_written(guarded, scope)
    )


def display_fallback(
    handler: ast.ExceptHandler,
    try_node: ast.Try,
    scope: Scope,
    aliases: frozenset[str] = frozenset(),
) -> bool:
    """Return True when the handler's substitutes are read only in log lines.

    `try: peer = sock.getpeername() except Exception: peer = "(not connected)"`
    then `log.warning("SSL error on %s", peer)`: the fallback names something in
    a message about another failure; no result, send or write depends on it.
    """
    function = scope.function
    body = handler.body
    if function is None or not body:
        return False
    names: set[str] = set()
    for stmt in body:
        if not isinstance(stmt, ast.Assign) or not all(
            isinstance(target, ast.Name) for target in stmt.targets
        ):
            return False
        names.update(target.id for target in stmt.targets)  # type: ignore[attr-defined]
    end = try_node.end_lineno or try_node.lineno
    reads = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Name)
        and node.id in names
        and isinstance(node.ctx, ast.Load)
        and node.lineno > end
    ]
    logged = {
        id(node)
        for call in ast.walk(function)
        if isinstance(call, ast.Call)
        and call.lineno > end
        and (is_log_call(call, aliases) or "log" in call_name(call).lower())
        for node in ast.walk(call)
    }
    return bool(reads) and all(id(node) in logged for node in reads)


def suppress_hides_write(call: ast.Call, guarded: list[ast.stmt]) -> bool:
    """Return True for `suppress(<I/O error>)` around a call that writes data."""
    caught = {
        arg.attr if isinstance(arg, ast.Attribute) else getattr(arg, "id", "")
        for arg in call.args
    }
    if caught.isdisjoint(_WRITE_IO_ERRORS):
        return False
    return any(
        isinstance(node, ast.Call) and call_name(node) in _WRITE_CALLS
        for stmt in guarded
        for node in ast.walk(stmt)
    )


def stores_data(try_node: ast.Try) -> bool:
    """Return True when the `try` commits data to a store (`execute`, `commit`)."""
    return any(
        isinstance(node, ast.Call) and call_name(node) in _STORE_CALLS
        for stmt in try_node.body
        for node in ast.walk(stmt)
    )


def may_drop_given_input(handler: ast.ExceptHandler, try_node: ast.Try) -> bool:
    """Return True for `try: opts[k] = int(text) except ValueError: pass`.

    Only the shape: whether `text` was given is asked of the block around the
    `try` (`given_input_dropped`), searched only for this shape.
    """
    if try_node.orelse or len(try_node.body) != 1:
        return False
    if not all(isinstance(stmt, ast.Pass) for stmt in handler.body):
        return False
    stmt = try_node.body[0]
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Subscript | ast.Attribute)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id in NUMBER_CONVERSIONS
    )


def given_input_dropped(try_node: ast.Try, chain: list[list[ast.stmt]]) -> bool:
    """Return True when the `try` runs only if the value it converts was given.

    `if url.path: try: kwargs["db"] = int(url.path) except ValueError: pass`:
    the value is present but invalid, and the handler drops it for the default
    without a word (RUBRIC.md: a look-up's fallback means "absent", not
    "wrong").
    """
    if len(chain) < 2:
        return False
    block, outer = chain[-1], chain[-2]
    guard = next(
        (stmt for stmt in outer if isinstance(stmt, ast.If) and stmt.body is block),
        None,
    )
    if guard is None:
        return False
    converted = try_node.body[0].value  # type: ignore[attr-defined]
    used = _references(converted)
    return not used.isdisjoint(_references(guard.test))


def comment_shared(
    try_node: ast.Try, chain: list[list[ast.stmt]], lines: list[str]
) -> bool:
    """Return True when a comment covers the `try` from the statement around it
    or from its twin right before it.

    A comment above a loop whose whole body is the `try` sits above the `try`
    in all but indentation; a `try` with the same handlers and the same calls
    right after a commented one repeats the same step (`# set the library name
    and version` above two `try`s, one per name).
    """
    if not chain:
        return False
    block = chain[-1]
    if len(chain) >= 2 and block == [try_node]:
        owner = next(
            (
                stmt
                for stmt in chain[-2]
                if isinstance(stmt, ast.For | ast.AsyncFor | ast.While | ast.With)
                and stmt.body is block
            ),
            None,
        )
        if owner is not None and _comment_above(owner, lines):
            return True
    index = next(i for i, stmt in enumerate(block) if stmt is try_node)
    before = block[index - 1] if index else None
    return (
        isinstance(before, ast.Try)
        and [ast.dump(h.type) for h in before.handlers if h.type]
        == [ast.dump(h.type) for h in try_node.handlers if h.type]
        and _calls(before) == _calls(try_node)
        and any(try_commented(before, h, lines) for h in before.handlers)
    )


def _calls(try_node: ast.Try) -> list[str]:
    """Return the names of the calls of a `try` body: its step, arguments aside."""
    return [
        call_name(node)
        for stmt in try_node.body
        for node in ast.walk(stmt)
        if isinstance(node, ast.Call)
    ]


def _comment_above(stmt: ast.stmt, lines: list[str]) -> bool:
    above = stmt.lineno - 1
    while above >= 1 and lines[above - 1].strip().startswith("#"):
        above -= 1
    return justified(lines, above + 1, stmt.lineno)


def _references(node: ast.expr) -> set[str]:
    """Return the names and attributes in node that can hold a value (not the
    functions it calls, not `self`)."""
    functions = {id(call.func) for call in ast.walk(node) if isinstance(call, ast.Call)}
    return {
        ast.unparse(child)
        for child in ast.walk(node)
        if id(child) not in functions
        and (
            isinstance(child, ast.Attribute)
            or (isinstance(child, ast.Name) and child.id not in _NOT_VALUES)
        )
    }


def absent_on_delete(names: set[str], try_node: ast.Try) -> bool:
    """Return True for `No<Thing>` errors of a `try` that only deletes."""
    if not names or not all(
        name.startswith("No") and name[2:3].isupper() for name in names
    ):
        return False
    if len(try_node.body) != 1 or not isinstance(try_node.body[0], ast.Expr):
        return False
    call = try_node.body[0].value
    if isinstance(call, ast.Await):
        call = call.value
    return isinstance(call, ast.Call) and call_name(call).lower().startswith(
        _DELETE_CALLS
    )
