"""The quick schema check never accepts what jsonschema refuses.

jsonschema is the reference (its errors are what INVALID_ARGUMENTS says); the
quick check may only say "valid" where jsonschema finds no error, and must
say it for the plain arguments of simple schemas, or it saves nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import validators

from bus.gateway.quick_schema import quick_check
from bus.gateway.registry import ToolSpec

TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"]
DRAFTS = [
    None,
    "http://json-schema.org/draft-04/schema#",
    "http://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft/2020-12/schema",
]
ECHO = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), children, max_size=4)
    ),
    max_leaves=10,
)
numbers = st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(TYPES),
            "minimum": numbers,
            "maximum": numbers,
            "minLength": st.integers(0, 4),
            "maxLength": st.integers(0, 4),
            "description": st.text(max_size=3),
        },
    )


schemas = st.recursive(
    leaf_schemas(),
    lambda children: st.fixed_dictionaries(
        {"properties": st.dictionaries(st.sampled_from(["a", "b", "c"]), children)},
        optional={
            "type": st.sampled_from(["object", "object", "string"]),
            "required": st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3),
            "additionalProperties": st.booleans(),
        },
    ),
    max_leaves=6,
)


def _valid(schema: dict[str, Any], instance: Any) -> bool:
    validator = validators.validator_for(schema)(schema)
    return next(iter(validator.iter_errors(instance)), None) is None


@settings(max_examples=3000, deadline=None)
@given(schemas, json_values, st.sampled_from(DRAFTS))
def test_quick_check__accepts_only_what_jsonschema_accepts(
    schema: dict[str, Any], instance: Any, draft: str | None
) -> None:
    if draft is not None:
        schema = {**schema, "$schema": draft}
    check = quick_check(schema, validators.validator_for(schema))
    assert check is not None
    if check(instance):
        assert _valid(schema, instance), (schema, instance)


@settings(max_examples=500, deadline=None)
@given(schemas, json_values)
def test_quick_check__a_refusal_is_only_a_question(
    schema: dict[str, Any], instance: Any
) -> None:
    """When the quick check says no, the tool's own answer is jsonschema's."""
    validator = validators.validator_for(schema)(schema)
    tool = ToolSpec(
        name="t",
        description="",
        input_schema=schema,
        kind="python",
        target="",
        provider="p",
        provider_max_inflight=0,
        timeout_secs=None,
        idempotent=True,
        validator=validator,
        quick=quick_check(schema, type(validator)),
    )
    assert (tool.argument_error(instance) is None) == _valid(schema, instance)


def test_quick_check__says_yes_to_the_builtin_tools_plain_arguments() -> None:
    sleep = {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 3600}},
        "required": ["seconds"],
        "additionalProperties": False,
    }
    echo = quick_check(ECHO, validators.validator_for(ECHO))
    assert echo({"text": "hi"}) and echo({"text": ""})
    assert not echo({"text": 5}) and not echo({}) and not echo({"text": "", "x": 1})
    seconds = quick_check(sleep, validators.validator_for(sleep))
    assert seconds({"seconds": 0}) and seconds({"seconds": 2.5})
    assert not seconds({"seconds": -1}) and not seconds({"seconds": True})


def test_quick_check__leaves_other_schemas_to_jsonschema() -> None:
    draft3 = {"$schema": "http://json-schema.org/draft-03/schema#", "type": "object"}
    for schema in (
        {"type": ["string", "null"]},
        {"type": "object", "properties": {"a": {"enum": [1, 2]}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "string", "format": "email"},
        {"type": "number", "exclusiveMinimum": 0},
        {"$ref": "#/$defs/x", "$defs": {"x": {}}},
        draft3,
    ):
        assert quick_check(schema, validators.validator_for(schema)) is None, schema


def test_quick_check__an_integer_float_is_left_to_jsonschema() -> None:
    """Drafts 6 and later call 1.0 an integer; the quick check asks instead."""
    schema = {"type": "integer"}
    assert not quick_check(schema, validators.validator_for(schema))(1.0)
    assert _valid(schema, 1.0)
