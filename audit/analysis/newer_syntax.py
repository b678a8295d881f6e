"""Tell which newer Python a file that the running interpreter cannot parse needs.

libcst's native parser (a well-kept concrete-syntax parser, used by codemod
tools) accepts the grammar of newer Python versions than the one running: a
file that fails `ast.parse` here but parses with libcst is valid code for a
newer interpreter, so the error can say which one to run the audit under
instead of calling the file broken.
"""

from __future__ import annotations

import libcst

# Type parameters with defaults (PEP 696) arrived in 3.13; everything else that
# 3.11 rejects and libcst accepts (PEP 695 type statements and parameters,
# PEP 701 f-strings) needs 3.12.
_TYPE_DEFAULTS = "3.13"
_OTHERWISE = "3.12"


def newer_grammar(source: str) -> str | None:
    """Return the Python version whose grammar accepts source, or None if none does."""
    try:
        module = libcst.parse_module(source)
    except (libcst.ParserSyntaxError, RecursionError, ValueError):
        # Not valid in any grammar libcst knows: the ast error stands alone.
        return None
    finder = _TypeDefaults()
    module.visit(finder)
    return _TYPE_DEFAULTS if finder.found else _OTHERWISE


class _TypeDefaults(libcst.CSTVisitor):
    """Find a type parameter with a default (`def f[T = int]()`)."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_TypeParam(self, node: libcst.TypeParam) -> None:
        if node.default is not None:
            self.found = True
