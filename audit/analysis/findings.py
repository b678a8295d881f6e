"""Turn the walker's hits into findings: snippet, masking, fingerprint, suppression."""

from __future__ import annotations

import ast
import hashlib
import textwrap
from collections import Counter

from audit.analysis.config_impact import config_impact
from audit.analysis.constants import SNIPPET_MAX_LINES
from audit.analysis.impact import Impact
from audit.analysis.masking import mask_lines, mask_secret
from audit.analysis.records import Finding
from audit.analysis.rules import RULES_BY_CODE

# (code, node, qualname, impact): what the walker records for one finding.
Hit = tuple[str, ast.AST, str, Impact | None]
_SUPPRESS_MARK = "audit: ignore"


def fingerprint(code: str, path: str, qualname: str, snippet: str, index: int) -> str:
    """Return a hash of a finding that ignores its line number.

    Inserting lines above a finding moves it but keeps rule, file, enclosing scope,
    code text and its rank among identical findings in that scope, so the hash stays.
    The snippet is the masked one: a hash of the secret next to its first
    characters and length would let anyone guess a short one offline.
    """
    normalized = " ".join(snippet.split())
    payload = "\x1f".join((code, path, qualname, normalized, str(index)))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _snippet(lines: list[str], node: ast.AST) -> str:
    """Return the dedented source lines of node, at most SNIPPET_MAX_LINES."""
    start = node.lineno
    end = min(node.end_lineno or start, start + SNIPPET_MAX_LINES - 1)
    return textwrap.dedent("\n".join(lines[start - 1 : end])).strip("\n")


def findings_of(
    hits: list[Hit],
    lines: list[str],
    path: str,
    secrets: list[ast.Constant],
) -> list[Finding]:
    """Turn walker hits into findings, dropping those marked `# audit: ignore`.

    Snippets come from the lines with secrets masked, and a finding on a secret
    names it masked in its message.
    """
    shown = mask_lines(lines, secrets) if secrets else lines
    secret_values = {id(node): node.value for node in secrets}
    seen: Counter[tuple[str, str, str]] = Counter()
    findings = []
    for code, node, qualname, impact in sorted(
        hits, key=lambda hit: (hit[1].lineno, hit[1].col_offset, hit[0])
    ):
        line_text = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
        if _is_suppressed(line_text, code):
            continue
        rule = RULES_BY_CODE[code]
        snippet = _snippet(shown, node)
        secret = secret_values.get(id(node))
        message = (
            rule.message if secret is None else f"{rule.message}: {mask_secret(secret)}"
        )
        key = (code, qualname, " ".join(snippet.split()))
        index = seen[key]
        seen[key] += 1
        if impact is None:
            impact = config_impact(code, node, line_text, secret is not None)
        findings.append(
            Finding(
                code=code,
                family=rule.family,
                severity=impact.severity,
                path=path,
                line=node.lineno,
                column=node.col_offset + 1,
                end_line=node.end_lineno or node.lineno,
                snippet=snippet,
                message=message,
                fix_hint=rule.fix_hint,
                fingerprint=fingerprint(code, path, qualname, snippet, index),
                function=qualname,
                reason=impact.reason,
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
