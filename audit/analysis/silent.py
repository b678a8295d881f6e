"""Silent-failure checks: exception handlers and suppressors that hide errors.

A handler is judged with the `try` it belongs to and the function around it, so
intent the code states is recognised: the exception is the answer (a probe, the
miss branch of a look-up), it is reported (any logger, an error sent to the
caller or peer, kept and raised later), or a comment in or above the `try` says
why it is safe. README "Silent failures" lists each exemption per rule.
"""

from __future__ import annotations

import ast

from audit.analysis.caught import (
    BROAD_NAMES,
    exception_names,
    exception_tuples,
    is_broad_type,
)
from audit.analysis.context import (
    closes_written,
    documents_absent_answer,
    enclosing_blocks,
    followed_by_raise,
    keeps_prior_default,
    missing_api_shim,
    platform_probe,
)
from audit.analysis.followup import (
    nested_tries,
    overwrites_unreadable,
    reports_loudly,
)
from audit.analysis.impact import Impact, call_name, silent_impact
from audit.analysis.intent import (
    MODULE_SCOPE,
    NESTED_SCOPES,
    Scope,
    body_nodes,
    documented,
    is_probe,
    only_cleanup,
    probe_alternatives,
    reports_failure,
    reports_to_caller,
    try_commented,
)
from audit.analysis.logcalls import (
    is_log_call,
    only_debug_tracebacks,
)
from audit.analysis.outcomes import (
    CONVERSION_ERRORS,
    comment_shared,
    display_fallback,
    given_input_dropped,
    in_destructor,
    may_drop_given_input,
    states_failure,
    stores_data,
    would_block_expected,
)
from audit.analysis.records import Severity
from audit.analysis.retries import (
    next_alternative,
    next_candidate,
    retried_until_raise,
)
from audit.analysis.verdicts import broad_code, narrow_code

__all__ = [
    "MODULE_SCOPE",
    "Scope",
    "check_try",
    "exception_tuples",
    "suppress_is_broad",
]

# Broad-handler verdicts that hide the error: a fallback, or a debug line only.
_HIDING = frozenset({"AUD003", "AUD005"})
# Verdicts of a handler that drops the error outright, where the statements
# around the `try` may still say it is expected.
_SILENT_CODES = frozenset({"AUD001", "AUD002", "AUD007"})
Hit = tuple[str, ast.AST, Impact]


def _is_silent_statement(stmt: ast.stmt) -> bool:
    """Return True for pass, `...`, a bare string, continue, return and return None."""
    if isinstance(stmt, ast.Pass | ast.Continue):
        return True
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant)
    if isinstance(stmt, ast.Return):
        value = stmt.value
        return value is None or (
            isinstance(value, ast.Constant) and value.value is None
        )
    return False


def check_try(
    try_node: ast.Try,
    lines: list[str],
    scope: Scope,
    tuples: dict[str, list[str]],
    secondary: set[int],
    module: ast.Module,
    log_aliases: frozenset[str] = frozenset(),
) -> list[Hit]:
    """Return the silent-failure hits of every handler of a `try`.

    secondary holds the ids of the `try` statements nested in a handler that
    reports its failure (parents are checked first): what fails inside them
    while the first error is being reported changes nothing anyone can see.
    module is searched, only for a handler about to be reported, for the block
    that holds the `try` (what comes before and after it).
    """
    hits = []
    chain: list[list[ast.stmt]] | None = None
    for handler in try_node.handlers:
        code = handler_code(
            handler,
            try_node,
            lines,
            scope,
            tuples,
            id(try_node) in secondary,
            log_aliases,
        )
        if code and code in _SILENT_CODES and _silent_body(handler):
            if chain is None:
                chain = enclosing_blocks(try_node, scope, module)
            if _expected_by_context(code, handler, try_node, chain, module, lines):
                code = None
        elif not code and _drops_given_input(handler, try_node, tuples, lines):
            if chain is None:
                chain = enclosing_blocks(try_node, scope, module)
            if given_input_dropped(try_node, chain):
                code = "AUD007"
        if not code:
            nested = nested_tries(handler)
            if nested and reports_loudly(handler):
                secondary.update(map(id, nested))
            continue
        what = _describe(handler, code)
        if code == "AUD007" and overwrites_unreadable(try_node, scope):
            impact = Impact(
                Severity.CRITICAL,
                f"{what}: a file that cannot be read is replaced by a fresh value "
                "and this function writes it back, so its content is lost",
            )
        elif only_cleanup(try_node) and closes_written(try_node, scope):
            impact = Impact(
                Severity.CRITICAL,
                f"{what} around `close()` of what this function wrote: closing "
                "flushes, so a failure here loses the data written",
            )
        else:
            impact = silent_impact(code, try_node.body, what)
        hits.append((code, handler, impact))
    return hits


def _drops_given_input(
    handler: ast.ExceptHandler,
    try_node: ast.Try,
    tuples: dict[str, list[str]],
    lines: list[str],
) -> bool:
    """Return True for an uncommented conversion whose bad input is dropped."""
    names = exception_names(handler.type, tuples)
    return (
        "ValueError" in names
        and names <= CONVERSION_ERRORS
        and may_drop_given_input(handler, try_node)
        and not try_commented(try_node, handler, lines)
    )


def _silent_body(handler: ast.ExceptHandler) -> bool:
    """Return True when the handler only passes, continues or returns None."""
    body = [stmt for stmt in handler.body if not isinstance(stmt, NESTED_SCOPES)]
    return all(_is_silent_statement(stmt) for stmt in body)


def _expected_by_context(
    code: str,
    handler: ast.ExceptHandler,
    try_node: ast.Try,
    chain: list[list[ast.stmt]],
    module: ast.Module,
    lines: list[str],
) -> bool:
    """Return True when the statements around the `try` make its silence expected.

    A best-effort step right before a `raise` cannot change the outcome: the
    error is reported anyway, as the exhaustion of a loop that tries the next
    candidate is. A narrow failure in a retry loop whose check raises when it
    gives up is tried again; a narrow miss right before a `try` of the next way
    leaves it the answer. A narrow handler that only passes keeps the default
    bound before the `try` (the probe's or look-up's other answer). A non-blocking
    call that would block is the expected answer of its idiom. A comment above
    the loop that is all the `try`, or on its twin right before, explains it.
    """
    if followed_by_raise(try_node, chain) or next_candidate(try_node, chain):
        return True
    if code == "AUD007" and (
        retried_until_raise(try_node, chain) or next_alternative(try_node, chain)
    ):
        # Narrow only: a broad handler retried or passed over also hides bugs.
        return True
    if handler.type is not None and comment_shared(try_node, chain, lines):
        return True
    if code == "AUD007" and would_block_expected(
        exception_names(handler.type, {}), try_node, module
    ):
        return True
    return (
        code == "AUD007"
        and all(isinstance(stmt, ast.Pass) for stmt in handler.body)
        and keeps_prior_default(try_node, chain)
    )


def _describe(handler: ast.ExceptHandler, code: str) -> str:
    caught = ast.unparse(handler.type) if handler.type is not None else ""
    head = f"`except {caught}`" if caught else "a bare `except:`"
    return {
        "AUD002": f"{head} that only passes",
        "AUD003": f"{head} substituting a fallback",
        "AUD005": f"{head} logging only at debug",
        "AUD006": f"{head} logging without the exception",
        "AUD007": f"{head} ignored without a comment",
    }.get(code, head)


def handler_code(
    handler: ast.ExceptHandler,
    try_node: ast.Try,
    lines: list[str],
    scope: Scope = MODULE_SCOPE,
    tuples: dict[str, list[str]] | None = None,
    on_error_path: bool = False,
    log_aliases: frozenset[str] = frozenset(),
) -> str | None:
    """Return the rule code an exception handler violates, or None.

    on_error_path: the `try` sits in a handler that already reports a failure.
    log_aliases: module-level names bound to a logger's methods (`crit`).
    A bare `except:` is judged like `except Exception`, reported as AUD001
    when it hides the error; one that logs or reports it is not a silent failure.
    """
    tuples = tuples or {}
    bare = handler.type is None
    names = exception_names(handler.type, tuples)
    broad = bare or not BROAD_NAMES.isdisjoint(names)
    body = [stmt for stmt in handler.body if not isinstance(stmt, NESTED_SCOPES)]
    silent_body = all(_is_silent_statement(stmt) for stmt in body)
    if silent_body and (on_error_path or in_destructor(scope)):
        # A second failure while the first is being reported changes nothing;
        # a destructor has no caller that could act on its failure.
        return None
    if (
        (silent_body or only_debug_tracebacks(body))
        and only_cleanup(try_node)
        and not closes_written(try_node, scope)
    ):
        # Best-effort release (RUBRIC.md, "cleanup"): whatever the handler
        # catches, a failed close or unregister loses nothing and changes no
        # outcome, whether it passes or keeps the traceback at debug (a
        # note without it stays a low finding); closing what this function
        # wrote is judged as a write.
        return None
    if documents_absent_answer(handler, scope):
        return None
    if silent_body and missing_api_shim(try_node):
        return None
    if bare and silent_body:
        return "AUD002" if not try_commented(try_node, handler, lines) else "AUD001"
    if (
        not bare
        and (try_commented(try_node, handler, lines) or documented(scope))
        # A comment says why carrying on is fine; it cannot bring back a
        # write to a store that a broad handler dropped.
        and not (silent_body and broad and stores_data(try_node))
    ):
        return None
    if probe_alternatives(try_node, scope) and silent_body:
        return None
    if not broad:
        return narrow_code(handler, try_node, names, body, scope)
    log_calls: list[ast.Call] = []
    reports = False
    for node in body_nodes(handler.body):
        if isinstance(node, ast.Raise):
            return None
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute | ast.Name) and reports_failure(
                node.func
            ):
                reports = True
            elif is_log_call(node, log_aliases):
                log_calls.append(node)
            elif reports_to_caller(node):
                reports = True
    if silent_body:
        return "AUD002"
    if (
        reports
        or is_probe(handler, scope)
        or platform_probe(try_node, body)
        or states_failure(body)
        or display_fallback(handler, try_node, scope, log_aliases)
    ):
        return None
    code = broad_code(handler, log_calls)
    if bare:
        return "AUD001" if code in _HIDING else None
    return code


def suppress_is_broad(call: ast.Call) -> bool:
    """Return True for `suppress(Exception)` / `contextlib.suppress(BaseException)`."""
    return call_name(call) == "suppress" and any(
        is_broad_type(arg) for arg in call.args
    )
