"""Wire constants and frame validation of the agent WebSocket protocol (PROTOCOL.md)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

PROTOCOL_VERSION = 1
SERVER_VERSION = "0.1.0"
# Deepest nesting a frame may have; the frame object itself is level 1.
MAX_NESTING_DEPTH = 128


class Op:
    """Operation names, client and server side."""

    HELLO = "hello"
    HELLO_ACK = "hello_ack"
    LIST_TOOLS = "list_tools"
    LIST_TOOLS_RES = "list_tools_res"
    CALL_TOOL = "call_tool"
    CALL_TOOL_ACK = "call_tool_ack"
    CALL_TOOL_RES = "call_tool_res"
    PROGRESS = "progress"
    CANCEL = "cancel"
    CANCEL_RES = "cancel_res"
    HEALTH = "health"
    HEALTH_RES = "health_res"
    ROTATE_TOKEN = "rotate_token"
    ROTATE_TOKEN_RES = "rotate_token_res"
    BUS_FETCH = "bus_fetch"
    BUS_CHUNK = "bus_chunk"
    BUS_FETCH_RES = "bus_fetch_res"
    BUS_ACK = "bus_ack"
    BUS_ACK_RES = "bus_ack_res"
    ERROR = "error"


class ErrorCode:
    """Error codes of call results and error frames."""

    TOOL_NOT_FOUND = "TOOL_NOT_FOUND"
    INVALID_ARGUMENTS = "INVALID_ARGUMENTS"
    DUPLICATE = "DUPLICATE"
    OVER_CAPACITY = "OVER_CAPACITY"
    TIMEOUT = "TIMEOUT"
    EXEC_ERROR = "EXEC_ERROR"
    CANCELLED = "CANCELLED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    BUS_UNAVAILABLE = "BUS_UNAVAILABLE"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    INVALID_JSON = "INVALID_JSON"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_OP = "UNKNOWN_OP"
    REQUEST_ID_CONFLICT = "REQUEST_ID_CONFLICT"


# The HTTP-only code of a request without a valid bearer token.
UNAUTHORIZED = "UNAUTHORIZED"
# The HTTP status of each error code the bus's HTTP views answer with; any
# other code is a server-side failure.
HTTP_STATUS: dict[str, int] = {
    UNAUTHORIZED: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.EXPIRED: 410,
    ErrorCode.CHECKSUM_MISMATCH: 500,
    ErrorCode.BUS_UNAVAILABLE: 503,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
}


def http_status(code: str) -> int:
    """Return the HTTP status an error code is answered with (500 if unmapped)."""
    return HTTP_STATUS.get(code, 500)


class HelloError:
    """The `error` values of a refused hello_ack."""

    INVALID_HELLO = "invalid_hello"
    MISSING_HELLO = "missing_hello"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"


class RotateError:
    """The `error` values of a refused rotate_token_res."""

    MISSING_PARAMS = "missing_params"
    UNAUTHORIZED = "unauthorized"
    WEAK_TOKEN = "weak_token"
    UNAVAILABLE = "unavailable"


class CloseCode:
    """WebSocket close codes the server uses."""

    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013
    INVALID_HELLO = 4000
    MISSING_HELLO = 4001
    HELLO_TIMEOUT = 4002
    UNAUTHORIZED = 4003


class Scope:
    """Capacity scopes named in OVER_CAPACITY, checked in this order."""

    GLOBAL = "global"
    PROVIDER = "provider"
    SESSION = "session"


DUPLICATE_NOTE = "duplicate request; still processing"
# The CANCELLED message of calls still running when a server stops: clients
# that reconnect (the MCP bridge) send such a call again instead of failing it.
SHUTDOWN_CANCEL_MESSAGE = "server shutting down"


class FrameError(Exception):
    """A client frame breaks the protocol; `code` and `message` go to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(what: str) -> FrameError:
    """Return the INVALID_MESSAGE error for a frame with wrong fields."""
    return FrameError(ErrorCode.INVALID_MESSAGE, f"invalid_message: {what}")


def loads(text: str) -> Any:
    """Parse a frame's JSON by the protocol's "Bad input" rules; raise FrameError.

    orjson is the fast path. It refuses NaN and Infinity, nesting beyond 1024
    levels, lone surrogates and numbers beyond a double; the standard library
    takes the last two, so it parses what orjson refused, with the same rules.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = _stdlib_loads(text)
        _check_parsed(value, strings=True)
        return value
    # Fewer brackets than levels allowed cannot nest too deep: most frames
    # skip the walk (orjson never returns a lone surrogate).
    if text.count("[") + text.count("{") > MAX_NESTING_DEPTH:
        _check_parsed(value, strings=False)
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise FrameError(
        ErrorCode.INVALID_JSON, f"invalid_json: {name} is not a JSON number"
    )


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        # A literal beyond a double would become Infinity, which is refused too.
        raise FrameError(
            ErrorCode.INVALID_JSON, f"invalid_json: number out of range: {text[:20]}"
        )
    return number


def _stdlib_loads(text: str) -> Any:
    try:
        return json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise FrameError(ErrorCode.INVALID_JSON, "invalid_json") from None


def _too_deep() -> FrameError:
    return FrameError(
        ErrorCode.INVALID_JSON,
        f"invalid_json: nested deeper than {MAX_NESTING_DEPTH} levels",
    )


def _check_parsed(value: Any, *, strings: bool) -> None:
    """Refuse nesting beyond MAX_NESTING_DEPTH and, if `strings`, lone surrogates."""
    if strings and isinstance(value, str):
        _check_text(value)
    # Iterative, so that the check itself cannot overflow the stack.
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_NESTING_DEPTH:
            raise _too_deep()
        if isinstance(item, dict):
            if strings:
                for key in item:
                    _check_text(key)
            children = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, dict | list):
                pending.append((child, depth + 1))
            elif strings and isinstance(child, str):
                _check_text(child)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("a string holds a lone surrogate") from None


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Serialize compactly and fast; values orjson cannot take use the stdlib."""
    try:
        return orjson.dumps(
            value, option=orjson.OPT_SORT_KEYS if sort_keys else 0
        ).decode()
    except TypeError:
        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"))


def decode_frame(text: str) -> dict[str, Any]:
    """Parse one frame into an object with a string op; raise FrameError if not."""
    frame = loads(text)
    if not isinstance(frame, dict):
        raise invalid("frame is not a JSON object")
    if not isinstance(frame.get("op"), str):
        raise invalid("missing or non-string op")
    return frame


def encode_frame(frame: dict[str, Any]) -> str:
    """Serialize a server frame compactly."""
    return dumps(frame)


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A validated call_tool frame; request_id is None when the client sent none."""

    name: str
    request_id: str | None
    arguments: dict[str, Any]


def optional_request_id(frame: dict[str, Any]) -> str | None:
    """Return the frame's request_id (None when absent); raise FrameError if bad."""
    request_id = frame.get("request_id")
    if request_id is not None and not isinstance(request_id, str):
        raise invalid("request_id must be a string")
    return request_id


def parse_call(frame: dict[str, Any]) -> CallRequest:
    """Validate the fields of a call_tool frame; raise FrameError naming the problem."""
    name = frame.get("name")
    if not isinstance(name, str) or not name:
        raise invalid("call_tool needs a non-empty string name")
    # Absent means {}; present, it must be an object (null is not one).
    arguments = frame.get("arguments", {})
    if not isinstance(arguments, dict):
        raise invalid("arguments must be an object")
    return CallRequest(
        name=name, request_id=optional_request_id(frame), arguments=arguments
    )


def parse_cancel(frame: dict[str, Any]) -> str:
    """Return the request_id a cancel frame names; raise FrameError if missing."""
    request_id = optional_request_id(frame)
    if request_id is None:
        raise invalid("cancel needs a string request_id")
    return request_id


def parse_transaction_id(frame: dict[str, Any]) -> str:
    """Return the transaction_id a bus frame names; raise FrameError if missing."""
    transaction_id = frame.get("transaction_id")
    if not isinstance(transaction_id, str) or not transaction_id:
        raise invalid(f"{frame.get('op')} needs a non-empty string transaction_id")
    return transaction_id


def normalize_tool_name(name: str, suffixes: tuple[str, ...]) -> str:
    """Strip one configured compatibility suffix (e.g. `_EXAI-WS`) from a tool name."""
    for suffix in suffixes:
        if suffix and name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def canonical_json(value: Any) -> str:
    """Serialize a value so equal arguments give equal text (sorted keys, compact)."""
    return dumps(value, sort_keys=True)


def digest(text: str) -> str:
    """Return a short stable digest (96 bits) used in cache keys."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Build an `error` frame for a bad frame."""
    return {"op": Op.ERROR, "code": code, "message": message, **extra}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Return the error body of a failed answer, bus reply or HTTP response."""
    return {"error": {"code": code, "message": message, **extra}}
