"""Notifications sent during a call reach the client with the result (mcp_lambda/replies.py).

A call that sent none, or a client that does not accept `text/event-stream`, gets the plain JSON of the SDK's
JSON-response mode; a call that sent some, to a client accepting SSE, gets an SSE body: the notifications in
the order they were sent, then the response. Both dispatch paths (direct and the SDK's full app) are run.
The sample server's `chatty` tool logs at every level and reports progress on each step.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_lambda.events import HttpRequest, HttpResponse
from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.replies import settle
from mcp_lambda.settings import RuntimeSettings
from mcp_servers import CONFORMANCE
from tests.runtime.lambda_events import EVENT_SHAPES, FakeContext, response_headers, response_json, v2_event

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

HANDSHAKE = [None, "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
LEVEL = "io.modelcontextprotocol/logLevel"
LIMIT = 20_000


@pytest.fixture(params=["direct", "full"])
def handler(request):
    from tests.runtime.sample_server import build

    settings = replace(RuntimeSettings.from_env(), direct_dispatch=request.param == "direct", max_response_bytes=LIMIT)
    _, _, handler = build(settings)
    yield handler
    handler.close()


def call(name: str, arguments: dict[str, Any], version: str | None, meta: dict[str, Any] | None = None,
         accept: str | None = None, shape: str = "payload-2.0") -> dict[str, Any]:
    """An event calling `name` at `version` (2026-07-28 with its envelope and headers)."""
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    headers: dict[str, str] = {}
    if version == MODERN:
        meta = {**ENVELOPE, **(meta or {})}
        headers.update({"mcp-method": "tools/call", "mcp-name": name})
    if meta:
        params["_meta"] = meta
    if version:
        headers["mcp-protocol-version"] = version
    if accept:
        headers["accept"] = accept
    return EVENT_SHAPES[shape](body={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params},
                               headers=headers)


def events(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of an SSE reply, in order (every event must be a `message` event with one data line)."""
    assert response_headers(response)["content-type"] == "text/event-stream"
    blocks = response["body"].split("\r\n\r\n")
    assert blocks[-1] == "", "the body ends with a complete event"
    messages = []
    for block in blocks[:-1]:
        event, data = block.split("\r\n")
        assert event == "event: message"
        assert data.startswith("data: ")
        messages.append(json.loads(data.removeprefix("data: ")))
    return messages


@pytest.mark.parametrize("version", [*HANDSHAKE, MODERN])
@pytest.mark.parametrize("meta", [None, {"progressToken": "t"}, {LEVEL: "debug"}], ids=["plain", "token", "level"])
def test_a_tool_without_notifications_gets_plain_json(handler, version, meta):
    """Whatever the revision and whatever the client asked for, a call that sent nothing is answered with the
    JSON a client accepting only JSON gets, byte for byte."""
    answered = handler(call("echo", {"text": "hi"}, version, meta), FakeContext())
    json_only = handler(call("echo", {"text": "hi"}, version, meta, accept="application/json"), FakeContext())
    assert answered["statusCode"] == 200
    assert response_headers(answered)["content-type"] == "application/json"
    assert response_json(answered)["result"]["content"][0]["text"] == "hi"
    assert answered["body"] == json_only["body"]


@pytest.mark.parametrize("shape", EVENT_SHAPES)
@pytest.mark.parametrize("version", HANDSHAKE)
def test_log_messages_and_progress_come_before_the_result_in_the_order_sent(handler, version, shape):
    """Handshake revisions: every level is sent (a stateless server cannot keep a logging/setLevel), progress
    with the request's token."""
    response = handler(call("chatty", {"steps": 2}, version, {"progressToken": 42}, shape=shape), FakeContext())
    assert response["statusCode"] == 200
    *notifications, final = events(response)
    assert [(n["method"], n["params"].get("level", n["params"].get("progress"))) for n in notifications] == [
        *(("notifications/message", level) for level in ("debug", "info", "warning", "error")),
        ("notifications/progress", 1),
        *(("notifications/message", level) for level in ("debug", "info", "warning", "error")),
        ("notifications/progress", 2),
    ]
    assert notifications[0]["params"]["data"] == "debug 1 " + "m" * 10
    assert notifications[4]["params"] == {"progressToken": 42, "progress": 1, "total": 2, "message": "step 1"}
    assert final == {"jsonrpc": "2.0", "id": 7, "result": final["result"]}
    assert final["result"]["content"][0]["text"] == "aaaa"


@pytest.mark.parametrize("version", HANDSHAKE)
def test_progress_only_for_a_request_with_a_progress_token(handler, version):
    notifications = events(handler(call("chatty", {"steps": 3}, version), FakeContext()))[:-1]
    assert notifications and {n["method"] for n in notifications} == {"notifications/message"}


@pytest.mark.parametrize("level, expected", [("warning", ["warning", "error"]), ("debug", ["debug", "info", "warning", "error"])])
def test_2026_07_28_sends_log_messages_at_the_level_the_request_asked_for(handler, level, expected):
    response = handler(call("chatty", {"steps": 1}, MODERN, {LEVEL: level}), FakeContext())
    *notifications, final = events(response)
    assert [n["params"]["level"] for n in notifications] == expected
    assert final["result"]["resultType"] == "complete"


def test_2026_07_28_sends_progress_for_a_token_and_nothing_unasked(handler):
    progress = events(handler(call("chatty", {"steps": 2}, MODERN, {"progressToken": "p"}), FakeContext()))
    assert [(m.get("method"), m.get("params", {}).get("progress")) for m in progress[:-1]] == [
        ("notifications/progress", 1), ("notifications/progress", 2)]
    unasked = handler(call("chatty", {"steps": 2}, MODERN), FakeContext())
    assert response_headers(unasked)["content-type"] == "application/json"
    assert response_json(unasked)["result"]["content"][0]["text"] == "aaaa"


@pytest.mark.parametrize("version", [*HANDSHAKE, MODERN])
def test_a_client_that_accepts_only_json_gets_json(handler, version):
    response = handler(call("chatty", {}, version, {"progressToken": 1, LEVEL: "debug"}, accept="application/json"),
                       FakeContext())
    assert response["statusCode"] == 200
    assert response_headers(response)["content-type"] == "application/json"
    assert response_json(response)["result"]["content"][0]["text"] == "aaaa"


@pytest.mark.parametrize("version", ["2025-11-25", MODERN])
def test_a_tool_error_after_notifications_is_the_last_event(handler, version):
    *notifications, final = events(handler(call("chatty", {"fail": True}, version, {LEVEL: "info"}), FakeContext()))
    assert len(notifications) == (8 if version != MODERN else 6)
    assert final["result"]["isError"] is True
    assert "chatty failed after its notifications" in final["result"]["content"][0]["text"]


@pytest.mark.parametrize("version", ["2025-11-25", MODERN])
def test_notifications_that_would_overflow_the_reply_are_dropped_for_the_result(handler, version):
    """The SSE body counts toward the response limit (LIMIT here): the result still goes, as JSON."""
    response = handler(call("chatty", {"steps": 4, "size": 1_500}, version, {LEVEL: "debug"}), FakeContext())
    assert response["statusCode"] == 200
    assert response_headers(response)["content-type"] == "application/json"
    assert response_json(response)["result"]["content"][0]["text"] == "aaaa"
    fits = handler(call("chatty", {"steps": 2, "size": 1_500}, version, {LEVEL: "debug"}), FakeContext())
    assert len(events(fits)) == 9
    assert 12_000 < len(fits["body"]) <= LIMIT


@pytest.mark.parametrize("version", ["2025-11-25", MODERN])
def test_a_result_too_large_is_still_the_json_rpc_error(handler, version):
    response = handler(call("chatty", {"answer_size": LIMIT}, version, {LEVEL: "debug"}), FakeContext())
    assert response["statusCode"] == 200
    assert response_headers(response)["content-type"] == "application/json"
    error = response_json(response)
    assert error["id"] == 7
    assert error["error"]["message"].startswith("Result too large")


def test_a_batch_is_answered_with_one_json_array(handler):
    """2025-03-26 batches: one JSON array of replies (batch.py's limits hold); the items' notifications have no
    place in it and are not sent."""
    batch = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
              "params": {"name": "chatty", "arguments": {}, "_meta": {"progressToken": i}}} for i in (1, 2)]
    response = handler(v2_event(body=batch, headers={"mcp-protocol-version": "2025-03-26"}), FakeContext())
    assert response["statusCode"] == 200
    assert response_headers(response)["content-type"] == "application/json"
    assert [(r["id"], r["result"]["content"][0]["text"]) for r in response_json(response)] == [(1, "aaaa"), (2, "aaaa")]


@pytest.fixture(scope="module")
def conformance_server():
    with LocalServer(port=0, servers=[CONFORMANCE]) as running:
        yield running


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_the_sdk_client_gets_progress_and_log_messages_over_http(conformance_server, mode):
    """The official client, over real HTTP through the local Lambda bridge, hands each notification to its
    callbacks before the call returns."""
    seen: list[tuple[str, Any]] = []

    async def on_log(params: Any) -> None:
        seen.append(("log", params.data))

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(("progress", progress))

    async def scenario():
        async with Client(conformance_server.url("conformance"), mode=mode, logging_callback=on_log,
                          log_level="info") as client:
            logged = await client.call_tool("test_tool_with_logging", {})
            seen.append(("result", logged.content[0].text))
            progressed = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            seen.append(("result", progressed.content[0].text))

    anyio.run(scenario)
    assert seen == [
        ("log", "Tool execution started"), ("log", "Tool processing data"), ("log", "Tool execution completed"),
        ("result", "Tool with logging executed successfully"),
        ("progress", 0), ("progress", 50), ("progress", 100),
        ("result", "Tool with progress executed successfully"),
    ]


def sse_reply(*parts: str) -> HttpResponse:
    return HttpResponse(200, [("content-type", "text/event-stream")], "".join(parts).encode())


@pytest.mark.parametrize("version, status", [("2025-11-25", 200), (MODERN, 404)])
def test_a_reply_of_keep_alive_pings_and_the_response_becomes_json(version, status):
    """A streaming transport commits to SSE after 15 silent seconds and sends pings; a call that then sends no
    notification is still answered with the JSON (and status) of JSON-response mode."""
    error = '{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Method not found"}}'
    request = HttpRequest("POST", "/mcp", "", [("mcp-protocol-version", version)], b"{}", "", "", "", "2.0")
    settled = settle(request, sse_reply(": ping - 2026-12-06 23:40:00\r\n\r\n", ": ping\r\n\r\n",
                                        f"event: message\r\ndata: {error}\r\n\r\n"), LIMIT)
    assert (settled.status, settled.header("content-type"), settled.body) == (status, "application/json", error.encode())


def test_pings_between_notifications_are_left_out():
    note = '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}'
    result = '{"jsonrpc":"2.0","id":7,"result":{}}'
    request = HttpRequest("POST", "/mcp", "", [], b"{}", "", "", "", "2.0")
    settled = settle(request, sse_reply(f"event: message\r\ndata: {note}\r\n\r\n", ": ping\r\n\r\n",
                                        f"event: message\r\ndata: {result}\r\n\r\n"), LIMIT)
    assert settled.header("content-type") == "text/event-stream"
    assert settled.body.decode() == f"event: message\r\ndata: {note}\r\n\r\nevent: message\r\ndata: {result}\r\n\r\n"
