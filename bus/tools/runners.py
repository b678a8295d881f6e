"""Tool kinds: run a python callable or POST to an http endpoint, return outputs."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from bus.registry import ToolSpec

ERROR_BODY_CHARS = 200


class ToolError(Exception):
    """A tool failed; the message is safe to show to the agent (EXEC_ERROR)."""


class ToolTimeout(Exception):
    """A tool gave up waiting on its own (e.g. its HTTP endpoint); TIMEOUT."""


def _is_output(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("type"), str)


def to_outputs(value: Any) -> list[dict[str, Any]]:
    """Turn what a tool returned into outputs; nothing yields one empty text."""
    if isinstance(value, dict) and isinstance(value.get("outputs"), list):
        value = value["outputs"]
    if value is None or value == [] or value == "":
        return [{"type": "text", "text": ""}]
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, list) and all(_is_output(item) for item in value):
        return value
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        # Not JSON (e.g. a custom object): its text form is the best output.
        text = str(value)
    return [{"type": "text", "text": text}]


async def run_tool(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    """Run a tool by its kind and return its raw result; raise ToolError on failure."""
    if tool.kind == "http":
        return await _run_http(tool, arguments, timeout)
    if tool.function is None:
        raise ToolError(tool.load_error or f"tool {tool.name} has no callable")
    if inspect.iscoroutinefunction(tool.function):
        return await tool.function(**arguments)
    # A thread cannot be interrupted: on timeout or cancel the call is answered
    # at once and the thread finishes on its own.
    return await asyncio.to_thread(tool.function, **arguments)


def _shown_url(url: str) -> str:
    # Query strings may carry credentials: name the endpoint without them.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


async def _run_http(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    url = _shown_url(tool.target)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(tool.target, json=arguments)
    except httpx.TimeoutException as exc:
        raise ToolTimeout(f"{url} did not answer within {timeout:g}s") from exc
    except httpx.HTTPError as exc:
        raise ToolError(f"cannot reach {url}: {type(exc).__name__}") from exc
    if response.is_error:
        body = response.text[:ERROR_BODY_CHARS].strip()
        detail = f": {body}" if body else ""
        raise ToolError(
            f"{url} answered HTTP {response.status_code} "
            f"{response.reason_phrase}{detail}"
        )
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            return response.json()
        except ValueError as exc:
            raise ToolError(f"{url} answered invalid JSON") from exc
    return response.text
