"""What a literal is: a host, a port, a timeout, a secret, a path, an environment read.

Pure predicates on AST nodes and strings, used by the hard-coded checks.
"""

from __future__ import annotations

import ast
import ipaddress
import re

from audit.analysis.constants import (
    IDIOM_MAX_SECONDS,
    MAX_PORT,
    NAMESPACE_URL_HOSTS,
    SECRET_MIN_LENGTH,
)

_URL_RE = re.compile(
    r"^(?:https?|wss?|ftp|sftp|ssh|redis|rediss|amqp|amqps|postgres|postgresql|"
    r"mysql|mongodb(?:\+srv)?|grpc|tcp|udp|smtp|ldap|ldaps)?://(?:[^\W_]|\[)",
    re.IGNORECASE,
)
# Format placeholders where a URL's host or credentials would be: a template.
_TEMPLATE_RE = re.compile(r"%[sdr(]|\{[^}]*\}")
# Words that mark a sample value, not a real secret.
_PLACEHOLDER_WORDS_RE = re.compile(
    r"your|change_?me|example|dummy|placeholder|replace|sample|fake|xxx|redacted",
    re.IGNORECASE,
)
# Variables of the operating system, not of the application: read with the
# system's own default (`os.getenv("TMP", "/tmp")`) they configure nothing.
_OS_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "USERNAME",
        "LOGNAME",
        "SHELL",
        "TERM",
        "LANG",
        "TMPDIR",
        "TMP",
        "TEMP",
        "PWD",
        "EDITOR",
        "VISUAL",
        "PAGER",
        "TZ",
        "COLUMNS",
        "LINES",
        "USERPROFILE",
        "APPDATA",
        "LOCALAPPDATA",
        "SYSTEMROOT",
    }
)
# Keys and keywords whose value is an HTTP header: sent, not connected to.
HEADER_NAMES = frozenset(
    {"host", "origin", "referer", "referrer", "authority", "user-agent"}
)
# String methods whose argument is a value checked against, not configured.
CHECK_METHODS = frozenset({"startswith", "endswith", "index", "find", "count"})
# Calls that declare a command-line option or a setting with its default.
OPTION_CALLS = frozenset({"add_argument", "add_option", "option", "argument"})
# Top-level domains that are not also common words of dotted names.
_PLAIN_TLDS = frozenset({"com", "net", "org", "internal"})
# Calls whose timeout inside a loop is polling granularity, not a setting.
POLL_CALLS = frozenset({"sleep", "join", "wait", "select", "poll"})
_CREDENTIAL_URL_RE = re.compile(
    r"^[a-z][\w+.-]*://([^/\s:@]+):([^/\s@]+)@", re.IGNORECASE
)
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
# Counts whose value one is the call's meaning: a single attempt, one item.
_ATTEMPTS_NAME_RE = re.compile(r"(?:^|_)(?:retries|attempts|tries)$|^limit$")
TIMEOUT_NAME_RE = re.compile(
    r"(?:^|_)(?:timeout|ttl|retries|interval|delay|backoff|limit|deadline|expiry|"
    r"expires|prefetch)(?:$|_)|^max_(?:retries|connections|workers|attempts|tries|requests|"
    r"bytes|size|pool)$|(?:^|_)(?:pool_size|batch_size|chunk_size|buffer_size|"
    r"max_size)$",
    re.IGNORECASE,
)
# Single-case words and separators: identifiers and key names, not secrets.
_IDENTIFIER_LIKE_RE = re.compile(r"^(?:[a-z_.:-]+|[A-Z_.:-]+)$")
_URL_HOST_RE = re.compile(r"^(?:[a-z][\w+.-]*)?://([^/:?#]+)", re.IGNORECASE)
_PORT_NAME_RE = re.compile(r"(?:^|_)port$", re.IGNORECASE)
_TIMEOUT_POSITIONAL = {"wait_for": 1, "settimeout": 0, "timeout": 0, "sleep": 0}
_GETENV_FUNCS = frozenset({"getenv"})


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


def is_environment_read(call: ast.Call) -> bool:
    """Return True for `os.getenv(...)`, `getenv(...)`, `os.environ.get(...)`.

    A mapping called `environ` that is not `os.environ` (a WSGI request's) is
    not the process environment.
    """
    func = call.func
    if isinstance(func, ast.Name):
        return func.id == "getenv"
    if not isinstance(func, ast.Attribute):
        return False
    receiver = func.value
    if func.attr == "getenv":
        return isinstance(receiver, ast.Name) and receiver.id == "os"
    return (
        func.attr == "get"
        and isinstance(receiver, ast.Attribute)
        and receiver.attr == "environ"
        and isinstance(receiver.value, ast.Name)
        and receiver.value.id == "os"
    )


def environment_default(call: ast.Call) -> ast.expr | None:
    """Return the default of an environment read that fixes a value, if any.

    None for no default, a neutral one (`""`, None) or a variable of the
    operating system (`PATH`, `HOME`): those fix nothing about the application.
    """
    if not is_environment_read(call):
        return None
    default = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "default":
            default = keyword.value
    name = call.args[0] if call.args else None
    if (
        default is None
        or (isinstance(default, ast.Constant) and default.value in ("", None))
        or (isinstance(name, ast.Constant) and is_os_variable(name.value))
    ):
        return None
    return default


def is_os_variable(name: object) -> bool:
    """Return True for variables of the operating system: PATH, HOME, XDG_*."""
    return isinstance(name, str) and (name in _OS_VARIABLES or name.startswith("XDG_"))


def getenv_default(call: ast.Call) -> ast.expr | None:
    """Return the literal default of `os.getenv`/`os.environ.get`, if any."""
    default = environment_default(call)
    return default if is_literal(default) else None


def timeout_arguments(call: ast.Call, in_loop: bool = False) -> list[ast.expr]:
    """Return the literal timeout/limit arguments of a call that are settings.

    Not settings: waits of at most IDIOM_MAX_SECONDS (the try-acquire idiom
    `wait_for(sem.acquire(), timeout=0.001)`, yields), `sleep` of under a second
    (a pause), and the timeout of a wait inside a loop (polling granularity).
    """
    name = call_name(call)
    found = [
        keyword.value
        for keyword in call.keywords
        if keyword.arg
        and TIMEOUT_NAME_RE.search(keyword.arg)
        and is_number(keyword.value)
    ]
    position = _TIMEOUT_POSITIONAL.get(name)
    if position is not None and len(call.args) > position:
        if is_number(call.args[position]):
            found.append(call.args[position])
    # A retry count of one (`max_retries=1`) asks for a single attempt, the
    # call's meaning (connect now, once); the retry policy lives elsewhere. A
    # `limit=1` asks for one item (the one reply of a request, the first row).
    once = {
        id(keyword.value)
        for keyword in call.keywords
        if keyword.arg
        and _ATTEMPTS_NAME_RE.search(keyword.arg)
        and isinstance(keyword.value, ast.Constant)
        and keyword.value.value == 1
    }
    polling = in_loop and name in POLL_CALLS
    return [
        value
        for value in found
        if not (
            polling
            or id(value) in once
            or value.value <= IDIOM_MAX_SECONDS  # type: ignore[attr-defined]
            or (name == "sleep" and value.value < 1)  # type: ignore[attr-defined]
        )
    ]


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
        and not is_placeholder(value)
    )


def is_placeholder(value: str) -> bool:
    """Return True for sample values: `sk-your_key_here`, `changeme`, `<token>`."""
    return bool(_PLACEHOLDER_RE.match(value) or _PLACEHOLDER_WORDS_RE.search(value))


def looks_like_secret(value: str) -> bool:
    """Return True for well-known key formats or URLs with embedded passwords."""
    if is_placeholder(value) or _TEMPLATE_RE.search(value):
        return False
    if _SECRET_VALUE_RE.match(value):
        return True
    match = _CREDENTIAL_URL_RE.match(value)
    # A password that repeats the user name (`guest:guest`) is a server's stock
    # account, the same on every install: nothing there is secret.
    return match is not None and match.group(1) != match.group(2)


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
    if not _HOST_RE.match(value):
        return False
    labels = value.partition(":")[0].split(".")
    # `bottle.app`, `config.local`: two labels under a TLD that is also a common
    # word are dotted Python names far more often than hosts.
    return len(labels) != 2 or labels[-1].lower() in _PLAIN_TLDS


def has_literal_url_host(value: str) -> bool:
    """Return True when value starts with a URL scheme followed by a literal host."""
    if not _URL_RE.match(value):
        return False
    host = _URL_HOST_RE.match(value)
    if host is None:
        # An IPv6 literal (`http://[::1]/`); a `[%s]` there is a template.
        return not _TEMPLATE_RE.search(value.partition("]")[0])
    name = host.group(1).lower()
    return not (name in NAMESPACE_URL_HOSTS or _TEMPLATE_RE.search(name))


def looks_like_path(value: str) -> bool:
    """Return True for an absolute filesystem path under a well-known root."""
    return len(value) > 1 and bool(_PATH_RE.match(value))


def default_secrets(call: ast.Call, default: ast.expr) -> list[ast.Constant]:
    """Return the secrets among a getenv default's strings, by format or name."""
    name = call.args[0] if call.args else None
    named_secret = (
        isinstance(name, ast.Constant)
        and isinstance(name.value, str)
        and is_secret_name(name.value)
    )
    return [
        child
        for child in ast.walk(default)
        if isinstance(child, ast.Constant)
        and isinstance(child.value, str)
        and (
            looks_like_secret(child.value)
            or (named_secret and is_secret_value(child.value))
        )
    ]


def is_false(node: ast.expr) -> bool:
    """Return True for the literal `False`."""
    return isinstance(node, ast.Constant) and node.value is False
