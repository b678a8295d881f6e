"""Where a literal's place decides if it is configuration: fallbacks and overrides.

Pure predicates on AST nodes, used by the hard-coded checks:

* the loopback or wildcard address given when no address was (`x or "localhost"`,
  `d.get("host", "127.0.0.1")`, `if not host: host = "0.0.0.0"`, the else of
  `if addr:`) is what "none given" means, and the configured value replaces it:
  not a fixed host;
* a module that builds its one instance itself (`processes = Processes()`) fixes
  the timeout defaults that call leaves out, public or not;
* a number written into a configuration mapping or object at run time
  (`self.config["threads"]["upload"] = 8`) overrides what the operator set;
* a delay clamped to a literal ceiling (`if delay > 60: delay = 60`) is the
  cap of a growing backoff, fixed in code;
* a timeout bound to a local name and then passed to a call (`timeout = 2`,
  `sock.readline(timeout)`) is a literal passed to that call.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from audit.analysis.constants import (
    IDIOM_MAX_SECONDS,
    LOCAL_HOSTS,
    NUMBER_CONVERSIONS,
)
from audit.analysis.literals import (
    POLL_CALLS,
    TIMEOUT_NAME_RE,
    call_name,
    is_environment_read,
    is_number,
)

# Words of a name that say it holds a wait between tries.
_WAIT_NAME_RE = re.compile(r"sleep|delay|backoff|interval|wait", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[a-z][\w+.-]*://", re.IGNORECASE)
# Names of a container that holds the program's configuration.
_CONFIG_NAMES = frozenset(
    {"config", "conf", "cfg", "settings", "options", "opts", "configuration"}
)
# Names of a number that is a count of workers or connections: a tunable.
_COUNT_NAME_RE = re.compile(
    r"threads|workers|processes|connections|concurrency", re.IGNORECASE
)


def is_local_address(value: object) -> bool:
    """Return True for `localhost`, `0.0.0.0:80`, `ws://localhost/` and the like."""
    if not isinstance(value, str):
        return False
    host = _SCHEME_RE.sub("", value, count=1).split("/", 1)[0]
    if host.startswith("["):
        host = host.partition("]")[0] + "]"
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.lower() in LOCAL_HOSTS


def _local_literals(node: ast.AST | None) -> Iterator[ast.Constant]:
    """Yield the local-address string literals in node."""
    for child in ast.walk(node) if node is not None else ():
        if isinstance(child, ast.Constant) and is_local_address(child.value):
            yield child


def _tests_absence(test: ast.expr) -> bool:
    """Return True for `not x`, `x is None`, `x == ""`: a value that was not given.

    `port and not ip` too: its body runs only when one of them is absent.
    """
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(map(_tests_absence, test.values))
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return True
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        right = test.comparators[0]
        return isinstance(test.ops[0], ast.Is | ast.Eq) and (
            isinstance(right, ast.Constant) and right.value in (None, "")
        )
    return False


def _tests_presence(test: ast.expr) -> bool:
    """Return True for `if x:`, `if self.addr:`, `x is not None`: a value given.

    `if ":" in addr:` asks whether the address names a port (a part of it is
    given): its else branch is where the part is absent. So is the else of
    `if family in IP_FAMILIES and address is not None:`, which a usable address
    needs all of.
    """
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(map(_tests_presence, test.values))
    if isinstance(test, ast.Name | ast.Attribute | ast.Subscript):
        return True
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        right = test.comparators[0]
        if isinstance(test.ops[0], ast.In):
            return isinstance(test.left, ast.Constant) and isinstance(
                test.left.value, str
            )
        return isinstance(test.ops[0], ast.IsNot | ast.NotEq) and (
            isinstance(right, ast.Constant) and right.value in (None, "")
        )
    return False


def or_fallbacks(node: ast.BoolOp) -> Iterator[ast.Constant]:
    """Yield the local addresses on the right of `or`: `args.bind or "localhost"`."""
    if isinstance(node.op, ast.Or):
        for value in node.values[1:]:
            if isinstance(value, ast.Constant) and is_local_address(value.value):
                yield value


def get_fallbacks(node: ast.Call) -> Iterator[ast.Constant]:
    """Yield the local address defaulting a mapping's `.get(key, default)`.

    The environment's `.get` is not a mapping look-up here: that is AUD101.
    """
    if len(node.args) == 2 and not is_environment_read(node):
        yield from _local_literals(node.args[1])


def absent_branch(node: ast.If) -> tuple[int, int] | None:
    """Return the lines where an `if` has found a value absent, if it tests one.

    Its body for `if not x:` / `if x is None:`, its else branch for `if x:`
    and for an `if` whose body converts the input into a name its else sets
    (`if len(parts) == 2: port = int(parts[1]) else: port = 6667`); branches
    nested there run only then too. Lines, not nodes: only the rare
    local-address literal asks, so the walk pays nothing for the others.
    """
    if _tests_absence(node.test):
        branch = node.body
    elif _tests_presence(node.test) or _parsed_else_default(node):
        branch = node.orelse
    else:
        return None
    if not branch:
        return None
    return branch[0].lineno, branch[-1].end_lineno or branch[-1].lineno


def backoff_cap(node: ast.If) -> ast.Constant | None:
    """Return the ceiling of `if delay > 60: delay = 60`, a wait clamped to a
    literal, or None."""
    test = node.test
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Gt | ast.GtE)
        and isinstance(test.left, ast.Name)
        and _WAIT_NAME_RE.search(test.left.id)
        and is_number(test.comparators[0])
        and len(node.body) == 1
        and not node.orelse
    ):
        return None
    clamp = node.body[0]
    if (
        isinstance(clamp, ast.Assign)
        and len(clamp.targets) == 1
        and isinstance(clamp.targets[0], ast.Name)
        and clamp.targets[0].id == test.left.id
        and isinstance(clamp.value, ast.Constant)
        and clamp.value.value == test.comparators[0].value
    ):
        return clamp.value
    return None


def _parsed_else_default(node: ast.If) -> bool:
    """Return True when the body binds a name from `int(...)`/`float(...)` and
    the else binds the same name to a literal: the input names none there."""
    parsed = {
        target.id
        for stmt in node.body
        for child in ast.walk(stmt)
        if isinstance(child, ast.Assign)
        and isinstance(child.value, ast.Call)
        and call_name(child.value) in NUMBER_CONVERSIONS
        for target in child.targets
        if isinstance(target, ast.Name)
    }
    return bool(parsed) and any(
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Constant)
        and any(
            isinstance(target, ast.Name) and target.id in parsed
            for target in stmt.targets
        )
        for stmt in node.orelse
    )


def _chain_names(target: ast.expr) -> list[str]:
    """Return the names along `self.config["threads"]["upload"]`, outermost last."""
    names = []
    while isinstance(target, ast.Subscript | ast.Attribute):
        if isinstance(target, ast.Attribute):
            names.append(target.attr)
        elif isinstance(target.slice, ast.Constant) and isinstance(
            target.slice.value, str
        ):
            names.append(target.slice.value)
        target = target.value
    if isinstance(target, ast.Name):
        names.append(target.id)
    return names


def config_override(node: ast.Assign) -> ast.Constant | None:
    """Return the number node writes into a configuration at a count or limit key.

    `self.config["threads"]["upload"] = 8`, `options.timeout = 30`: the container
    is named as configuration and a key says the number is a count or a limit.
    """
    value = node.value
    if not is_number(value):
        return None
    for target in node.targets:
        names = _chain_names(target)
        if (
            len(names) > 1
            and not _CONFIG_NAMES.isdisjoint(name.lower() for name in names)
            and any(
                _COUNT_NAME_RE.search(name) or TIMEOUT_NAME_RE.search(name)
                for name in names
            )
        ):
            return value  # type: ignore[return-value]
    return None


def _defaults(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple]:
    """Return (position or None, name, default) of each parameter with a default."""
    args = function.args
    positional = args.posonlyargs + args.args
    first = len(positional) - len(args.defaults)
    found = [
        (index, arg.arg, default)
        for index, (arg, default) in enumerate(
            zip(positional[first:], args.defaults, strict=True), start=first
        )
    ]
    found += [
        (None, arg.arg, default)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
        if default is not None
    ]
    return found


def _constructors(module: ast.Module) -> dict[str, tuple[ast.AST, bool, str]]:
    """Return the module's top-level functions and classes' `__init__` by name.

    With each: whether a call passes `self` implicitly (a class), and its qualname.
    """
    found: dict[str, tuple[ast.AST, bool, str]] = {}
    for stmt in module.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            found[stmt.name] = (stmt, False, stmt.name)
        elif isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    found[stmt.name] = (item, True, f"{stmt.name}.__init__")
    return found


def instance_defaults(module: ast.Module) -> Iterator[tuple[ast.expr, str]]:
    """Yield (default, qualname) of the timeouts a module-level call leaves out.

    `glances = Processes()` at the bottom of the module that defines
    `Processes.__init__(self, cache_timeout=60)` builds the instance the program
    uses: its 60 is fixed in code, although the parameter is public.
    """
    constructors = _constructors(module)
    reported: set[int] = set()
    for stmt in module.body:
        call = stmt.value if isinstance(stmt, ast.Assign | ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        entry = constructors.get(call.func.id)
        if entry is None:
            continue
        function, bound, qualname = entry
        passed = {keyword.arg for keyword in call.keywords}
        if None in passed or any(isinstance(a, ast.Starred) for a in call.args):
            # `**options` or `*args` may pass anything: nothing is known fixed.
            continue
        given = len(call.args) + bound
        for position, name, default in _defaults(function):  # type: ignore[arg-type]
            left_out = name not in passed and (position is None or position >= given)
            if (
                left_out
                and is_number(default)
                and TIMEOUT_NAME_RE.search(name)
                and id(default) not in reported
            ):
                reported.add(id(default))
                yield default, qualname


def local_timeout(
    node: ast.Assign, function: ast.FunctionDef | ast.AsyncFunctionDef | None
) -> ast.Constant | None:
    """Return the literal of `timeout = 2` when the function passes it to a call.

    Only lower-case names of a duration count: an UPPER_CASE local is a named
    constant, and a size or batch bound to a local (`chunk_size = 1024`) is the
    algorithm's own step. Not reported, as for a literal written in the call:
    the idiom waits of at most IDIOM_MAX_SECONDS, a parameter given its default
    (`if timeout is None: timeout = 10`; the caller configures it), a name only
    converted (`int(timeout)`) or used as the granularity of a poll or sleep
    inside a loop.
    """
    value = node.value
    if function is None or len(node.targets) != 1 or not is_number(value):
        return None
    target = node.targets[0]
    if not (isinstance(target, ast.Name) and _TIME_NAME_RE.search(target.id)):
        return None
    if value.value <= IDIOM_MAX_SECONDS:  # type: ignore[attr-defined]
        return None
    args = function.args
    parameters = {arg.arg for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    if target.id in parameters:
        return None
    return value if _passed_to_call(function, target.id) else None  # type: ignore[return-value]


# Lower-case local names of a duration: `timeout`, `retry_delay`, `poll_interval`.
_TIME_NAME_RE = re.compile(
    r"(?:^|_)(?:timeout|ttl|interval|delay|backoff|deadline|expiry)(?:$|_)"
)
# Builtins that convert, compare or show a value: given a name, none of them
# waits on it.
_VALUE_BUILTINS = frozenset(
    {"int", "float", "str", "bool", "min", "max", "abs", "round", "repr", "print"}
)


def _passed_to_call(
    function: ast.FunctionDef | ast.AsyncFunctionDef, name: str
) -> bool:
    """Return True when a call in function is given name, but a poll in a loop."""
    stack: list[tuple[ast.AST, bool]] = [(stmt, False) for stmt in function.body]
    while stack:
        node, in_loop = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Call) and any(
            isinstance(arg, ast.Name) and arg.id == name
            for arg in (*node.args, *(keyword.value for keyword in node.keywords))
        ):
            name_called = call_name(node)
            if name_called not in _VALUE_BUILTINS and not (
                in_loop and name_called in POLL_CALLS
            ):
                return True
        inner = in_loop or isinstance(node, ast.For | ast.AsyncFor | ast.While)
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return False
