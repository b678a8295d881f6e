"""Severity and reason of a hard-coded configuration finding.

Critical for a real secret or a security switch that defaults to off; otherwise
the rule's baseline severity, with a one-line reason naming the value.
"""

from __future__ import annotations

import ast

from audit.analysis.impact import Impact
from audit.analysis.literals import getenv_default
from audit.analysis.records import Severity
from audit.analysis.rules import RULES_BY_CODE

# Words of a variable that switches a protection on, and the values that mean off.
_SECURITY_SWITCHES = ("AUTH", "SSL", "TLS", "VERIFY", "CSRF", "SECURE")
_OFF_VALUES = frozenset({"false", "0", "no", "off", "none", ""})


def config_impact(code: str, node: ast.AST, line: str, secret: bool) -> Impact:
    """Return the severity and reason of a hard-coded finding.

    Critical: a real secret, or a security switch that defaults to off
    (`os.getenv("AUTH_ENABLED", "false")`); otherwise the rule's severity.
    """
    if code == "AUD105" and secret:
        return Impact(Severity.CRITICAL, config_reason(code, node, line))
    if code == "AUD101" and isinstance(node, ast.Call) and _security_off(node):
        name = ast.unparse(node.args[0])
        return Impact(
            Severity.CRITICAL,
            f"{name} defaults to off outside the settings: a deployment that "
            "forgets it runs without the protection",
        )
    return Impact(RULES_BY_CODE[code].severity, config_reason(code, node, line))


def _security_off(call: ast.Call) -> bool:
    """Return True for an environment read of a security switch defaulting to off."""
    name = call.args[0] if call.args else None
    default = getenv_default(call)
    return (
        isinstance(name, ast.Constant)
        and isinstance(name.value, str)
        and any(word in name.value.upper() for word in _SECURITY_SWITCHES)
        and isinstance(default, ast.Constant)
        and str(default.value).strip().lower() in _OFF_VALUES
    )


def config_reason(code: str, node: ast.AST, snippet_line: str) -> str:
    """Return the one line that says why a hard-coded value matters here."""
    value = ast.unparse(node) if isinstance(node, ast.expr) else snippet_line.strip()
    if len(value) > 60:
        value = value[:57] + "..."
    if isinstance(node, ast.Call):
        # Name the variable, never quote the default: it may hold a secret.
        first = node.args[0] if node.args else None
        value = ast.unparse(first) if first is not None else "the variable"
    return {
        "AUD101": f"{value} gets a literal default outside the settings: "
        "each deployment that needs another value has to find this line",
        "AUD102": f"the address {value} is fixed in code: "
        "another deployment has to edit the source to point elsewhere",
        "AUD103": f"port {value} is fixed in code: "
        "it cannot change per deployment without editing the source",
        "AUD104": f"the limit {value} is fixed here: "
        "operators cannot tune it when load or latency differ",
        "AUD105": "a credential in the source is readable by everyone with the code "
        "and cannot be rotated without a release",
        "AUD106": f"the path {value} is fixed in code: "
        "it breaks wherever the file system is laid out differently",
        "AUD107": f"{value} gets a computed default outside the settings: "
        "the effective value is invisible to whoever configures the deployment",
        "AUD108": f"the default {value} is fixed in code: "
        "the calls in this module never pass it, so no setting can change it",
    }[code]
