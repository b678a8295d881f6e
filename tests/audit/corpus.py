"""The labeled corpus: sample files whose comments say what the analyzer should find.

A comment `# expect: AUD001` marks a finding expected on that line. `miss: CODE`
marks a true finding the analyzer is known not to report, and
`false-positive: CODE` one it reports although it is wrong; both count in the
precision/recall figures but describe today's behaviour exactly. A `-next`
suffix (`expect-next: AUD007`) labels the following line, for handlers whose
own comment would change the verdict.

`masked: sk_l… (34 chars)` says a secret literal starts on that line and how
every finding quoting it must show it: first 4 characters and length.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from audit.analysis import FileOptions, Finding, analyze_source
from audit.analysis.discovery import is_config_module

SAMPLES = Path(__file__).parent / "samples"
_MARKER_RE = re.compile(
    r"(expect|miss|false-positive)(-next)?:\s*((?:AUD\d{3}[,\s]*)+)"
)

_LABEL_COMMENT_RE = re.compile(
    rb"#[ \t]*(?:expect|miss|false-positive)(?:-next)?:[^\n]*$",
    re.MULTILINE,
)
_MASKED_RE = re.compile(r"masked:\s*(\S{1,4}… \(\d+ chars\))")

Hit = tuple[int, str]


@dataclass(frozen=True)
class Labels:
    """The markers of one sample file, as (line, code) multisets."""

    expect: Counter[Hit]
    miss: Counter[Hit]
    false_positive: Counter[Hit]


def sample_paths() -> list[Path]:
    """Return every sample file, sorted."""
    return sorted(SAMPLES.rglob("*.py"))


def sample_id(path: Path) -> str:
    """Return the sample's path relative to the corpus root."""
    return path.relative_to(SAMPLES).as_posix()


def labels(path: Path) -> Labels:
    """Parse the markers of a sample file."""
    found: dict[str, Counter[Hit]] = {
        kind: Counter() for kind in ("expect", "miss", "false-positive")
    }
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for kind, next_line, codes in _MARKER_RE.findall(line):
            target = number + 1 if next_line else number
            for code in re.findall(r"AUD\d{3}", codes):
                found[kind][(target, code)] += 1
    return Labels(found["expect"], found["miss"], found["false-positive"])


def unmarked(source: bytes) -> bytes:
    """Return source with its label comments blanked, line numbers unchanged.

    A label is not part of the code under test: the analyzer counts a comment
    by the handler as a reason, and a marker must not be taken for one.
    """
    return _LABEL_COMMENT_RE.sub(b"", source)


def analyze(path: Path) -> list[Finding]:
    """Run the analyzer on a sample the way a scan would, labels blanked."""
    relative = sample_id(path)
    options = FileOptions(config_module=is_config_module(relative))
    result = analyze_source(unmarked(path.read_bytes()), relative, options)
    assert result.error is None, result.error
    return list(result.findings)


def reported(findings: list[Finding]) -> Counter[Hit]:
    """Return the findings as a (line, code) multiset."""
    return Counter((finding.line, finding.code) for finding in findings)


def masked_marks(path: Path) -> list[tuple[int, str]]:
    """Return the (line, masked form) of each `masked:` marker of a sample."""
    return [
        (number, shown)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for shown in _MASKED_RE.findall(line)
    ]


def secret_literal(path: Path, line: int, shown: str) -> str:
    """Return the string literal starting on line whose masked form is shown."""
    found = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.lineno == line
        and shown == f"{node.value[:4]}… ({len(node.value)} chars)"
    ]
    assert len(found) == 1, (path, line, shown, found)
    return found[0]


def leaks(text: str, secret: str) -> bool:
    """Return True when text holds any six characters of secret past the shown four."""
    hidden = secret[4:]
    width = min(6, len(hidden))
    return any(
        hidden[start : start + width] in text
        for start in range(len(hidden) - width + 1)
    )
