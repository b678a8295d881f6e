"""Tasks and gathers whose shape says their end is taken care of (AUD008, AUD011).

Each predicate stands for one exemption of README "AUD008" or "AUD011":

* `self.create_task(coro)` calls the object's own task method, not the event
  loop's: such a method exists to keep the task (in a set cancelled at close,
  with a done-callback); it is judged where it is defined. Only a passthrough
  defined in the same module (`def create_task(self, coro): return
  self.loop.create_task(coro)`) keeps nothing, and is still reported;
* a task whose coroutine is a release (`create_task(self._close())`, a local
  `close_writer_task()`) is best-effort cleanup run in the background, judged as
  a handler's best-effort cleanup is;
* a task started under a comment saying why it runs on its own;
* `gather(..., return_exceptions=True)` of tasks the function has just cancelled
  (`task.cancel()`, `future.throw(exc)`) waits for their end, which is the goal:
  the exceptions it collects are the cancellations it caused.
"""

from __future__ import annotations

import ast

from audit.analysis.impact import CLEANUP_NAMES, call_name
from audit.analysis.intent import justified

_TASK_FUNCS = frozenset({"create_task", "ensure_future"})
# What a function calls on a task or future to end it early.
_ENDING_CALLS = frozenset({"cancel", "throw"})
# What a function calls to collect tasks into a list or set.
_COLLECTING_CALLS = frozenset({"append", "add"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def task_accounted_for(
    stmt: ast.Expr, lines: list[str], module: ast.Module, qualname: str
) -> bool:
    """Return True when a dropped task statement is kept or needs no keeping.

    qualname is the statement's scope (`Channel.start`): a `self.create_task`
    is judged by the method of that class, or of a base defined in the module.
    """
    call = stmt.value
    if not isinstance(call, ast.Call):
        return False
    if justified(lines, stmt.lineno - 1, stmt.lineno):
        return True
    coroutine = call.args[0] if call.args else None
    if isinstance(coroutine, ast.Call) and _is_release(call_name(coroutine)):
        return True
    func = call.func
    if not (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in {"self", "cls"}
    ):
        return False
    classes = {
        node.name: node for node in module.body if isinstance(node, ast.ClassDef)
    }
    method = _method(classes, qualname.split(".", 1)[0], func.attr, set())
    return method is None or not _passthrough(method)


def _is_release(name: str) -> bool:
    """Return True for a coroutine that only releases (`_close`, `close_writer`).

    Only a release's own name counts, not a word of it: `_shutdown_watcher()`
    watches for the shutdown, a long-lived task that must be kept.
    """
    bare = name.lstrip("_").removeprefix("do_")
    return bare in CLEANUP_NAMES or bare.startswith("close_")


def _method(
    classes: dict[str, ast.ClassDef], class_name: str, name: str, seen: set[str]
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """Return the method name of a module class or of its bases in the module."""
    cls = classes.get(class_name)
    if cls is None or class_name in seen:
        return None
    seen.add(class_name)
    for stmt in cls.body:
        if isinstance(stmt, _FUNCTIONS) and stmt.name == name:
            return stmt
    for base in cls.bases:
        if isinstance(base, ast.Name):
            found = _method(classes, base.id, name, seen)
            if found is not None:
                return found
    return None


def _passthrough(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Return True for a method that only returns the event loop's new task."""
    body = [
        stmt
        for stmt in method.body
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
    ]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.Call)
        and call_name(body[0].value) in _TASK_FUNCS
    )


def gathers_cancelled(gather: ast.Call, function: ast.AST | None) -> bool:
    """Return True when every task gather waits for was ended by function first.

    `writer.cancel()` then `gather(writer, return_exceptions=True)`; or
    `future.throw(exc); tasks.append(future)` then `gather(*tasks, ...)`; or
    `for task in tasks: task.cancel()` then `gather(*tasks, ...)`.
    """
    if function is None or not gather.args:
        return False
    ended: set[str] = set()
    collections: set[str] = set()
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and node.lineno < gather.lineno
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _ENDING_CALLS
        ):
            ended.add(ast.unparse(node.func.value))
    for node in ast.walk(function):
        if isinstance(node, ast.For | ast.AsyncFor) and isinstance(
            node.target, ast.Name
        ):
            if node.target.id in ended:
                collections.add(ast.unparse(node.iter))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _COLLECTING_CALLS
            and len(node.args) == 1
            and ast.unparse(node.args[0]) in ended
        ):
            collections.add(ast.unparse(node.func.value))
    return all(
        ast.unparse(arg.value) in collections
        if isinstance(arg, ast.Starred)
        else ast.unparse(arg) in ended
        for arg in gather.args
    )
