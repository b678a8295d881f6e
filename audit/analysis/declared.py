"""Literals a module declares or answers with, rather than fixes in code.

Pure predicates for the hard-coded checks (README "Hard-coded configuration"):

* a module constant named for a default (`DEFAULT_ENDPOINT = "tcp://127.0.0.1:
  5555"`, `DEFAULT_HOST = "localhost"`) declares, in one place, the value that
  applies when the configuration names none, as `DEFAULT_PORT = 6379` does;
* the literals of a type annotation (`-> Literal["::1", "127.0.0.1"]`) are
  types, never values the program uses;
* a function named for the loopback (`get_localhost()`) answers with a
  loopback address: that is its result, not a service address;
* a receiver that joins a multicast group (`setsockopt(IPPROTO_IP,
  IP_ADD_MEMBERSHIP, ...)`) binds every interface: the group's traffic
  arrives on whichever one the network routes it to, so `"0.0.0.0"` there is
  what a multicast listen means;
* a group of the link-local multicast blocks (`"224.0.0.251"` for mDNS,
  `"ff02::fb"`) is assigned to a protocol by IANA and never routed off the
  link: a fact of that protocol, the same on every network, not a deployment's
  service address;
* an environment read whose default is a parameter of the function around it
  (`os.getenv("X_TIMEOUT", ready_timeout)`) has its caller's value as the
  default: nothing is fixed in code.
"""

from __future__ import annotations

import ast
import ipaddress
from collections.abc import Iterator

from audit.analysis.fallbacks import is_local_address
from audit.analysis.targets import target_names

Function = ast.FunctionDef | ast.AsyncFunctionDef
# Multicast blocks that stay on the link, each group assigned to a protocol
# (RFC 5771's Local Network Control Block, RFC 4291's link-local scope).
_LINK_LOCAL_GROUPS = (
    ipaddress.ip_network("224.0.0.0/24"),
    ipaddress.ip_network("ff02::/16"),
)
# Words of a function's name that say it answers a loopback address.
_LOOPBACK_WORDS = ("localhost", "loopback")
_WILDCARDS = frozenset({"0.0.0.0", "::", "[::]"})
# Socket options that join a multicast group.
_JOIN_OPTIONS = frozenset(
    {"IP_ADD_MEMBERSHIP", "IPV6_JOIN_GROUP", "IPV6_ADD_MEMBERSHIP"}
)


def declared_default(node: ast.Assign | ast.AnnAssign, top: set[int]) -> bool:
    """Return True for a module-level UPPER_CASE constant named `…DEFAULT…`.

    top holds the ids of the module's top-level statements.
    """
    if id(node) not in top:
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = target_names(targets)
    return bool(names) and all(name.isupper() and "DEFAULT" in name for name in names)


def annotation_nodes(function: Function) -> Iterator[ast.AST]:
    """Yield every node of the function's parameter and return annotations."""
    args = function.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    for annotation in [
        function.returns,
        *(arg.annotation for arg in every if arg is not None),
    ]:
        if annotation is not None:
            yield from ast.walk(annotation)


def answers_loopback(value: str, function: Function | None) -> bool:
    """Return True for a loopback literal inside a function named for one."""
    return (
        function is not None
        and any(word in function.name.lower() for word in _LOOPBACK_WORDS)
        and is_local_address(value)
    )


def parameter_default(default: ast.expr, function: Function | None) -> bool:
    """Return True when default is a bare name of one of the function's parameters."""
    if function is None or not isinstance(default, ast.Name):
        return False
    args = function.args
    return any(
        arg.arg == default.id
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs)
    )


def multicast_wildcard(value: str, function: Function | None) -> bool:
    """Return True for the wildcard address in a function that joins a group."""
    return (
        value in _WILDCARDS
        and function is not None
        and any(
            isinstance(node, ast.Attribute | ast.Name)
            and (node.attr if isinstance(node, ast.Attribute) else node.id)
            in _JOIN_OPTIONS
            for node in ast.walk(function)
        )
    )


def link_local_group(value: str) -> bool:
    """Return True for an address of a link-local multicast block."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        # Not a bare address (a host name, an address with a port): no group.
        return False
    return any(address in block for block in _LINK_LOCAL_GROUPS)


def parameter_defaults(function: Function) -> list[tuple[ast.arg, ast.expr]]:
    """Return each parameter of function that has a default, with the default."""
    args = function.args
    positional = args.posonlyargs + args.args
    pairs = list(
        zip(
            positional[len(positional) - len(args.defaults) :],
            args.defaults,
            strict=True,
        )
    )
    pairs += [
        (arg, default)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
        if default is not None
    ]
    return pairs
