"""A quick yes for arguments that plainly match a simple input schema.

``jsonschema`` stays the reference: it decides every call this module does not
accept, and it alone words the errors (INVALID_ARGUMENTS names its path and
message, PROTOCOL.md step 2). But it interprets the schema on every call, about
7 us for ``echo``'s four keywords, a tenth of the pipeline
(benchmarks/README.md, hot path). Most tool schemas are an object of typed
properties; for those, ``quick_check`` compiles the schema once (per tool
version, with its validator) into a predicate that costs under a microsecond.

The predicate only ever says "valid" or "ask jsonschema": it returns True
only when jsonschema would find no error, and False for anything it is not
sure of (a keyword outside the subset, a float where an integer is asked for,
a value of a type JSON does not produce). A False is never an answer by
itself: the caller then runs jsonschema, which may still accept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema import Draft3Validator
from jsonschema.protocols import Validator

Check = Callable[[Any], bool]

# Keywords that never make an instance invalid (annotations).
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "deprecated"}
)
ASSERTIONS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
    }
)
# `$schema` picks the draft; every draft from 4 on reads this subset alike.
KNOWN = ANNOTATIONS | ASSERTIONS | {"$schema"}
# The types JSON parsing produces; anything else (a subclass, a Decimal) is
# left to jsonschema, whose type checks are isinstance-based.
PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})
NUMBERS = frozenset({int, float})
# An integer is an int here; 1.0, which drafts 6+ also call an integer, is
# left to jsonschema.
TYPES: dict[str, frozenset[type]] = {
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "string": frozenset({str}),
    "number": NUMBERS,
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
}


def quick_check(schema: Any, validator_class: type[Validator]) -> Check | None:
    """Return a predicate that is True only for instances the schema accepts.

    None when the schema uses anything outside the subset this module reads
    (then every call goes to jsonschema, as before).
    """
    if validator_class is Draft3Validator:
        # Draft 3 reads `required` and the types differently.
        return None
    return _compile(schema)


def _compile(schema: Any) -> Check | None:
    if not isinstance(schema, dict) or not schema.keys() <= KNOWN:
        return None
    checks: list[Check] = []
    if "type" in schema:
        allowed = TYPES.get(schema["type"]) if isinstance(schema["type"], str) else None
        if allowed is None:
            return None
        checks.append(lambda value: type(value) in allowed)
    bounds = _bounds(schema)
    if bounds is None:
        return None
    checks.extend(bounds)
    if schema.keys() & {"properties", "required", "additionalProperties"}:
        members = _members(schema)
        if members is None:
            return None
        checks.append(members)
    return _all_of(checks)


def _all_of(checks: list[Check]) -> Check:
    def check(value: Any) -> bool:
        if type(value) not in PLAIN:
            return False
        for each in checks:
            if not each(value):
                return False
        return True

    return check


def _bounds(schema: dict[str, Any]) -> list[Check] | None:
    """Return the checks of minimum, maximum, minLength, maxLength (None: unread)."""
    checks: list[Check] = []
    for keyword in ("minimum", "maximum"):
        if keyword not in schema:
            continue
        limit = schema[keyword]
        if type(limit) not in NUMBERS:
            return None
        # As jsonschema compares (so NaN passes, as it does there); bools and
        # other types are not numbers, and the keyword ignores them.
        if keyword == "minimum":
            checks.append(lambda v, m=limit: type(v) not in NUMBERS or not v < m)
        else:
            checks.append(lambda v, m=limit: type(v) not in NUMBERS or not v > m)
    for keyword in ("minLength", "maxLength"):
        if keyword not in schema:
            continue
        limit = schema[keyword]
        if type(limit) is not int:
            return None
        if keyword == "minLength":
            checks.append(lambda v, n=limit: type(v) is not str or len(v) >= n)
        else:
            checks.append(lambda v, n=limit: type(v) is not str or len(v) <= n)
    return checks


def _members(schema: dict[str, Any]) -> Check | None:
    """Return the check of properties, required and additionalProperties."""
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if (
        not isinstance(properties, dict)
        or not isinstance(required, list)
        or not all(isinstance(name, str) for name in required)
        or not isinstance(extra, bool)
    ):
        return None
    compiled: dict[str, Check] = {}
    for name, subschema in properties.items():
        check = _compile(subschema)
        if check is None:
            return None
        compiled[name] = check
    items = tuple(compiled.items())
    needed = tuple(required)
    only = None if extra else frozenset(compiled)

    def check(value: Any) -> bool:
        if type(value) is not dict:
            # These keywords apply to objects only.
            return True
        for name in needed:
            if name not in value:
                return False
        if only is not None and not value.keys() <= only:
            return False
        for name, each in items:
            if name in value and not each(value[name]):
                return False
        return True

    return check
