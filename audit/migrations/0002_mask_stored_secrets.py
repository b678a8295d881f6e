"""Mask the secret literals that findings stored before the analyzer masked them.

New runs store snippets with each secret literal replaced by its first four
characters and its length. Rows stored before quote secrets whole; this masks
them with the same rules: parsable snippets the way the analyzer does, then
every string token in a well-known key format, and, in a hard-coded-secret
finding, every string that could be a secret. A secret finding whose snippet
still shows nothing to mask is withheld rather than kept whole. Fingerprints
stay as stored: a new run's fingerprint of a secret finding differs once.
"""

import ast
import io
import re
import tokenize

from django.db import migrations

from audit.analysis import masked_source_lines
from audit.analysis.hardcoded import is_secret_value, looks_like_secret
from audit.analysis.masking import mask_secret

SECRET_CODE = "AUD105"
BATCH_SIZE = 500
WITHHELD = "(snippet withheld: it may quote a secret; run the audit again)"
_MASKED_RE = re.compile(r"… \(\d+ chars\)\"")


def _secret_tokens(snippet: str, *, secret_finding: bool) -> list[tuple]:
    """Return (start, end, value) of the string tokens that hold a secret."""
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(snippet).readline):
            if token.type != tokenize.STRING:
                continue
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):
                # A prefix literal_eval refuses (bytes with escapes): not a str.
                continue
            if isinstance(value, str) and (
                looks_like_secret(value) or (secret_finding and is_secret_value(value))
            ):
                found.append((token.start, token.end, value))
    except (tokenize.TokenError, SyntaxError):
        # A snippet cut mid-statement ends early; the tokens read so far count.
        pass
    return found


def _mask_tokens(snippet: str, *, secret_finding: bool) -> str:
    """Return snippet with its secret string tokens masked, line count kept."""
    lines = snippet.split("\n")
    tokens = _secret_tokens(snippet, secret_finding=secret_finding)
    for (row, column), (end_row, end_column), value in reversed(tokens):
        tail = lines[end_row - 1][end_column:]
        lines[row - 1] = f'{lines[row - 1][:column]}"{mask_secret(value)}"{tail}'
        for number in range(row, end_row):
            lines[number] = ""
    return "\n".join(lines)


def masked_snippet(snippet: str, *, code: str) -> str:
    """Return a stored snippet with its secrets masked; idempotent."""
    if snippet == WITHHELD or _MASKED_RE.search(snippet):
        return snippet
    parsed = masked_source_lines(snippet, "stored snippet")
    masked = snippet if parsed is None else "\n".join(parsed)
    masked = _mask_tokens(masked, secret_finding=code == SECRET_CODE)
    if code == SECRET_CODE and masked == snippet:
        return WITHHELD
    return masked


def mask_stored_secrets(apps: object, schema_editor: object) -> None:
    """Mask every stored snippet, in batches."""
    finding_model = apps.get_model("audit", "Finding")
    changed = []
    rows = finding_model.objects.only("id", "code", "snippet").order_by("id")
    for finding in rows.iterator(chunk_size=BATCH_SIZE):
        masked = masked_snippet(finding.snippet, code=finding.code)
        if masked != finding.snippet:
            finding.snippet = masked
            changed.append(finding)
        if len(changed) >= BATCH_SIZE:
            finding_model.objects.bulk_update(changed, ["snippet"])
            changed = []
    finding_model.objects.bulk_update(changed, ["snippet"])


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_runs_findings_triage")]

    operations = [
        # The secrets cannot be put back: reversing leaves the masked snippets.
        migrations.RunPython(mask_stored_secrets, migrations.RunPython.noop),
    ]
