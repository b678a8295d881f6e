"""Turn a file's bytes into an AST: its encoding, and a parse that keeps quiet."""

from __future__ import annotations

import ast
import io
import tokenize
import warnings

from audit.analysis.records import FileError, FileErrorKind


def decode_source(data: bytes, path: str) -> str | FileError:
    """Decode source bytes honouring a coding cookie, or describe why not."""
    if b"\x00" in data:
        return FileError(path, FileErrorKind.BINARY, "file contains NUL bytes")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        return FileError(path, FileErrorKind.ENCODING, f"cannot decode: {exc}")


def parse_source(source: str, path: str) -> ast.Module:
    """Parse source, keeping its own warnings (`"\\*"` escapes) out of the output.

    An invalid escape in a scanned file is that file's business, not a warning
    of the audit: it would be printed once per file on every scan.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(source, filename=path)
