"""The real-code corpus: pinned sdists, their cache, and the candidates to label.

The candidate extractor does not use the analyzer: it lists every place a
reviewer has to look at (every except handler, every literal of the shapes that
may be configuration), so recall is measured against places found independently
of the rules being scored.
"""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import sys
import tarfile
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "audit" / "realcode"
PROJECTS_FILE = CORPUS_DIR / "projects.toml"
LABELS_FILE = CORPUS_DIR / "labels.csv"
DEFAULT_CACHE = Path.home() / ".cache" / "controlplane-audit-corpus"

_NAMED_NUMBER_RE = re.compile(
    r"timeout|interval|delay|limit|max|size|retr|backlog|workers|threads|port|"
    r"keepalive|ttl|expir|wait|sleep|queue|buffer|chunk|depth|count|concurren",
    re.IGNORECASE,
)
_HOST_LIKE_RE = re.compile(
    r"://|^localhost\b|^\d{1,3}(?:\.\d{1,3}){3}|^[a-z0-9-]+(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|io|dev|ai|app|cloud|co|local|internal|localdomain|example|test)"
    r"(?::\d+)?$|^(?:/|~/|[A-Za-z]:\\)[\w.-]+/",
    re.IGNORECASE,
)
_SECRET_NAME_RE = re.compile(r"passw|secret|token|api_?key|credential", re.I)
_NUMERIC_CALLS = frozenset({"sleep", "wait_for", "settimeout", "timeout"})


@dataclass(frozen=True)
class Project:
    """One pinned open-source project and the files of it that are labeled."""

    name: str
    version: str
    kind: str
    sha256: str
    root: str
    files: tuple[str, ...]
    holdout: tuple[str, ...]

    @property
    def sdist(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"


@dataclass(frozen=True)
class Candidate:
    """A place to label: its line, family and what it is."""

    line: int
    family: str
    what: str


def projects() -> list[Project]:
    """Return the pinned projects of the corpus."""
    data = tomllib.loads(PROJECTS_FILE.read_text())
    return [
        Project(
            name=entry["name"],
            version=entry["version"],
            kind=entry["kind"],
            sha256=entry["sha256"],
            root=entry["root"],
            files=tuple(entry["files"]),
            holdout=tuple(entry.get("holdout", ())),
        )
        for entry in data["project"]
    ]


def fetch(project: Project, cache: Path) -> Path:
    """Download (once) and unpack project's sdist; return its source root.

    Raises RuntimeError when pip cannot download it or its hash is not the pinned one.
    """
    archive = cache / project.sdist
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            str(cache),
            f"{project.name}=={project.version}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not archive.exists():
            raise RuntimeError(
                f"pip could not download {project.sdist}: {done.stderr.strip()[-500:]}"
            )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != project.sha256:
        raise RuntimeError(
            f"{project.sdist} has sha256 {digest}, pinned {project.sha256}"
        )
    unpacked = cache / "src"
    root = unpacked / project.root
    if not root.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
    return root


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _positive_number(node: ast.AST | None) -> bool:
    return (
        isinstance(node, ast.Constant)
        and type(node.value) in (int, float)
        and node.value > 0
    )


def _returns_true(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and not node.value.value)
        for node in ast.walk(function)
    )


def candidates(source: str) -> Iterator[Candidate]:
    """Yield every place of source that a labeler has to decide on."""
    with warnings.catch_warnings():
        # Third-party code's own invalid escapes are not ours to report.
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = ast.parse(source)
    seen: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        for found in _node_candidates(node):
            key = (found.line, found.family)
            if key not in seen:
                seen.add(key)
                yield found


def _node_candidates(node: ast.AST) -> Iterator[Candidate]:
    """Yield the candidates a single node is."""
    sf, hc = "silent_failure", "hardcoded_config"
    if isinstance(node, ast.ExceptHandler):
        yield Candidate(node.lineno, sf, "except handler")
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if node.name in {"__exit__", "__aexit__"} and _returns_true(node):
            yield Candidate(node.lineno, sf, "__exit__ returning a value")
        args = node.args
        positional = args.posonlyargs + args.args
        pairs = list(
            zip(
                positional[len(positional) - len(args.defaults) :],
                args.defaults,
                strict=True,
            )
        )
        pairs += [
            (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d
        ]
        for arg, default in pairs:
            if _positive_number(default) and _NAMED_NUMBER_RE.search(arg.arg):
                yield Candidate(default.lineno, hc, f"default of {arg.arg}")
    elif isinstance(node, ast.Call):
        name = _call_name(node)
        if name == "suppress":
            yield Candidate(node.lineno, sf, "suppress()")
        if name == "gather" and any(
            k.arg == "return_exceptions" for k in node.keywords
        ):
            yield Candidate(node.lineno, sf, "gather(return_exceptions)")
        if name == "getenv" or ast.unparse(node.func) == "os.environ.get":
            yield Candidate(node.lineno, hc, "environment read")
        for keyword in node.keywords:
            if (
                keyword.arg
                and _positive_number(keyword.value)
                and _NAMED_NUMBER_RE.search(keyword.arg)
            ):
                yield Candidate(keyword.value.lineno, hc, f"{keyword.arg}=")
        if name in _NUMERIC_CALLS and any(map(_positive_number, node.args)):
            yield Candidate(node.lineno, hc, f"{name}(number)")
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        if _call_name(node.value) in {"create_task", "ensure_future"}:
            yield Candidate(node.lineno, sf, "task not kept")
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [ast.unparse(t) for t in targets]
        value = node.value
        if _positive_number(value) and any(map(_NAMED_NUMBER_RE.search, names)):
            yield Candidate(node.lineno, hc, f"{names[0]} = number")
        if (
            isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and value.value
            and any(map(_SECRET_NAME_RE.search, names))
        ):
            yield Candidate(node.lineno, hc, f"{names[0]} = string")
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        if _HOST_LIKE_RE.search(node.value) and "\n" not in node.value:
            yield Candidate(node.lineno, hc, "host/url/path-like string")


def main() -> None:
    """Print the candidates of one file, as label rows to fill in."""
    path = Path(sys.argv[1])
    lines = path.read_text(encoding="utf-8").splitlines()
    for found in sorted(
        candidates(path.read_text(encoding="utf-8")), key=lambda c: c.line
    ):
        text = lines[found.line - 1].strip()
        print(f"{found.line}\t{found.family}\t{found.what}\t{text}")


if __name__ == "__main__":
    main()
