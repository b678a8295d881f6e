"""The dependency rules of the layout (docs/ARCHITECTURE.md), checked on the code.

Every import statement of every module counts, at any depth (imports inside
functions and under TYPE_CHECKING too), so a rule cannot be dodged by moving
an import into a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bus", "controlplane", "audit")
# Modules that assemble the project and may import anything below them.
ASSEMBLERS = {"controlplane.asgi", "controlplane.urls", "bus.apps"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            names: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif (
                    isinstance(node, ast.ImportFrom) and node.module and not node.level
                ):
                    names.add(node.module)
                    names.update(f"{node.module}.{alias.name}" for alias in node.names)
            found[_module_name(path)] = names
    return found


IMPORTS = _imports()


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _violations(source: str, target: str) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if _within(module, source)
        for name in names
        if _within(name, target)
    )


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("bus.store", "bus.gateway"),
        ("audit", "bus"),
        ("bus.models", "bus.gateway"),
        ("bus.models", "bus.store"),
        ("bus.protocol", "bus.gateway"),
        ("bus.protocol", "bus.store"),
        # The CI entry point (python -m audit) runs without Django.
        ("audit.analysis", "django"),
        ("audit.cli", "django"),
        ("audit.__main__", "django"),
        ("audit.cli", "audit.models"),
    ],
)
def test_imports__never_point_back(source: str, target: str) -> None:
    assert _violations(source, target) == []


def test_imports__the_pipeline_never_imports_a_transport() -> None:
    gateway = [
        module
        for module in IMPORTS
        if _within(module, "bus.gateway")
        and not _within(module, "bus.gateway.transports")
    ]
    offenders = sorted(
        f"{module} imports {name}"
        for module in gateway
        for name in IMPORTS[module]
        if _within(name, "bus.gateway.transports")
    )
    assert offenders == []


def test_imports__no_routing_module_below_the_assemblers() -> None:
    offenders = sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if module not in ASSEMBLERS
        for name in names
        if name.endswith(".routing") or name in ("bus.routing", "controlplane.urls")
    )
    assert offenders == []


def test_imports__the_walk_sees_the_whole_tree() -> None:
    """A rule over nothing proves nothing: the walk must find the known imports."""
    assert "bus.gateway.pipeline" in IMPORTS["bus.gateway.transports.websocket"]
    assert "bus.store.claims" in IMPORTS["bus.gateway.pipeline"]
    assert len(IMPORTS) > 60
