"""Wire rules written once in bus.protocol."""

from bus.protocol import ErrorCode, http_status, normalize_tool_name


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
