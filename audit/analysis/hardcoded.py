"""Hard-coded configuration checks: literal hosts, ports, timeouts, secrets, paths."""

from __future__ import annotations

import ast
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from audit.analysis.constants import MAX_PORT, NAMESPACE_URL_HOSTS, SECRET_MIN_LENGTH

_URL_RE = re.compile(
    r"^(?:https?|wss?|ftp|sftp|ssh|redis|rediss|amqp|amqps|postgres|postgresql|"
    r"mysql|mongodb(?:\+srv)?|grpc|tcp|udp|smtp|ldap|ldaps)://(?:[^\W_]|\[)",
    re.IGNORECASE,
)
_CREDENTIAL_URL_RE = re.compile(r"^[a-z][\w+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
_HOST_RE = re.compile(
    r"^(?:localhost|(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|dev|internal|local|cloud|"
    r"app))(?::\d{1,5})?$",
    re.IGNORECASE,
)
_IP_PORT_RE = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?$")
_SECRET_VALUE_RE = re.compile(
    r"^(?:sk-[A-Za-z0-9_-]{20,}|sk_live_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{30,}|"
    r"github_pat_[A-Za-z0-9_]{30,}|AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,}|"
    r"AIza[0-9A-Za-z_-]{35}|-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----)"
)
_SECRET_NAME_RE = re.compile(
    r"(?:^|_)(?:password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|"
    r"secret_?key|auth_?key|credentials?)$",
    re.IGNORECASE,
)
_PLACEHOLDER_RE = re.compile(r"^(?:<.*>|\$\{.*\}|\{.*\}|%\(.*\)s|\*+|x+|\.+)$", re.I)
_PATH_RE = re.compile(
    r"^(?:/(?:etc|var|tmp|home|opt|usr|srv|mnt|data|root|run|Users|Library)/\S*|"
    r"~/\S+|[A-Za-z]:\\\S*)$"
)
_TIMEOUT_NAME_RE = re.compile(
    r"(?:^|_)(?:timeout|ttl|retries|interval|delay|backoff|limit|deadline|expiry|"
    r"expires)(?:$|_)|^max_(?:retries|connections|workers|attempts|tries|requests|"
    r"bytes|size|pool)$|(?:^|_)(?:pool_size|batch_size|chunk_size|buffer_size|"
    r"max_size)$",
    re.IGNORECASE,
)
# Single-case words and separators: identifiers and key names, not secrets.
_IDENTIFIER_LIKE_RE = re.compile(r"^(?:[a-z_.:-]+|[A-Z_.:-]+)$")
_URL_HOST_RE = re.compile(r"^[a-z][\w+.-]*://([^/:?#]+)", re.IGNORECASE)
_PORT_NAME_RE = re.compile(r"(?:^|_)port$", re.IGNORECASE)
_TIMEOUT_POSITIONAL = {"wait_for": 1, "settimeout": 0, "timeout": 0, "sleep": 0}
_GETENV_FUNCS = frozenset({"getenv"})
_DOCSTRING_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Assignments that may bind a config module's UPPER_CASE constant.
ASSIGNMENTS = frozenset({ast.Assign, ast.AnnAssign})

Report = Callable[[str, ast.AST], None]


def call_name(call: ast.Call) -> str:
    """Return the called function's last name (`os.getenv` -> `getenv`)."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def is_number(node: ast.expr | None) -> bool:
    """Return True for a positive int or float literal (booleans excluded)."""
    return (
        isinstance(node, ast.Constant)
        and type(node.value) in (int, float)
        and node.value > 0
    )


def is_port(node: ast.expr | None) -> bool:
    """Return True for an int literal that is a valid port number."""
    return (
        isinstance(node, ast.Constant)
        and type(node.value) is int
        and 0 < node.value <= MAX_PORT
    )


def is_literal(node: ast.expr | None) -> bool:
    """Return True for a non-None constant or a container of constants."""
    if isinstance(node, ast.Constant):
        return node.value is not None
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return all(is_literal(elt) for elt in node.elts)
    return False


def getenv_default(call: ast.Call) -> ast.expr | None:
    """Return the literal default of `os.getenv`/`os.environ.get`, if any."""
    func = call.func
    name = call_name(call)
    is_environ_get = (
        isinstance(func, ast.Attribute)
        and name == "get"
        and (
            (isinstance(func.value, ast.Name) and func.value.id == "environ")
            or (isinstance(func.value, ast.Attribute) and func.value.attr == "environ")
        )
    )
    if name not in _GETENV_FUNCS and not is_environ_get:
        return None
    default = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "default":
            default = keyword.value
    return default if is_literal(default) else None


def timeout_arguments(call: ast.Call) -> list[ast.expr]:
    """Return the literal timeout/limit arguments of a call."""
    found = [
        keyword.value
        for keyword in call.keywords
        if keyword.arg
        and _TIMEOUT_NAME_RE.search(keyword.arg)
        and is_number(keyword.value)
    ]
    position = _TIMEOUT_POSITIONAL.get(call_name(call))
    if position is not None and len(call.args) > position:
        if is_number(call.args[position]):
            found.append(call.args[position])
    return found


def is_secret_name(name: str) -> bool:
    """Return True for names such as `password`, `API_KEY`, `auth_token`."""
    return bool(_SECRET_NAME_RE.search(name))


def is_port_name(name: str) -> bool:
    """Return True for names such as `port`, `REDIS_PORT`."""
    return bool(_PORT_NAME_RE.search(name))


def is_secret_value(value: str) -> bool:
    """Return True for a string that plausibly holds a real secret."""
    return (
        len(value) >= SECRET_MIN_LENGTH
        and not any(char.isspace() for char in value)
        and not _PLACEHOLDER_RE.match(value)
        and not _IDENTIFIER_LIKE_RE.match(value)
    )


def looks_like_secret(value: str) -> bool:
    """Return True for well-known key formats or URLs with embedded passwords."""
    return bool(_SECRET_VALUE_RE.match(value) or _CREDENTIAL_URL_RE.match(value))


def _is_ip(text: str) -> bool:
    """Return True for a dotted-quad IPv4 address."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        # Four numbers that are not an address (a version string) are not a host.
        return False
    return True


def looks_like_host(value: str) -> bool:
    """Return True for a URL, `localhost`, a domain or an IP (optionally with port)."""
    if not value or len(value) > 2048 or any(char.isspace() for char in value):
        return False
    if "://" in value:
        return has_literal_url_host(value)
    match = _IP_PORT_RE.match(value)
    if match:
        return _is_ip(match.group(1))
    return bool(_HOST_RE.match(value))


def has_literal_url_host(value: str) -> bool:
    """Return True when value starts with a URL scheme followed by a literal host."""
    if not _URL_RE.match(value):
        return False
    host = _URL_HOST_RE.match(value)
    return not (host and host.group(1).lower() in NAMESPACE_URL_HOSTS)


def looks_like_path(value: str) -> bool:
    """Return True for an absolute filesystem path under a well-known root."""
    return len(value) > 1 and bool(_PATH_RE.match(value))


def assigns_constant(node: ast.Assign | ast.AnnAssign) -> bool:
    """Return True when every target is an UPPER_CASE name: a config constant."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return all(
        isinstance(target, ast.Name) and target.id.isupper() for target in targets
    )


def _target_names(targets: list[ast.expr]) -> list[str]:
    """Return the simple names (or attribute names) assigned to."""
    names = []
    for target in targets:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Attribute):
            names.append(target.attr)
    return names


class ConfigChecker:
    """Apply the hard-coded configuration checks to one file's nodes.

    The walk must hand over parents before children: a parent that reports a
    literal (a getenv default, a named secret) marks it so it is not reported
    again as a plain string. Each check also receives whether the node lies inside
    an UPPER_CASE constant of a config module, where configuration belongs, so only
    secrets are reported there.

    Every literal taken for a secret is also collected in `secrets`, reported or
    not (a getenv default is reported as AUD101), so findings can mask it.
    """

    def __init__(self, report: Report, *, config_module: bool) -> None:
        """Prepare the checks for one file, reporting hits through report."""
        self._report = report
        self._config_module = config_module
        self._handled: set[int] = set()
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

    def _check_constant(self, node: ast.Constant, in_constant: bool) -> None:
        """Check a string literal not already reported through its parent."""
        if type(node.value) is str and id(node) not in self._handled:
            self._check_string(node, node.value, in_constant)

    def _check_assign(
        self, node: ast.Assign | ast.AnnAssign, in_constant: bool
    ) -> None:
        """Check a value assigned to a name that says it is a secret or a port."""
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        self._check_named_value(_target_names(targets), node.value, in_constant)

    def _check_dict(self, node: ast.Dict, in_constant: bool) -> None:
        """Check dict entries whose string key says the value is a secret or a port."""
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self._check_named_value([key.value], value, in_constant)

    def _check_string(self, node: ast.Constant, value: str, in_constant: bool) -> None:
        """Report a string literal that is a secret, a host/URL or a path."""
        if looks_like_secret(value):
            self.secrets.append(node)
            self._report("AUD105", node)
        elif in_constant:
            return
        elif looks_like_host(value):
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
            and isinstance(head, ast.Constant)
            and isinstance(head.value, str)
            and has_literal_url_host(head.value)
        ):
            self._report("AUD102", node)

    def _check_call(self, node: ast.Call, in_constant: bool) -> None:
        """Report literal getenv defaults, timeouts, and secrets or ports by name."""
        if in_constant:
            return
        default = getenv_default(node)
        if default is not None:
            self._mark(default)
            self._collect_default_secrets(node, default)
            if not self._config_module:
                self._report("AUD101", node)
            return
        for timeout in timeout_arguments(node):
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
        ):
            self._handled.add(id(value))
            self._report("AUD103", value)

    def _collect_default_secrets(self, call: ast.Call, default: ast.expr) -> None:
        """Collect the secrets among a getenv default's strings, by format or name."""
        name = call.args[0] if call.args else None
        named_secret = (
            isinstance(name, ast.Constant)
            and isinstance(name.value, str)
            and is_secret_name(name.value)
        )
        for child in ast.walk(default):
            if not (isinstance(child, ast.Constant) and isinstance(child.value, str)):
                continue
            if looks_like_secret(child.value) or (
                named_secret and is_secret_value(child.value)
            ):
                self.secrets.append(child)

    def _mark(self, node: ast.AST) -> None:
        """Mark node and its descendants as already reported."""
        self._handled.update(id(child) for child in ast.walk(node))
