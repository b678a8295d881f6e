"""Turn hard-coded findings into suggested configuration keys.

For each hard-coded finding the literal is found again in the file as scanned,
and a key is derived from what it is bound to (the assigned name, keyword,
dict key or parameter, prefixed with the module's name unless it is already an
UPPER_CASE constant; the variable itself for a getenv default). config_render
renders the template twice, for the same keys: a `.env.example` fragment and
a typed django-environ settings snippet.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from audit.analysis.hardcoded import is_secret_name, is_secret_value, looks_like_secret
from audit.analysis.listings import scope
from audit.analysis.records import Family, Finding
from audit.analysis.rules import RULES_BY_CODE

# What the key's last word is when the literal is bound to no name.
_RULE_WORDS = {
    "AUD102": "URL",
    "AUD103": "PORT",
    "AUD104": "TIMEOUT",
    "AUD105": "SECRET",
    "AUD106": "PATH",
}
# Calls whose literal argument is a pause rather than a timeout.
_DELAY_CALLS = frozenset({"sleep"})
_SECRET_CODE = "AUD105"
_CASTS = {"int": int, "float": float, "bool": bool, "str": str}
_NOT_IN_KEY_RE = re.compile(r"[^A-Z0-9]+")
# Environment variable names a shell and django-environ's .env reader accept.
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ReadSource = Callable[[str], "str | None"]


@dataclass(slots=True)
class Suggestion:
    """One suggested setting: key, type, default and where the literal was."""

    key: str
    type: str
    default: object
    secret: bool
    help: str
    code: str
    locations: list[str] = field(default_factory=list)
    # Element type of a list setting (env.list(..., cast=...)).
    item_type: str = "str"


@dataclass(frozen=True, slots=True)
class Template:
    """The suggestions of a run, and the findings no key could be made for."""

    suggestions: list[Suggestion]
    skipped: list[tuple[str, str]]


def _key_part(text: str) -> str:
    """Return text as an UPPER_CASE key fragment."""
    return _NOT_IN_KEY_RE.sub("_", text.upper()).strip("_")


def _key(*parts: str) -> str:
    """Join key fragments into a key that is also a Python name."""
    key = "_".join(part for part in parts if part)
    return f"APP_{key}" if key[:1].isdigit() else key


def _module_prefix(path: str) -> str:
    """Return the key prefix of a module: its stem, or its package for __init__."""
    pure = PurePosixPath(path)
    stem = pure.parent.name if pure.stem == "__init__" else pure.stem
    return _key_part(stem) or "APP"


def _call_name(call: ast.Call) -> str:
    """Return the called function's last name."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


class _Located:
    """One parsed file: nodes by position, and each node's parent."""

    def __init__(self, source: str) -> None:
        self.parents: dict[int, ast.AST] = {}
        self.at: dict[tuple[int, int], list[ast.AST]] = {}
        for parent in ast.walk(ast.parse(source)):
            for child in ast.iter_child_nodes(parent):
                self.parents[id(child)] = parent
            if hasattr(parent, "lineno"):
                position = (parent.lineno, parent.col_offset)
                self.at.setdefault(position, []).append(parent)

    def node(self, finding: Finding) -> ast.AST | None:
        """Return the node a finding was reported on: a literal, else a call.

        A literal is reported on itself; a getenv default on its call, where
        only the call's own function name and object start with it.
        """
        candidates = self.at.get((finding.line, finding.column - 1), [])
        for kind in (ast.JoinedStr, ast.Constant, ast.Call):
            for node in candidates:
                if isinstance(node, kind):
                    return node
        return None

    def binding(self, node: ast.AST) -> tuple[str, bool]:
        """Return the name node's value is bound to, and whether it is a call's.

        The name is "" when there is none; a call's name (`sleep(5)`) says what
        the value is for, not what it is, so the key adds the rule's word to it.
        """
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.keyword) and parent.arg:
            return parent.arg, False
        if isinstance(parent, ast.Assign | ast.AnnAssign):
            targets = (
                parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            )
            for target in targets:
                if isinstance(target, ast.Name):
                    return target.id, False
                if isinstance(target, ast.Attribute):
                    return target.attr, False
        if isinstance(parent, ast.Dict):
            for key, value in zip(parent.keys, parent.values, strict=True):
                if value is node and isinstance(key, ast.Constant):
                    return str(key.value), False
        if isinstance(parent, ast.arguments):
            return _parameter_of(parent, node), False
        if isinstance(parent, ast.Call):
            return _call_name(parent), True
        return "", False


def _parameter_of(arguments: ast.arguments, default: ast.AST) -> str:
    """Return the parameter whose default value is default."""
    positional = [*arguments.posonlyargs, *arguments.args]
    for arg, value in zip(
        positional[len(positional) - len(arguments.defaults) :],
        arguments.defaults,
        strict=True,
    ):
        if value is default:
            return arg.arg
    for arg, value in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        if value is default:
            return arg.arg
    return ""


def _literal(node: ast.AST) -> object:
    """Return the Python value of a literal node (an f-string's literal head)."""
    if isinstance(node, ast.JoinedStr):
        head = node.values[0]
        return head.value if isinstance(head, ast.Constant) else ""
    return ast.literal_eval(node)


def _type_of(value: object) -> tuple[str, str]:
    """Return (type, list element type) of a literal value."""
    if isinstance(value, bool):
        return "bool", "str"
    if isinstance(value, int | float | str):
        return type(value).__name__, "str"
    if isinstance(value, list | tuple | set):
        kinds = {type(item).__name__ for item in value}
        return "list", kinds.pop() if len(kinds) == 1 else "str"
    raise ValueError(f"a {type(value).__name__} literal has no setting type")


def _getenv_suggestion(
    finding: Finding, located: _Located, call: ast.Call
) -> Suggestion:
    """Return the setting a literal getenv default stands for: the variable itself."""
    name = call.args[0] if call.args else None
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        raise ValueError("the variable's name is not a literal")
    default = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "default":
            default = keyword.value
    try:
        value = ast.literal_eval(default) if default is not None else ""
    except ValueError as exc:
        raise ValueError(
            f"the default of {name.value} is computed: declare it in settings by hand"
        ) from exc
    kind, item = _type_of(value)
    wrapper = located.parents.get(id(call))
    cast = _call_name(wrapper) if isinstance(wrapper, ast.Call) else ""
    if cast in _CASTS and cast != kind:
        # int(os.getenv("N", "5")): the setting is the int the code uses.
        try:
            value = _CASTS[cast](value) if cast != "bool" else _truthy(value)
        except (TypeError, ValueError) as exc:
            # Python's message quotes the value, which may be a secret: not shown.
            raise ValueError(f"the default is not a valid {cast}") from exc
        kind = cast
    if not _ENV_NAME_RE.match(name.value):
        raise ValueError(f"{name.value!r} is not a usable variable name")
    # The same test as the analyzer's masking: such a default is a secret that
    # must leave the code, not a value to copy into .env.example.
    secret = _holds_secret(value) or (
        is_secret_name(name.value)
        and any(is_secret_value(text) for text in _strings(value))
    )
    return Suggestion(
        # The code reads this very name: the deployment sets it as it is.
        key=name.value,
        type=kind,
        default=None if secret else value,
        secret=secret,
        help=f"read with a literal default{_where(finding)}",
        code=finding.code,
        item_type=item,
    )


def _strings(value: object) -> list[str]:
    """Return the strings a literal value holds (itself, or a container's items)."""
    items = value if isinstance(value, list | tuple | set) else [value]
    return [item for item in items if isinstance(item, str)]


def _holds_secret(value: object) -> bool:
    """Return True when a literal holds a key in a well-known secret format."""
    return any(looks_like_secret(text) for text in _strings(value))


def _truthy(value: object) -> bool:
    """Return what django-environ's bool makes of a default string."""
    return str(value).strip().lower() in {"true", "on", "ok", "y", "yes", "1"}


def _where(finding: Finding) -> str:
    """Return " in function", or "" at module level (the location says the file)."""
    function = scope(finding.function)
    return f" in {function}" if function else ""


def _suggestion(finding: Finding, located: _Located) -> Suggestion:
    """Return the setting suggested for one hard-coded finding.

    Raises ValueError when the literal cannot be found or has no setting type.
    """
    node = located.node(finding)
    if node is None:
        raise ValueError("the literal is not where the scan found it")
    if isinstance(node, ast.Call):
        return _getenv_suggestion(finding, located, node)
    try:
        value = _literal(node)
    except ValueError as exc:
        raise ValueError("the value is not a literal") from exc
    secret = finding.code == _SECRET_CODE or _holds_secret(value)
    kind, item = _type_of(value)
    bound, by_call = located.binding(node)
    name = _key_part(bound)
    word = _RULE_WORDS.get(finding.code, "VALUE")
    if by_call and bound in _DELAY_CALLS:
        word = "DELAY"
    if name and bound.isupper() and not by_call:
        # A module or class constant already has a configuration-like name.
        key = _key(name)
    elif name and not by_call:
        key = _key(_module_prefix(finding.path), name)
    else:
        key = _key(_module_prefix(finding.path), name, word)
    rule = RULES_BY_CODE[finding.code]
    what = "the literal head of an f-string" if isinstance(node, ast.JoinedStr) else ""
    help_text = f"{rule.name.replace('-', ' ')}{_where(finding)}"
    return Suggestion(
        key=key,
        type=kind,
        default=None if secret else value,
        secret=secret,
        help=f"{help_text}, {what}" if what else help_text,
        code=finding.code,
        item_type=item,
    )


def _representable(suggestion: Suggestion) -> None:
    """Raise ValueError when a .env line cannot carry the default as it is."""
    values = (
        suggestion.default
        if isinstance(suggestion.default, list | tuple | set)
        else [suggestion.default]
    )
    for value in values:
        text = "" if value is None else str(value)
        if "\n" in text or "\r" in text:
            raise ValueError("a multi-line literal does not fit a .env line")
        if text.startswith("$"):
            raise ValueError("django-environ reads a value starting with $ as a name")
        if suggestion.type == "list" and "," in text:
            raise ValueError("a list item with a comma does not fit env.list")


def _merge(suggestions: Iterable[tuple[Suggestion, str]]) -> list[Suggestion]:
    """Merge same key and default; number different defaults of one key."""
    merged: dict[str, Suggestion] = {}
    for suggestion, location in suggestions:
        key, number = suggestion.key, 1
        while key in merged:
            held = merged[key]
            if (held.type, held.default, held.secret) == (
                suggestion.type,
                suggestion.default,
                suggestion.secret,
            ):
                break
            number += 1
            key = f"{suggestion.key}_{number}"
        if key not in merged:
            suggestion.key = key
            merged[key] = suggestion
        merged[key].locations.append(location)
    return sorted(merged.values(), key=lambda s: s.key)


def config_template(findings: Iterable[Finding], read_source: ReadSource) -> Template:
    """Suggest one setting per hard-coded finding.

    read_source(path) returns a file's text as scanned, or None when it is gone
    or changed since; its findings are then listed as skipped, with the reason.
    """
    parsed: dict[str, _Located | None] = {}
    made: list[tuple[Suggestion, str]] = []
    skipped: list[tuple[str, str]] = []
    for finding in sorted(findings, key=lambda f: (f.path, f.line, f.column)):
        if finding.family != Family.HARDCODED_CONFIG:
            continue
        location = f"{finding.path}:{finding.line}"
        if finding.path not in parsed:
            source = read_source(finding.path)
            try:
                parsed[finding.path] = None if source is None else _Located(source)
            except SyntaxError:
                # It parsed at scan time, so it changed since: say so, go on.
                parsed[finding.path] = None
        located = parsed[finding.path]
        if located is None:
            skipped.append((location, "the file is gone or changed since the scan"))
            continue
        try:
            suggestion = _suggestion(finding, located)
            _representable(suggestion)
        except ValueError as exc:
            skipped.append((location, str(exc)))
            continue
        made.append((suggestion, location))
    return Template(suggestions=_merge(made), skipped=skipped)


def read_scanned(root: str, path: str, sha256: str) -> str | None:
    """Return a scanned file's text if it still has the hash it was scanned with.

    None when it is gone, unreadable or changed: what was found in it no
    longer matches its lines.
    """
    try:
        data = (Path(root) / path).read_bytes()
    except OSError:
        # Gone or unreadable since the scan; the caller says so per finding.
        return None
    if not sha256 or hashlib.sha256(data).hexdigest() != sha256:
        return None
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)
