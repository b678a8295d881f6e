"""The value grammar: configuration values written as in .env, parsed and rendered."""

from __future__ import annotations

from typing import Any

from controlplane.config.schema import TYPES, describe_rule, format_number, spec_of
from controlplane.units import format_bytes

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(key: str, raw: str) -> Any:
    """Parse a raw string for a key; raise ValueError naming the rule it breaks."""
    kind, spec = TYPES[key], spec_of(key)
    text = raw.strip()
    rule = describe_rule(key)
    value: Any
    if kind is bool:
        if text.lower() not in _TRUE | _FALSE:
            raise ValueError(f"must be {rule}")
        value = text.lower() in _TRUE
    elif kind is int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"must be {rule}") from None
    elif kind is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"must be {rule}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"must be {rule}")
    elif kind is str:
        value = text
    else:
        value = tuple(part.strip() for part in text.split(",") if part.strip())
    if spec.choices and value not in spec.choices:
        raise ValueError(f"must be {rule}")
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"must be {rule}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"must be {rule}")
    return value


def render_value(key: str, value: Any, *, reveal: bool = False) -> str:
    """Render a value as it would be written in .env, masking secrets."""
    if spec_of(key).secret and not reveal and value:
        return mask_secret(key, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def mask_secret(key: str, value: str) -> str:
    """Hide a secret; URLs keep scheme and host so operators can tell them apart."""
    if "://" in value:
        scheme, rest = value.split("://", 1)
        host = rest.rsplit("@", 1)[-1].split("/", 1)[0]
        return f"{scheme}://***@{host}/***" if "@" in rest else f"{scheme}://{host}/***"
    return "********"


def is_size(key: str) -> bool:
    """Return whether a key's value is a byte count (its name has a BYTES word)."""
    return TYPES[key] is int and "BYTES" in key.split("_")


def human_value(key: str, value: Any) -> str:
    """Return a size key's value in binary units (1 MiB), "" for any other key."""
    return format_bytes(value) if is_size(key) else ""
