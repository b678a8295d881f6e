"""http tools against a real local HTTP server started by the test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from channels.db import database_sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_SECS = 1.0


class ToolEndpoints(BaseHTTPRequestHandler):
    """POST /outputs, /text, /fail, /slow, /json as tool endpoints would."""

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        arguments = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/outputs":
            self._reply(
                200,
                "application/json",
                {"outputs": [{"type": "text", "text": f"hi {arguments['who']}"}]},
            )
        elif self.path == "/json":
            self._reply(200, "application/json", {"sum": arguments["a"] + 1})
        elif self.path == "/text":
            self._reply(200, "text/plain", f"plain {arguments['who']}")
        elif self.path == "/fail":
            self._reply(500, "text/plain", "database exploded")
        elif self.path == "/slow":
            time.sleep(SLOW_SECS)
            try:
                self._reply(200, "text/plain", "late")
            except BrokenPipeError:
                # The gateway gave up first: the outcome this route exists for.
                return
        else:
            self._reply(404, "text/plain", "")

    def _reply(self, status: int, content_type: str, body: object) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep test output quiet."""


@pytest.fixture
def endpoint() -> Iterator[str]:
    """Base URL of a local tool server; stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ToolEndpoints)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_tool(make_tool, endpoint):
    def create(name: str, route: str, **fields: object):
        return make_tool(name, f"{endpoint}{route}", kind="http", **fields)

    return create


async def test_http_tool__outputs_and_plain_text(connect, agent, http_tool) -> None:
    await database_sync_to_async(http_tool)("greet", "/outputs")
    await database_sync_to_async(http_tool)("plain", "/text")
    await database_sync_to_async(http_tool)("json", "/json")
    client = await connect(agent[1])
    greet = await client.call("greet", {"who": "ann"})
    plain = await client.call("plain", {"who": "bob"}, request_id="r-2")
    other = await client.call("json", {"a": 1}, request_id="r-3")
    assert greet[-1]["outputs"] == [{"type": "text", "text": "hi ann"}]
    assert plain[-1]["outputs"] == [{"type": "text", "text": "plain bob"}]
    assert other[-1]["outputs"] == [{"type": "text", "text": '{"sum": 2}'}]


async def test_http_tool__server_error_is_exec_error(
    connect, agent, http_tool, endpoint
) -> None:
    await database_sync_to_async(http_tool)("failing", "/fail")
    client = await connect(agent[1])
    frames = await client.call("failing")
    assert frames[-1]["error"] == {
        "code": "EXEC_ERROR",
        "message": f"{endpoint}/fail answered HTTP 500 Internal Server Error: "
        "database exploded",
    }


async def test_http_tool__slow_endpoint_times_out(
    connect, agent, http_tool, gateway
) -> None:
    await database_sync_to_async(http_tool)("slow", "/slow", timeout_secs=0.2)
    client = await connect(agent[1])
    frames = await client.call("slow")
    assert frames[0]["timeout"] == 0.2
    assert frames[-1]["error"]["code"] == "TIMEOUT"
    assert "0.2s" in frames[-1]["error"]["message"]
    assert await gateway.capacity.global_inflight() == 0


async def test_http_tool__unreachable_is_exec_error(connect, agent, make_tool) -> None:
    await database_sync_to_async(make_tool)(
        "gone", "http://127.0.0.1:9/nothing", kind="http"
    )
    client = await connect(agent[1])
    frames = await client.call("gone")
    assert frames[-1]["error"]["code"] == "EXEC_ERROR"
    assert frames[-1]["error"]["message"].startswith(
        "cannot reach http://127.0.0.1:9/nothing"
    )
