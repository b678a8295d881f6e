"""What every tool kind shares: return values become outputs."""

from bus.gateway.tools import to_outputs


def test_to_outputs__shapes() -> None:
    text = [{"type": "text", "text": ""}]
    assert (
        to_outputs(None) == text and to_outputs([]) == text and to_outputs("") == text
    )
    assert to_outputs("x") == [{"type": "text", "text": "x"}]
    assert to_outputs({"outputs": [{"type": "text", "text": "y"}]}) == [
        {"type": "text", "text": "y"}
    ]
    assert to_outputs({"a": 1}) == [{"type": "text", "text": '{"a": 1}'}]
