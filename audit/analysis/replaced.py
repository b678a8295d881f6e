"""Literals that are not configuration because nothing ever uses them as such.

Pure predicates for the hard-coded checks (README "Hard-coded configuration"):

* the loopback address of a socket bound to port 0 (`bind(("127.0.0.1", 0))`),
  or connected to the port such a socket got (`getsockname()`), is a local
  socket pair or self-pipe the program talks to itself through;
* `self._port = 1883` in `__init__`, when another method of the class sets
  `self._port` from what its caller passed (`connect(host, port)`), is the
  initial value before the configured one, not a port fixed in code;
* the default of a private parameter that every call in the module passes
  (`def _loop(self, timeout=1.0)`, each caller giving its own) is never used.
"""

from __future__ import annotations

import ast

from audit.analysis.constants import LOCAL_HOSTS
from audit.analysis.literals import call_name

_ADDRESS_CALLS = frozenset({"bind", "connect", "connect_ex"})
Function = ast.FunctionDef | ast.AsyncFunctionDef


def ephemeral_loopback(
    call: ast.Call, name: str, function: Function | None
) -> ast.Constant | None:
    """Return the loopback literal of a local socket pair's bind or connect.

    name is the call's name, which the caller has already computed.
    """
    if name not in _ADDRESS_CALLS or len(call.args) != 1:
        return None
    address = call.args[0]
    if not (isinstance(address, ast.Tuple) and len(address.elts) == 2):
        return None
    host, port = address.elts
    if not (
        isinstance(host, ast.Constant)
        and isinstance(host.value, str)
        and host.value.lower() in LOCAL_HOSTS
    ):
        return None
    if isinstance(port, ast.Constant) and port.value == 0:
        return host
    if isinstance(port, ast.Name) and function is not None:
        return host if _bound_from_getsockname(port.id, function) else None
    return None


def _bound_from_getsockname(name: str, function: Function) -> bool:
    """Return True when function binds name from a `getsockname()` call."""
    for node in ast.walk(function):
        if not (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and call_name(node.value) == "getsockname"
        ):
            continue
        for target in node.targets:
            if any(
                isinstance(part, ast.Name) and part.id == name
                for part in ast.walk(target)
            ):
                return True
    return False


def replaced_initial_value(
    target: ast.expr, function: Function | None, classes: list[ast.ClassDef]
) -> bool:
    """Return True for `self.x = <literal>` in `__init__` that another method of
    the class replaces with a value it was given."""
    if not (
        function is not None
        and function.name == "__init__"
        and isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    ):
        return False
    owner = next((cls for cls in classes if function in cls.body), None)
    if owner is None:
        return False
    for method in owner.body:
        if not isinstance(method, Function) or method is function:
            continue
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Assign)
                and not isinstance(node.value, ast.Constant)
                and any(
                    isinstance(t, ast.Attribute)
                    and t.attr == target.attr
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                    for t in node.targets
                )
            ):
                return True
    return False


def every_call_passes(module: ast.Module, function: Function, arg: ast.arg) -> bool:
    """Return True when the module calls function, only by name, always passing arg.

    A reference that is not a call (`target=self._loop`) or a call through
    `*args`/`**kwargs` may leave the default in use: then it is not known.
    """
    name = function.name
    positional = function.args.posonlyargs + function.args.args
    index = next((i for i, a in enumerate(positional) if a is arg), None)
    method = bool(positional) and positional[0].arg in {"self", "cls"}
    calls = references = 0
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and call_name(node) == name:
            calls += 1
            if not _passes(node, arg.arg, index, method):
                return False
        elif (isinstance(node, ast.Name) and node.id == name) or (
            isinstance(node, ast.Attribute) and node.attr == name
        ):
            references += 1
    # Each call's own func is a reference too.
    return calls > 0 and references == calls


def _passes(call: ast.Call, name: str, index: int | None, method: bool) -> bool:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        keyword.arg is None for keyword in call.keywords
    ):
        return False
    if any(keyword.arg == name for keyword in call.keywords):
        return True
    if index is None:
        return False
    if method and isinstance(call.func, ast.Attribute):
        index -= 1
    return len(call.args) > index
