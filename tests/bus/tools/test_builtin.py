"""The built-in tools: generate's bound and its integer arguments."""

from __future__ import annotations

import resource

import pytest

from bus.gateway.tools import ToolError
from bus.tools.builtin import generate

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


async def test_generate__above_the_payload_cap_is_refused_before_building(
    ws_config,
) -> None:
    ws_config(MESSAGE_BUS_MAX_PAYLOAD_MB=1)
    with pytest.raises(ToolError) as caught:
        await generate(bytes=MIB + 1)
    assert caught.value.code == "PAYLOAD_TOO_LARGE"
    assert str(caught.value) == f"a result of {MIB + 1} bytes exceeds 1 MiB"
    assert len(await generate(bytes=MIB)) == MIB


async def test_generate__call_above_the_cap_answers_without_the_memory(
    connect, agent, ws_config
) -> None:
    """300 MiB of words used to be built (and measured) before the refusal."""
    ws_config(MESSAGE_BUS_MAX_PAYLOAD_MB=1)
    client = await connect(agent[1])
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    result = (await client.call("generate", {"bytes": 300 * MIB}))[-1]
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result["error"] == {
        "code": "PAYLOAD_TOO_LARGE",
        "message": f"a result of {300 * MIB} bytes exceeds 1 MiB",
    }
    assert (peak_after - peak_before) * 1024 < 50 * MIB


async def test_generate__integral_floats_are_the_integers_they_equal(
    connect, agent
) -> None:
    """JSON Schema's integer takes 1e3; it raised TypeError inside the tool."""
    client = await connect(agent[1])
    await client.send_text(
        '{"op":"call_tool","name":"generate","request_id":"f",'
        '"arguments":{"bytes":1e3,"seed":7.0}}'
    )
    as_float = (await client.until_result("f"))[-1]
    as_int = (await client.call("generate", {"bytes": 1000, "seed": 7}, "i"))[-1]
    assert "error" not in as_float, as_float
    assert as_float["text"] == as_int["text"] and len(as_int["text"]) == 1000
    fraction = (await client.call("generate", {"bytes": 10.5}, "x"))[-1]
    assert fraction["error"]["code"] == "INVALID_ARGUMENTS"
