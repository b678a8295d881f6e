"""Analyze one Python source: walk its AST once and apply the enabled rules."""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import textwrap
import tokenize
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.analysis import hardcoded, silent
from audit.analysis.constants import SNIPPET_MAX_LINES
from audit.analysis.records import (
    Family,
    FileError,
    FileErrorKind,
    FileResult,
    Finding,
)
from audit.analysis.rules import RULES_BY_CODE

_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_MODULE_SCOPE = "<module>"
_ASSIGNS = frozenset({ast.Assign, ast.AnnAssign})
# Nodes with nothing to check below them: contexts, operators, names, aliases.
_LEAVES = frozenset(
    {ast.Load, ast.Store, ast.Del, ast.Name, ast.alias, ast.Pass, ast.Break}
    | {
        cls
        for cls in vars(ast).values()
        if isinstance(cls, type)
        and issubclass(cls, ast.operator | ast.boolop | ast.cmpop | ast.unaryop)
    }
)
_SUPPRESS_MARK = "audit: ignore"
ALL_FAMILIES = frozenset(Family)


@dataclass(frozen=True, slots=True)
class FileOptions:
    """How to analyze one file: enabled families and whether it is a config module."""

    families: frozenset[Family] = ALL_FAMILIES
    config_module: bool = False


DEFAULT_FILE_OPTIONS = FileOptions()


def fingerprint(code: str, path: str, qualname: str, snippet: str, index: int) -> str:
    """Return a hash of a finding that ignores its line number.

    Inserting lines above a finding moves it but keeps rule, file, enclosing scope,
    code text and its rank among identical findings in that scope, so the hash stays.
    """
    normalized = " ".join(snippet.split())
    payload = "\x1f".join((code, path, qualname, normalized, str(index)))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@functools.cache
def _child_fields(kind: type) -> tuple[str, ...]:
    """Return the fields of an AST node type that can hold child nodes."""
    return tuple(name for name in kind._fields if name != "ctx")


def _assigns_constant(node: ast.Assign | ast.AnnAssign) -> bool:
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


class _Walker:
    """One pass over a module's AST that records (code, node, qualname) hits."""

    def __init__(self, lines: list[str], options: FileOptions) -> None:
        """Prepare the walk for one file."""
        self.lines = lines
        self.options = options
        self.silent = Family.SILENT_FAILURE in options.families
        self.config = Family.HARDCODED_CONFIG in options.families
        self.qualname = _MODULE_SCOPE
        self.hits: list[tuple[str, ast.AST, str]] = []
        self.handled: set[int] = set()
        self.in_config_constant = False
        self.checks: dict[type, Callable[[Any], None]] = {}
        if self.config:
            self.checks.update(
                {
                    ast.Constant: self._check_constant,
                    ast.Call: self._check_call,
                    ast.Assign: self._check_assign,
                    ast.AnnAssign: self._check_assign,
                    ast.Dict: self._check_dict,
                    ast.JoinedStr: self._check_fstring,
                }
            )
        elif self.silent:
            # suppress(Exception) is a call: calls are checked for either family.
            self.checks[ast.Call] = self._check_call
        if self.silent:
            self.checks[ast.ExceptHandler] = self._check_handler

    def report(self, code: str, node: ast.AST) -> None:
        """Record a hit for code at node, in the current scope."""
        self.hits.append((code, node, self.qualname))

    def walk_module(self, module: ast.Module) -> None:
        """Walk the module from its top-level statements."""
        self._skip_docstring(module.body)
        for stmt in module.body:
            self._walk(stmt)

    def _skip_docstring(self, body: list[ast.stmt]) -> None:
        """Mark a leading docstring so it is not read as a literal."""
        if body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                self.handled.add(id(value))

    def _walk(self, root: ast.AST) -> None:
        """Check root and its descendants, parents before children.

        In a config module, UPPER_CASE constants (module or class level) are where
        configuration belongs, so their values are exempt except for secrets.

        An explicit stack over precomputed child fields (skipping contexts and
        operators) is several times faster than ast.NodeVisitor on large trees.
        """
        stack: list[tuple[ast.AST, str, bool]] = [(root, _MODULE_SCOPE, False)]
        push, pop = stack.append, stack.pop
        checks = self.checks
        config_module = self.options.config_module
        node_type, leaves = ast.AST, _LEAVES
        while stack:
            node, qualname, exempt = pop()
            kind = node.__class__
            if kind in _SCOPES:
                self._skip_docstring(node.body)  # type: ignore[attr-defined]
                name = node.name  # type: ignore[attr-defined]
                qualname = name if qualname == _MODULE_SCOPE else f"{qualname}.{name}"
            elif config_module and kind in _ASSIGNS and not exempt:
                exempt = _assigns_constant(node)  # type: ignore[arg-type]
            check = checks.get(kind)
            if check is not None:
                self.qualname = qualname
                self.in_config_constant = exempt
                check(node)
            for field in _child_fields(kind):
                value = getattr(node, field)
                if value.__class__ is list:
                    for item in reversed(value):
                        if item.__class__ not in leaves and isinstance(item, node_type):
                            push((item, qualname, exempt))
                elif value.__class__ not in leaves and isinstance(value, node_type):
                    push((value, qualname, exempt))

    def _check_handler(self, node: ast.ExceptHandler) -> None:
        """Report an exception handler that hides the error."""
        code = silent.handler_code(node, self.lines)
        if code:
            self.report(code, node)

    def _check_constant(self, node: ast.Constant) -> None:
        """Check a string literal not already reported through its parent."""
        if type(node.value) is str and id(node) not in self.handled:
            self._check_string(node, node.value)

    def _check_assign(self, node: ast.Assign | ast.AnnAssign) -> None:
        """Check a value assigned to a name that says it is a secret or a port."""
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        self._check_named_value(_target_names(targets), node.value)

    def _check_dict(self, node: ast.Dict) -> None:
        """Check dict entries whose string key says the value is a secret or a port."""
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self._check_named_value([key.value], value)

    def _check_string(self, node: ast.Constant, value: str) -> None:
        """Report a string literal that is a secret, a host/URL or a path."""
        if hardcoded.looks_like_secret(value):
            self.report("AUD105", node)
        elif self.in_config_constant:
            return
        elif hardcoded.looks_like_host(value):
            self.report("AUD102", node)
        elif hardcoded.looks_like_path(value):
            self.report("AUD106", node)

    def _check_fstring(self, node: ast.JoinedStr) -> None:
        """Report an f-string whose literal head is a URL with a literal host."""
        for part in node.values:
            self.handled.add(id(part))
        head = node.values[0] if node.values else None
        if (
            not self.in_config_constant
            and isinstance(head, ast.Constant)
            and isinstance(head.value, str)
            and hardcoded.has_literal_url_host(head.value)
        ):
            self.report("AUD102", node)

    def _check_call(self, node: ast.Call) -> None:
        """Report literal defaults, ports, timeouts and broad suppress() in a call."""
        if self.silent and silent.suppress_is_broad(node):
            self.report("AUD004", node)
        if not self.config or self.in_config_constant:
            return
        default = hardcoded.getenv_default(node)
        if default is not None:
            self._mark(default)
            if not self.options.config_module:
                self.report("AUD101", node)
            return
        for timeout in hardcoded.timeout_arguments(node):
            self.report("AUD104", timeout)
        for keyword in node.keywords:
            if keyword.arg:
                self._check_named_value([keyword.arg], keyword.value)

    def _check_named_value(self, names: list[str], value: ast.expr | None) -> None:
        """Report a secret or a port assigned to a name that says what it is."""
        if not isinstance(value, ast.Constant) or not names:
            return
        if type(value.value) is str and any(map(hardcoded.is_secret_name, names)):
            if hardcoded.is_secret_value(value.value) and id(value) not in self.handled:
                self.handled.add(id(value))
                self.report("AUD105", value)
        elif (
            not self.in_config_constant
            and hardcoded.is_port(value)
            and any(map(hardcoded.is_port_name, names))
            and id(value) not in self.handled
        ):
            self.handled.add(id(value))
            self.report("AUD103", value)

    def _mark(self, node: ast.AST) -> None:
        """Mark node and its descendants as already reported."""
        self.handled.update(id(child) for child in ast.walk(node))


def _snippet(lines: list[str], node: ast.AST) -> str:
    """Return the dedented source lines of node, at most SNIPPET_MAX_LINES."""
    start = node.lineno
    end = min(node.end_lineno or start, start + SNIPPET_MAX_LINES - 1)
    return textwrap.dedent("\n".join(lines[start - 1 : end])).strip("\n")


def _decode(data: bytes, path: str) -> str | FileError:
    """Decode source bytes honouring a coding cookie, or describe why not."""
    if b"\x00" in data:
        return FileError(path, FileErrorKind.BINARY, "file contains NUL bytes")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        return FileError(path, FileErrorKind.ENCODING, f"cannot decode: {exc}")


def analyze_source(
    data: bytes, path: str, options: FileOptions = DEFAULT_FILE_OPTIONS
) -> FileResult:
    """Analyze the source bytes of one file and return its findings or its error."""
    source = _decode(data, path)
    if isinstance(source, FileError):
        return FileResult(path=path, error=source)
    try:
        module = ast.parse(source, filename=path)
    except SyntaxError as exc:
        error = FileError(path, FileErrorKind.SYNTAX, f"line {exc.lineno}: {exc.msg}")
        return FileResult(path=path, error=error)
    except (RecursionError, MemoryError, ValueError) as exc:
        error = FileError(path, FileErrorKind.SYNTAX, f"cannot parse: {exc!r}")
        return FileResult(path=path, error=error)
    lines = source.splitlines()
    walker = _Walker(lines, options)
    walker.walk_module(module)
    return FileResult(path=path, findings=tuple(_findings(walker.hits, lines, path)))


def _findings(
    hits: list[tuple[str, ast.AST, str]], lines: list[str], path: str
) -> list[Finding]:
    """Turn walker hits into findings, dropping those marked `# audit: ignore`."""
    seen: Counter[tuple[str, str, str]] = Counter()
    findings = []
    for code, node, qualname in sorted(
        hits, key=lambda hit: (hit[1].lineno, hit[1].col_offset, hit[0])
    ):
        line_text = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
        if _is_suppressed(line_text, code):
            continue
        rule = RULES_BY_CODE[code]
        snippet = _snippet(lines, node)
        key = (code, qualname, " ".join(snippet.split()))
        index = seen[key]
        seen[key] += 1
        findings.append(
            Finding(
                code=code,
                family=rule.family,
                severity=rule.severity,
                path=path,
                line=node.lineno,
                column=node.col_offset + 1,
                end_line=node.end_lineno or node.lineno,
                snippet=snippet,
                message=rule.message,
                fix_hint=rule.fix_hint,
                fingerprint=fingerprint(code, path, qualname, snippet, index),
            )
        )
    return findings


def _is_suppressed(line_text: str, code: str) -> bool:
    """Return True when the line carries `# audit: ignore` or `ignore[CODE]`."""
    position = line_text.find(_SUPPRESS_MARK)
    if position < 0:
        return False
    rest = line_text[position + len(_SUPPRESS_MARK) :]
    if not rest.startswith("["):
        return True
    return code in rest[1 : rest.find("]")].replace(" ", "").split(",")
