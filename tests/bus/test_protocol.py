"""Wire rules written once in bus.protocol."""

import json

import pytest

from bus.protocol import (
    MAX_NESTING_DEPTH,
    ErrorCode,
    FrameError,
    canonical_json,
    decode_frame,
    http_status,
    normalize_tool_name,
)


def test_normalize_tool_name__strips_one_suffix() -> None:
    suffixes = ("_EXAI-WS", "-EXAI_WS")
    assert normalize_tool_name("chat_EXAI-WS", suffixes) == "chat"
    assert normalize_tool_name("chat-EXAI_WS", suffixes) == "chat"
    assert normalize_tool_name("_EXAI-WS", suffixes) == "_EXAI-WS"
    assert normalize_tool_name("chat", suffixes) == "chat"


def test_http_status__each_bus_error_code_has_its_status() -> None:
    assert http_status(ErrorCode.NOT_FOUND) == 404
    assert http_status(ErrorCode.EXPIRED) == 410
    assert http_status(ErrorCode.CHECKSUM_MISMATCH) == 500
    assert http_status(ErrorCode.BUS_UNAVAILABLE) == 503
    assert http_status("SOMETHING_ELSE") == 500


def _refusal(text: str) -> tuple[str, str]:
    with pytest.raises(FrameError) as caught:
        decode_frame(text)
    return caught.value.code, caught.value.message


def _nested(depth: int) -> str:
    """Return a frame whose deepest container is at `depth` (the frame is level 1)."""
    inner = "[]"
    for _ in range(depth - 2):
        inner = f"[{inner}]"
    return (
        '{"op":"call_tool","name":"echo","arguments":'
        + (inner if depth > 1 else "{}")
        + "}"
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_decode_frame__non_json_numbers_are_invalid_json(literal: str) -> None:
    """Python's json takes NaN and Infinity; the protocol does not."""
    for text in (
        '{"op":"call_tool","name":"sleep","arguments":{"seconds":' + literal + "}}",
        '{"op":"health","x":[1,[2,{"y":' + literal + "}]]}",
        literal,
    ):
        code, message = _refusal(text)
        assert code == ErrorCode.INVALID_JSON, text
        assert message.startswith("invalid_json")


def test_decode_frame__nesting_beyond_128_levels_is_invalid_json() -> None:
    frame = decode_frame(_nested(MAX_NESTING_DEPTH))
    assert frame["op"] == "call_tool"
    for depth in (MAX_NESTING_DEPTH + 1, 1000, 1100, 50_000):
        code, message = _refusal(_nested(depth))
        assert code == ErrorCode.INVALID_JSON
        assert "nested deeper than 128 levels" in message


def test_decode_frame__deep_objects_count_like_arrays() -> None:
    text = '{"op":"health","a":' * 1 + '{"a":' * 127 + "1" + "}" * 128
    assert decode_frame(text)["op"] == "health"  # 128 levels
    deeper = '{"op":"health","a":' + '{"a":' * 128 + "1" + "}" * 129
    assert _refusal(deeper)[0] == ErrorCode.INVALID_JSON


def test_decode_frame__brackets_inside_strings_are_not_nesting() -> None:
    frame = decode_frame(json.dumps({"op": "health", "text": "[{" * 500}))
    assert frame["text"] == "[{" * 500


@pytest.mark.parametrize(
    "text",
    [
        '{"op":"hello","token":"\\ud800"}',
        '{"op":"call_tool","name":"echo\\udfff"}',
        '{"op":"call_tool","name":"echo","request_id":"r-\\ud800"}',
        '{"op":"bus_fetch","transaction_id":"txn_\\udc00"}',
        '{"op":"call_tool","name":"echo","arguments":{"text":["x","\\ud83d"]}}',
        '{"op":"call_tool","name":"echo","arguments":{"\\ud800":1}}',
        '{"op":"health","\\udbff\\udbff":1}',
        '"\\ud800"',
        '{"op":"health","raw":"\ud800"}',
    ],
)
def test_decode_frame__lone_surrogates_are_invalid_message(text: str) -> None:
    code, message = _refusal(text)
    assert code == ErrorCode.INVALID_MESSAGE
    assert message == "invalid_message: a string holds a lone surrogate"


def test_decode_frame__surrogate_pairs_and_big_integers_are_json() -> None:
    frame = decode_frame('{"op":"call_tool","name":"echo","x":"\\ud83d\\ude00"}')
    assert frame["x"] == "\U0001f600"
    big = "1" + "0" * 400
    assert decode_frame('{"op":"health","n":' + big + "}")["n"] == 10**400


def test_canonical_json__takes_whatever_a_frame_can_hold() -> None:
    """Arguments at the deepest allowed nesting never overflow the stack."""
    frame = decode_frame(_nested(MAX_NESTING_DEPTH))
    assert canonical_json(frame["arguments"]).count("[") == MAX_NESTING_DEPTH - 1
    big = decode_frame('{"op":"health","n":[' + "9" * 4000 + "]}")
    assert canonical_json(big) == '{"n":[' + "9" * 4000 + '],"op":"health"}'
