"""Hard-coded configuration checks: literal hosts, ports, timeouts, secrets, paths."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from audit.analysis.declared import (
    annotation_nodes,
    answers_loopback,
    declared_default,
    link_local_group,
    multicast_wildcard,
    parameter_default,
    parameter_defaults,
)
from audit.analysis.fallbacks import (
    absent_branch,
    backoff_cap,
    config_override,
    get_fallbacks,
    instance_defaults,
    is_local_address,
    local_timeout,
    or_fallbacks,
)
from audit.analysis.intent import MODULE_SCOPE, Scope
from audit.analysis.literals import (
    CHECK_METHODS,
    HEADER_NAMES,
    OPTION_CALLS,
    TIMEOUT_NAME_RE,
    call_name,
    default_secrets,
    environment_default,
    getenv_default,
    has_literal_url_host,
    is_environment_read,
    is_false,
    is_literal,
    is_number,
    is_port,
    is_port_name,
    is_secret_name,
    is_secret_value,
    looks_like_host,
    looks_like_path,
    looks_like_secret,
    timeout_arguments,
)
from audit.analysis.replaced import (
    ephemeral_loopback,
    every_call_passes,
    replaced_initial_value,
)
from audit.analysis.targets import assigns_constant, names_header, target_names

__all__ = [
    "ASSIGNMENTS",
    "ConfigChecker",
    "assigns_constant",
    "getenv_default",
    "is_secret_value",
    "looks_like_secret",
]

_DOCSTRING_SCOPES = (ast.Module,)
# First characters of a POSIX or home path: only those strings (and `C:\\…`)
# ask the path pattern.
_PATH_STARTS = frozenset("/~")
# Assignments that may bind a config module's UPPER_CASE constant.
ASSIGNMENTS = frozenset({ast.Assign, ast.AnnAssign})

# Called as report(code, node) or, after the walk, with qualname=.
Report = Callable[..., None]


class ConfigChecker:
    """Apply the hard-coded configuration checks to one file's nodes.

    The walk must hand over parents before children: a parent that reports a
    literal (a getenv default, a named secret) marks it so it is not reported
    again as a plain string. Each check also receives whether the node lies inside
    an UPPER_CASE constant of a config module, where configuration belongs, so only
    secrets are reported there. The walker sets `scope` (the enclosing function,
    whether in a loop) before each check.

    Overridable values are not reported as hosts, ports or paths: class
    attributes (`host = "localhost"` on a base class) and the defaults of public
    function parameters (the caller is the configuration); secrets still are.

    Every literal taken for a secret is also collected in `secrets`, reported or
    not (a getenv default is reported as AUD101), so findings can mask it.
    """

    def __init__(
        self, report: Report, *, config_module: bool, module: ast.Module
    ) -> None:
        """Prepare the checks for one file, reporting hits through report."""
        self._report = report
        self._config_module = config_module
        self._module = module
        self._classes: list[ast.ClassDef] = []
        self._handled: set[int] = set()
        self._overridable: set[int] = set()
        self._declared: set[int] = set()
        self._absent_lines: list[tuple[int, int]] = []
        self._top = {id(stmt) for stmt in module.body}
        self.scope: Scope = MODULE_SCOPE
        self.secrets: list[ast.Constant] = []
        self.checks: dict[type, Callable[[Any, bool], None]] = {
            scope: self._skip_docstring for scope in _DOCSTRING_SCOPES
        } | {
            ast.Constant: self._check_constant,
            ast.Call: self._check_call,
            ast.Assign: self._check_assign,
            ast.AnnAssign: self._check_assign,
            ast.Dict: self._check_dict,
            ast.JoinedStr: self._check_fstring,
            ast.Compare: self._check_compare,
            ast.ClassDef: self._check_class,
            ast.FunctionDef: self._check_function,
            ast.AsyncFunctionDef: self._check_function,
            ast.BoolOp: self._check_or,
            ast.If: self._check_if,
            ast.List: self._check_sequence,
            ast.Tuple: self._check_sequence,
        }

    def _skip_docstring(
        self,
        node: ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
        in_constant: bool,
    ) -> None:
        """Mark a leading docstring so it is not read as a literal."""
        body = node.body
        if body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                self._handled.add(id(value))

    def _check_class(self, node: ast.ClassDef, in_constant: bool) -> None:
        """Mark class attributes as overridable, then skip the docstring."""
        self._classes.append(node)
        self._skip_docstring(node, in_constant)
        stack = list(node.body)
        while stack:
            stmt = stack.pop()
            if isinstance(stmt, ast.If):
                stack.extend(stmt.body + stmt.orelse)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value:
                self._overridable.update(id(child) for child in ast.walk(stmt.value))

    def _check_function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, in_constant: bool
    ) -> None:
        """Report literal timeouts defaulted in internal functions; skip the rest.

        A public function's defaults are its callers' to change; an internal
        one (`_name`) is called from this code, so its literal is fixed here,
        unless every call in the module passes its own value.
        """
        self._skip_docstring(node, in_constant)
        self._handled.update(map(id, annotation_nodes(node)))
        internal = node.name.startswith("_") and not node.name.startswith("__")
        for arg, default in parameter_defaults(node):
            if (
                internal
                and not in_constant
                and is_number(default)
                and TIMEOUT_NAME_RE.search(arg.arg)
                and not every_call_passes(self._module, node, arg)
            ):
                self._handled.add(id(default))
                self._report("AUD108", default)
            else:
                self._overridable.update(id(child) for child in ast.walk(default))

    def _check_or(self, node: ast.BoolOp, in_constant: bool) -> None:
        """Mark `x or "localhost"`: the local address stands for one not given."""
        self._overridable.update(id(literal) for literal in or_fallbacks(node))

    def _check_if(self, node: ast.If, in_constant: bool) -> None:
        """Report a backoff's literal cap; remember where a value is absent."""
        cap = backoff_cap(node)
        if cap is not None and id(cap) not in self._handled:
            self._handled.add(id(cap))
            self._report("AUD104", cap)
        lines = absent_branch(node)
        if lines is not None:
            self._absent_lines.append(lines)

    def _absent_here(self, node: ast.Constant) -> bool:
        """Return True for a literal inside a branch where a value is absent."""
        line = node.lineno
        return any(start <= line <= end for start, end in self._absent_lines)

    def check_module(self, module: ast.Module) -> None:
        """Report the timeout defaults the module's own instance leaves fixed.

        Called once after the walk: it needs the module's classes and calls.
        """
        for default, qualname in instance_defaults(module):
            if id(default) not in self._handled:
                self._handled.add(id(default))
                self._report("AUD108", default, qualname=qualname)

    def _check_compare(self, node: ast.Compare, in_constant: bool) -> None:
        """Mark the literals of a comparison: a value checked is not configured."""
        for part in (node.left, *node.comparators):
            if isinstance(part, ast.Constant):
                self._handled.add(id(part))
            elif isinstance(part, ast.Tuple | ast.List | ast.Set):
                self._handled.update(id(elt) for elt in part.elts)

    def _check_constant(self, node: ast.Constant, in_constant: bool) -> None:
        """Check a string literal not already reported through its parent."""
        if type(node.value) is str and id(node) not in self._handled:
            self._check_string(node, node.value, in_constant)

    def _check_assign(
        self, node: ast.Assign | ast.AnnAssign, in_constant: bool
    ) -> None:
        """Check a value assigned to a name that says it is a secret or a port.

        `LIMIT = int(os.getenv("LIMIT", "10"))`: an UPPER_CASE constant read from
        the environment with its default is where the setting is declared.
        """
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        override = None
        if isinstance(node, ast.Assign) and not in_constant:
            override = config_override(node)
        if override is not None and not self._config_module:
            self._handled.add(id(override))
            self._report("AUD104", override)
        if (
            node.value.__class__ is ast.Constant
            and isinstance(node, ast.Assign)
            and not in_constant
        ):
            timeout = local_timeout(node, self.scope.function)
            if timeout is not None and not self._absent_here(timeout):
                self._handled.add(id(timeout))
                self._report("AUD104", timeout)
        if node.value is not None and (
            any(map(names_header, targets)) or declared_default(node, self._top)
        ):
            self._overridable.update(id(child) for child in ast.walk(node.value))
        if node.value is not None and assigns_constant(node):
            self._declared.update(
                id(child)
                for child in ast.walk(node.value)
                if isinstance(child, ast.Call) and is_environment_read(child)
            )
        names = target_names(targets)
        if (
            is_port(node.value)
            and any(map(is_port_name, names))
            and (
                replaced_initial_value(targets[0], self.scope.function, self._classes)
                # `DEFAULT_PORT = 6379`: named for what applies when the address
                # names no port, like the else of `if ":" in addr:`.
                or any("default" in name.lower() for name in names)
            )
        ):
            self._overridable.add(id(node.value))
        self._check_named_value(names, node.value, in_constant)

    def _check_dict(self, node: ast.Dict, in_constant: bool) -> None:
        """Check dict entries whose string key says the value is a secret or a port."""
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self._check_named_value([key.value], value, in_constant)
                if key.value.lower() in HEADER_NAMES:
                    self._overridable.update(id(child) for child in ast.walk(value))

    def _check_sequence(self, node: ast.List | ast.Tuple, in_constant: bool) -> None:
        """Mark a search path: several absolute paths tried in turn.

        `["/etc/ssh/moduli", "/usr/local/etc/moduli"]` lists the standard places
        another program installs a file; the operator picks one by putting the
        file there, so none of them is a path fixed in code.
        """
        elts = node.elts
        if len(elts) < 2:
            return
        paths = [
            elt
            for elt in elts
            if elt.__class__ is ast.Constant
            and type(elt.value) is str
            and (elt.value[:1] in _PATH_STARTS or elt.value[1:2] == ":")
            and looks_like_path(elt.value)
        ]
        if len(paths) > 1:
            self._overridable.update(map(id, paths))

    def _check_string(self, node: ast.Constant, value: str, in_constant: bool) -> None:
        """Report a string literal that is a secret, a host/URL or a path."""
        if looks_like_secret(value):
            self.secrets.append(node)
            self._report("AUD105", node)
        elif in_constant or id(node) in self._overridable:
            return
        elif looks_like_host(value):
            if not (
                (is_local_address(value) and self._absent_here(node))
                or answers_loopback(value, self.scope.function)
                or multicast_wildcard(value, self.scope.function)
                or link_local_group(value)
            ):
                self._report("AUD102", node)
        elif looks_like_path(value):
            self._report("AUD106", node)

    def _check_fstring(self, node: ast.JoinedStr, in_constant: bool) -> None:
        """Report an f-string whose literal head is a URL with a literal host."""
        for part in node.values:
            self._handled.add(id(part))
        head = node.values[0] if node.values else None
        if (
            not in_constant
            and id(node) not in self._overridable
            and isinstance(head, ast.Constant)
            and isinstance(head.value, str)
            and has_literal_url_host(head.value)
        ):
            self._report("AUD102", node)

    def _check_call(self, node: ast.Call, in_constant: bool) -> None:
        """Report getenv defaults, timeouts, and secrets or ports by name."""
        if in_constant:
            return
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get":
            self._overridable.update(id(literal) for literal in get_fallbacks(node))
        default = environment_default(node)
        if default is None and is_environment_read(node):
            # An OS variable or a neutral default fixes nothing of the application.
            self._mark(node)
            return
        if default is not None:
            self._mark(default)
            self.secrets.extend(default_secrets(node, default))
            if (
                not self._config_module
                and id(node) not in self._declared
                # A switch read once at module top, off unless set, declares
                # the module's switch and fixes nothing.
                and not (self.scope.function is None and is_false(default))
                and not parameter_default(default, self.scope.function)
            ):
                self._report("AUD101" if is_literal(default) else "AUD107", node)
            return
        name = call_name(node)
        if name in CHECK_METHODS:
            self._handled.update(id(c) for arg in node.args for c in ast.walk(arg))
        loopback = ephemeral_loopback(node, name, self.scope.function)
        if loopback is not None:
            self._overridable.add(id(loopback))
        for keyword in node.keywords:
            if keyword.arg and "referer" in keyword.arg.lower():
                self._overridable.update(id(c) for c in ast.walk(keyword.value))
        if name in OPTION_CALLS:
            # A command-line option's default is its configuration.
            for keyword in node.keywords:
                if keyword.arg == "default":
                    self._overridable.update(id(c) for c in ast.walk(keyword.value))
        for timeout in timeout_arguments(node, self.scope.in_loop):
            self._report("AUD104", timeout)
        for keyword in node.keywords:
            if keyword.arg:
                self._check_named_value([keyword.arg], keyword.value, in_constant)

    def _check_named_value(
        self, names: list[str], value: ast.expr | None, in_constant: bool
    ) -> None:
        """Report a secret or a port assigned to a name that says what it is."""
        if not isinstance(value, ast.Constant) or not names:
            return
        if type(value.value) is str and any(map(is_secret_name, names)):
            if is_secret_value(value.value) and id(value) not in self._handled:
                self._handled.add(id(value))
                self.secrets.append(value)
                self._report("AUD105", value)
        elif (
            not in_constant
            and is_port(value)
            and any(map(is_port_name, names))
            and id(value) not in self._handled
            and id(value) not in self._overridable
            # The protocol's port where the address names none (the else of
            # `if ":" in addr:`), as a parser fills in 80 for http.
            and not self._absent_here(value)
        ):
            self._handled.add(id(value))
            self._report("AUD103", value)

    def _mark(self, node: ast.AST) -> None:
        """Mark node and its descendants as already reported."""
        self._handled.update(id(child) for child in ast.walk(node))
