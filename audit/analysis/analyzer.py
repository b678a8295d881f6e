"""Analyze one Python source: walk its AST once and apply the enabled rules."""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.analysis import background, dropped, hardcoded, silent
from audit.analysis.findings import Hit, findings_of
from audit.analysis.impact import Impact, call_name, silent_impact
from audit.analysis.intent import justified
from audit.analysis.logcalls import logger_aliases
from audit.analysis.masking import mask_lines
from audit.analysis.outcomes import suppress_hides_write, suppress_releases
from audit.analysis.parsing import decode_source, parse_source
from audit.analysis.prefilter import Triggers, dropped_callers
from audit.analysis.records import (
    Family,
    FileError,
    FileErrorKind,
    FileResult,
    Severity,
)

_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_FUNCTIONS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef})
_LOOPS = frozenset({ast.For, ast.AsyncFor, ast.While})
_GATHER_IMPACT = Impact(
    Severity.HIGH,
    "`gather(..., return_exceptions=True)` turns failures into results that nobody "
    "reads: every exception is lost",
)
_MODULE_SCOPE = "<module>"
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
# Fields that hold a block of statements, the unit the prefilter decides on.
_BLOCKS = frozenset({"body", "orelse", "finalbody"})
# A node to walk and where it sits: qualname, inside a config constant, scope.
_Entry = tuple[ast.AST, str, bool, silent.Scope]
Wanted = Callable[[ast.stmt], bool]
ALL_FAMILIES = frozenset(Family)
# The file view masks secrets wherever the analyzer could find one.
_MASKING_OPTIONS_FAMILIES = frozenset({Family.HARDCODED_CONFIG})


@dataclass(frozen=True, slots=True)
class FileOptions:
    """How to analyze one file: enabled families and whether it is a config module."""

    families: frozenset[Family] = ALL_FAMILIES
    config_module: bool = False


DEFAULT_FILE_OPTIONS = FileOptions()


@functools.cache
def _child_fields(kind: type) -> tuple[str, ...]:
    """Return the fields of an AST node type that can hold child nodes."""
    return tuple(name for name in kind._fields if name != "ctx")


class _Walker:
    """One pass over a module's AST that records (code, node, qualname, impact) hits."""

    def __init__(
        self, lines: list[str], options: FileOptions, module: ast.Module
    ) -> None:
        """Prepare the walk for one file, with the checks of its enabled families."""
        self.lines = lines
        self.module = module
        self.config_module = options.config_module
        self.qualname = _MODULE_SCOPE
        self.scope = silent.MODULE_SCOPE
        self.hits: list[Hit] = []
        self.skipped: list[_Entry] = []
        self.silent_checks: dict[type, Callable[[Any], None]] = {}
        if Family.SILENT_FAILURE in options.families:
            self.tuples = silent.exception_tuples(module)
            self.log_aliases = logger_aliases(module)
            self.secondary_tries: set[int] = set()
            self.silent_checks = {
                ast.Try: self._check_try,
                ast.TryStar: self._check_try,
                ast.Call: self._check_suppress,
                ast.Expr: self._check_statement,
                ast.Assign: self._check_assign,
                ast.FunctionDef: self._check_function,
                ast.AsyncFunctionDef: self._check_function,
            }
        # Judged after the walk, when every function of the module is known.
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.ignored_calls: list[tuple[str, ast.Expr, str]] = []
        self.bound_gathers: list[tuple[ast.Call, str, ast.AST, str]] = []
        # The hard-coded checks always run: they find the secret literals that
        # every snippet masks, even when their family's findings are not wanted.
        self.checker = hardcoded.ConfigChecker(
            self.report if Family.HARDCODED_CONFIG in options.families else _drop_hit,
            config_module=options.config_module,
            module=module,
        )
        self.config_checks = self.checker.checks
        self.secrets = self.checker.secrets

    def report(
        self,
        code: str,
        node: ast.AST,
        impact: Impact | None = None,
        qualname: str | None = None,
    ) -> None:
        """Record a hit for code at node, in the current scope unless told."""
        self.hits.append((code, node, qualname or self.qualname, impact))

    def walk(self, root: ast.AST, wanted: Wanted | None = None) -> None:
        """Check root and its descendants, parents before children.

        In a config module, UPPER_CASE constants (module or class level) are where
        configuration belongs, so the hard-coded checks learn which nodes lie
        inside one. Each node also knows its function and whether it is in a loop.

        With wanted, a statement it refuses is not entered but kept, with where
        it sits, in `skipped` (analysis/prefilter.py: nothing there can fire).

        An explicit stack over precomputed child fields (skipping contexts and
        operators) is several times faster than ast.NodeVisitor on large trees.
        """
        self.walk_from([(root, _MODULE_SCOPE, False, silent.MODULE_SCOPE)], wanted)

    def walk_from(self, stack: list[_Entry], wanted: Wanted | None = None) -> None:
        """Walk as `walk` does from nodes in known places (skipped ones, say)."""
        push, pop, skip = stack.append, stack.pop, self.skipped.append
        silent_checks, config_checks = self.silent_checks, self.config_checks
        config_module, assignments = self.config_module, hardcoded.ASSIGNMENTS
        node_type, leaves, checker = ast.AST, _LEAVES, self.checker
        while stack:
            node, qualname, exempt, scope = pop()
            kind = node.__class__
            if kind in _SCOPES:
                name = node.name  # type: ignore[attr-defined]
                qualname = name if qualname == _MODULE_SCOPE else f"{qualname}.{name}"
            elif config_module and kind in assignments and not exempt:
                exempt = hardcoded.assigns_constant(node)  # type: ignore[arg-type]
            self.qualname, self.scope = qualname, scope
            checker.scope = scope
            silent_check = silent_checks.get(kind)
            if silent_check is not None:
                silent_check(node)
            config_check = config_checks.get(kind)
            if config_check is not None:
                config_check(node, exempt)
            inner = _inner_scope(node, kind, scope)
            for field in _child_fields(kind):
                value = getattr(node, field)
                if value.__class__ is list and wanted is not None and field in _BLOCKS:
                    for item in reversed(value):
                        if item.__class__ in leaves:
                            continue
                        if wanted(item):
                            push((item, qualname, exempt, inner))
                        else:
                            skip((item, qualname, exempt, inner))
                elif value.__class__ is list:
                    for item in reversed(value):
                        if item.__class__ not in leaves and isinstance(item, node_type):
                            push((item, qualname, exempt, inner))
                elif value.__class__ not in leaves and isinstance(value, node_type):
                    push((value, qualname, exempt, inner))

    def _check_try(self, node: ast.Try) -> None:
        """Report the handlers of a `try` that hide the error."""
        for code, handler, impact in silent.check_try(
            node,
            self.lines,
            self.scope,
            self.tuples,
            self.secondary_tries,
            self.module,
            self.log_aliases,
        ):
            self.report(code, handler, impact)

    def _check_suppress(self, node: ast.Call) -> None:
        """Report `suppress(Exception)` and its like."""
        if silent.suppress_is_broad(node):
            guarded = self._guarded_by(node)
            if not suppress_releases(guarded, self.scope):
                impact = silent_impact("AUD004", guarded, "`suppress(Exception)`")
                self.report("AUD004", node, impact)
        elif node.args and call_name(node) == "suppress":
            guarded = self._guarded_by(node)
            if suppress_hides_write(node, guarded) and not justified(
                self.lines, node.lineno - 1, node.lineno
            ):
                what = f"`{ast.unparse(node)}` around a write"
                self.report("AUD007", node, silent_impact("AUD007", guarded, what))

    def _guarded_by(self, call: ast.Call) -> list[ast.stmt]:
        """Return the body of the `with` whose context manager is call."""
        function = self.scope.function
        for node in ast.walk(function) if function else ():
            if isinstance(node, ast.With | ast.AsyncWith) and any(
                item.context_expr is call for item in node.items
            ):
                return node.body
        return []

    def _check_statement(self, node: ast.Expr) -> None:
        """Report a dropped task and an ignored error result."""
        if dropped.discarded_task(node) and not background.task_accounted_for(
            node, self.lines, self.module, self.qualname
        ):
            call = ast.unparse(node.value.func)  # type: ignore[attr-defined]
            self.report(
                "AUD008",
                node,
                Impact(
                    Severity.HIGH,
                    f"the task of `{call}(...)` is not kept: if it fails, its "
                    "exception is never seen and the event loop may drop it midway",
                ),
            )
            return
        gather = dropped.discarded_gather(node)
        if gather is not None:
            if not background.gathers_cancelled(gather, self.scope.function):
                self.report("AUD011", gather, _GATHER_IMPACT)
            return
        name = dropped.local_call(node)
        if name:
            self.ignored_calls.append((name, node, self.qualname))

    def _check_assign(self, node: ast.Assign) -> None:
        """Remember a gather of exceptions bound to a name, to see if it is read."""
        bound = dropped.assigned_gather(node)
        if bound is not None:
            call, name = bound
            scope = self.scope.function or self.module
            self.bound_gathers.append((call, name, scope, self.qualname))

    def finish(self) -> None:
        """Judge what needs the whole module: ignored results, unread gathers."""
        self.checker.check_module(self.module)
        verdicts: dict[str, bool] = {}
        for name, node, qualname in self.ignored_calls:
            if name not in verdicts:
                verdicts[name] = any(
                    map(dropped.is_error_returning, self.functions.get(name, ()))
                )
            if verdicts[name]:
                impact = silent_impact("AUD009", [node], f"the result of `{name}`")
                reason = f"the result of `{name}` is discarded; " + (
                    "a failure here loses the client's result"
                    if impact.severity is Severity.CRITICAL
                    else "a failure here goes unnoticed"
                )
                self.report("AUD009", node, Impact(impact.severity, reason), qualname)
        for call, name, scope, qualname in self.bound_gathers:
            if not dropped.reads(scope, name) and not background.gathers_cancelled(
                call, scope
            ):
                self.report("AUD011", call, _GATHER_IMPACT, qualname)

    def _check_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Know the module's functions; report a swallowing `__exit__`."""
        self.functions.setdefault(node.name, []).append(node)
        for ret in dropped.exit_swallows(node):
            self.report(
                "AUD010",
                ret,
                Impact(
                    Severity.HIGH,
                    f"`{node.name}` returns True: every exception raised in the "
                    "`with` block is swallowed, whatever it is",
                ),
            )


def _inner_scope(node: ast.AST, kind: type, scope: silent.Scope) -> silent.Scope:
    """Return the scope of node's children: a new function, or now in a loop."""
    if kind in _FUNCTIONS:
        return silent.Scope(function=node, in_loop=False)  # type: ignore[arg-type]
    if kind in _LOOPS and not scope.in_loop:
        return silent.Scope(function=scope.function, in_loop=True)
    return scope


def _drop_hit(code: str, node: ast.AST, qualname: str | None = None) -> None:
    """Ignore a hit of a family that was not asked for."""


def analyze_source(
    data: bytes,
    path: str,
    options: FileOptions = DEFAULT_FILE_OPTIONS,
    *,
    prefilter: bool = True,
) -> FileResult:
    """Analyze the source bytes of one file and return its findings or its error.

    prefilter=False walks every node: the prefilter's test compares the two.
    """
    source = decode_source(data, path)
    if isinstance(source, FileError):
        return FileResult(path=path, error=source)
    try:
        module = parse_source(source, path)
    except SyntaxError as exc:
        message = f"line {exc.lineno}: {exc.msg}"
        # Imported here: libcst costs more start-up than a cold scan's whole
        # rule walk (benchmarks/README.md), and only files that fail need it.
        from audit.analysis.newer_syntax import newer_grammar

        version = newer_grammar(source)
        if version:
            message += (
                f"; the file is valid Python {version}: run the audit under "
                f"Python {version} or newer to analyze it"
            )
        error = FileError(path, FileErrorKind.SYNTAX, message)
        return FileResult(path=path, error=error)
    except (RecursionError, MemoryError, ValueError) as exc:
        error = FileError(path, FileErrorKind.SYNTAX, f"cannot parse: {exc!r}")
        return FileResult(path=path, error=error)
    lines = source.splitlines()
    walker = _Walker(lines, options, module)
    if prefilter:
        _walk_triggered(walker, module, source)
    else:
        walker.walk(module)
    walker.finish()
    findings = findings_of(walker.hits, lines, path, walker.secrets)
    return FileResult(path=path, findings=tuple(findings))


def _walk_triggered(walker: _Walker, module: ast.Module, source: str) -> None:
    """Walk only the statements whose text holds a trigger (analysis/prefilter.py).

    A call that drops an error-returning function's result (AUD009) names no
    trigger itself: once the walk knows the module's functions, the skipped
    statements holding such a call are walked too.
    """
    triggers = Triggers(source)
    walker.walk(module, triggers.covers)
    entries, lines = dropped_callers(walker.skipped, walker.functions, triggers)
    if entries:
        triggers.add(lines)
        walker.walk_from(entries, triggers.covers)


def masked_source_lines(source: str, path: str) -> list[str] | None:
    """Return source's lines with every secret literal masked, or None if unparsable.

    For showing a file: every check that finds secrets runs, as outside a config
    module, so a literal masked in any run's snippets is masked here too.
    """
    try:
        module = parse_source(source, path)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        # Unparsable now (changed since the run): the caller shows the snippets.
        return None
    lines = source.splitlines()
    walker = _Walker(lines, FileOptions(families=_MASKING_OPTIONS_FAMILIES), module)
    walker.walk(module)
    return mask_lines(lines, walker.secrets)
