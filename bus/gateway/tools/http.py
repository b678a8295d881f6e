"""Tool kind `http`: POST the arguments as JSON to the tool's URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from bus.gateway.registry import ToolSpec
from bus.gateway.tools.base import ToolError, ToolTimeout

ERROR_BODY_CHARS = 200


def _shown_url(url: str) -> str:
    # Query strings may carry credentials: name the endpoint without them.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


async def run(tool: ToolSpec, arguments: dict[str, Any], timeout: float) -> Any:
    """POST the arguments and return the JSON or text answer; raise ToolError."""
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
