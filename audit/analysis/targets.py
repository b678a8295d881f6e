"""What the targets of an assignment say about the value assigned to them."""

from __future__ import annotations

import ast

from audit.analysis.literals import HEADER_NAMES


def assigns_constant(node: ast.Assign | ast.AnnAssign) -> bool:
    """Return True when every target is an UPPER_CASE name: a config constant."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return all(
        isinstance(target, ast.Name) and target.id.isupper() for target in targets
    )


def target_names(targets: list[ast.expr]) -> list[str]:
    """Return the simple names (or attribute names) assigned to."""
    names = []
    for target in targets:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Attribute):
            names.append(target.attr)
    return names


def names_header(target: ast.expr) -> bool:
    """Return True for `headers["Referer"] = ...`: the value is a header's."""
    return (
        isinstance(target, ast.Subscript)
        and isinstance(target.slice, ast.Constant)
        and isinstance(target.slice.value, str)
        and target.slice.value.lower() in HEADER_NAMES
    )
