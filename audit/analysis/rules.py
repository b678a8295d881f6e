"""The rule registry: stable codes, severities, families, messages and fix hints.

Codes are never reused or renumbered; a retired rule keeps its code out of use.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.analysis.records import Family, Severity


@dataclass(frozen=True, slots=True)
class Rule:
    """One check: its stable code, name, family, severity, message and fix hint."""

    code: str
    name: str
    family: Family
    severity: Severity
    message: str
    fix_hint: str


_SF = Family.SILENT_FAILURE
_HC = Family.HARDCODED_CONFIG

RULES: tuple[Rule, ...] = (
    Rule(
        "AUD001",
        "bare-except",
        _SF,
        Severity.HIGH,
        "Bare `except:` catches everything, including KeyboardInterrupt and SystemExit",
        "Catch the narrowest exception you can handle, or `except Exception` "
        "with `logger.exception(...)` at a boundary.",
    ),
    Rule(
        "AUD002",
        "broad-except-swallowed",
        _SF,
        Severity.HIGH,
        "Broad except swallows the error (pass, ..., continue or return None)",
        "Let the exception propagate, or log it with `logger.exception(...)` and "
        "turn it into an explicit error for the caller.",
    ),
    Rule(
        "AUD003",
        "broad-except-hidden",
        _SF,
        Severity.HIGH,
        "Broad except hides the error behind a default without logging or re-raising",
        "Log with `logger.exception(...)` and re-raise or return an explicit "
        "error; do not substitute a default value silently.",
    ),
    Rule(
        "AUD004",
        "suppress-broad",
        _SF,
        Severity.HIGH,
        "`contextlib.suppress(Exception)` silently swallows every error",
        "Suppress only the specific exception that is expected, or use "
        "try/except with `logger.exception(...)`.",
    ),
    Rule(
        "AUD005",
        "broad-except-debug-only",
        _SF,
        Severity.MEDIUM,
        "Broad except logs only at debug level, invisible in production",
        "Log at warning or error with `exc_info=True` (or `logger.exception`).",
    ),
    Rule(
        "AUD006",
        "broad-except-log-without-error",
        _SF,
        Severity.LOW,
        "Broad except logs a message but neither the exception nor its traceback",
        "Use `logger.exception(...)` or pass `exc_info=True` so the cause is kept.",
    ),
    Rule(
        "AUD007",
        "narrow-except-pass-uncommented",
        _SF,
        Severity.LOW,
        "Exception ignored without a comment saying why that is safe",
        "Add a comment explaining why ignoring this exception is correct, or "
        "handle it.",
    ),
    Rule(
        "AUD008",
        "task-not-kept",
        _SF,
        Severity.HIGH,
        "Task created and dropped: its exception is never retrieved",
        "Keep a reference (a set of tasks, a TaskGroup) and await it or add a "
        "done callback that logs its exception.",
    ),
    Rule(
        "AUD009",
        "error-result-ignored",
        _SF,
        Severity.HIGH,
        "The False/None a helper returns on failure is ignored here",
        "Check the result and handle the failure, or make the helper raise.",
    ),
    Rule(
        "AUD010",
        "exit-swallows",
        _SF,
        Severity.HIGH,
        "`__exit__` returns True and swallows every exception of the block",
        "Return None (False) so exceptions propagate, or catch the specific one "
        "inside the block.",
    ),
    Rule(
        "AUD011",
        "gather-exceptions-unread",
        _SF,
        Severity.HIGH,
        "`gather(..., return_exceptions=True)` results are never inspected",
        "Look at each result and log or raise the exceptions among them.",
    ),
    Rule(
        "AUD101",
        "getenv-literal-default",
        _HC,
        Severity.MEDIUM,
        "Environment variable read with a literal default outside the config module",
        "Declare the variable once in the settings/config module with its type "
        "and default, and read the setting here.",
    ),
    Rule(
        "AUD102",
        "hardcoded-host",
        _HC,
        Severity.MEDIUM,
        "Hard-coded host, IP address or URL",
        "Move the address into configuration (settings or the config registry).",
    ),
    Rule(
        "AUD103",
        "hardcoded-port",
        _HC,
        Severity.MEDIUM,
        "Hard-coded port number",
        "Read the port from configuration.",
    ),
    Rule(
        "AUD104",
        "hardcoded-timeout-limit",
        _HC,
        Severity.MEDIUM,
        "Literal timeout, delay or limit passed to a call",
        "Name the value in configuration (with bounds) and pass the setting.",
    ),
    Rule(
        "AUD105",
        "hardcoded-secret",
        _HC,
        Severity.CRITICAL,
        "Secret (password, token or API key) in a string literal",
        "Remove the secret from the code, rotate it, and load it from the "
        "environment through settings.",
    ),
    Rule(
        "AUD106",
        "hardcoded-path",
        _HC,
        Severity.LOW,
        "Hard-coded absolute filesystem path",
        "Read the path from configuration or derive it from a configured base "
        "directory.",
    ),
    Rule(
        "AUD107",
        "getenv-computed-default",
        _HC,
        Severity.MEDIUM,
        "Environment variable read with a computed default outside the config module",
        "Declare the variable once in the settings/config module with its type "
        "and default, and read the setting here.",
    ),
    Rule(
        "AUD108",
        "parameter-default-timeout-limit",
        _HC,
        Severity.MEDIUM,
        "Literal timeout or limit as the default of an internal function's parameter",
        "Pass the configured value from the caller, or default to the setting.",
    ),
)

RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}
