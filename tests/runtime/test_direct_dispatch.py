"""Direct dispatch (mcp_lambda/direct.py) answers byte for byte what the SDK's full Streamable HTTP app answers.

Differential: every request of a corpus goes to two runtimes of the same server, one with direct dispatch
(the default) and one with `MCP_DIRECT_DISPATCH=0`, and the status, content type and body must be equal.
The corpus covers every revision, the request id shapes JSON-RPC allows and a few it does not, every
method a client sends, each tool of the conformance server with good and bad arguments, and the header
and body variants the transport refuses (which direct dispatch must leave to the full app). Calls that send
notifications are answered alike too: the same SSE body (progress tokens of each kind, log levels asked for
on 2026-07-28), or the same JSON for a client that accepts only JSON.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from mcp_lambda import McpLambdaRuntime, RuntimeSettings
from tests.runtime.lambda_events import FakeContext, v2_event

HANDSHAKE = ["2025-03-26", "2025-06-18", "2025-11-25"]
MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
CLIENT = {"name": "differential", "version": "1"}


def request(method: str, params: Any = None, id_: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def handshake_messages(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests a handshake-era client sends, good and bad, for a server with `tools`."""
    messages = [
        *(request("initialize", {"protocolVersion": v, "capabilities": {}, "clientInfo": CLIENT}) for v in
          [*HANDSHAKE, "1999-01-01", MODERN]),
        request("initialize", {"protocolVersion": "2025-11-25"}),
        request("initialize"),
        request("ping"), request("ping", {}), request("ping", {"_meta": {"progressToken": 7}}),
        request("tools/list"), request("tools/list", {"cursor": "not-a-cursor"}), request("tools/list", {"cursor": 5}),
        request("tools/call"), request("tools/call", {"name": "no_such_tool", "arguments": {}}),
        request("tools/call", {"name": 42}), request("tools/call", {"name": "x", "arguments": [1, 2]}),
        request("resources/list"), request("resources/templates/list"), request("prompts/list"),
        request("resources/read", {"uri": "test://no-such-resource"}),
        request("prompts/get", {"name": "no_such_prompt"}),
        request("logging/setLevel", {"level": "debug"}), request("logging/setLevel", {"level": "loud"}),
        request("completion/complete", {"ref": {"type": "ref/prompt", "name": "x"},
                                        "argument": {"name": "a", "value": ""}}),
        request("server/discover"), request("subscriptions/listen"), request("tasks/get", {"taskId": "nope"}),
        request("no/such/method"), request("notifications/initialized"),
        *(request("tools/list", id_=i) for i in [0, -5, 2**53, 10**30, "abc", "", "ünïcödé"]),
    ]
    for tool in tools:
        arguments = {name: _sample(schema) for name, schema in tool["inputSchema"].get("properties", {}).items()}
        messages += [
            request("tools/call", {"name": tool["name"], "arguments": arguments}),
            request("tools/call", {"name": tool["name"]}),
            request("tools/call", {"name": tool["name"], "arguments": {**arguments, "unexpected": True}}),
            request("tools/call", {"name": tool["name"], "arguments": {k: [None] for k in arguments} or {"x": 1},
                                   "_meta": {"progressToken": "p1"}}),
        ]
    return messages


def _sample(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    return {"string": "Lisbon", "integer": 3, "number": 1.5, "boolean": True, "array": [], "object": {}}.get(kind, "x")


def cases(tools: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, v2_event kwargs) for every message in every handshake revision, and the odd ones."""
    found: list[tuple[str, dict[str, Any]]] = []
    for message in handshake_messages(tools):
        for version in [None, *HANDSHAKE]:
            headers = {"mcp-protocol-version": version} if version else {}
            found.append((f"{version} {json.dumps(message)[:120]}", dict(body=message, headers=headers)))
    list_tools = request("tools/list")
    odd_headers = [{"accept": "application/json"}, {"accept": "*/*"}, {"accept": "text/event-stream"},
                   {"accept": None}, {"content-type": "application/json; charset=utf-8"},
                   {"content-type": "text/plain"}, {"content-type": None}, {"content-type": "application/json, text/x"}]
    found += [(f"headers {h}", dict(body=list_tools, headers={"mcp-protocol-version": "2025-11-25", **h}))
              for h in odd_headers]
    odd_bodies = ["", "{", "null", "[]", '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
                  '{"jsonrpc":"2.0","id":true,"method":"ping"}', '{"jsonrpc":"2.0","id":null,"method":"ping"}',
                  '{"jsonrpc":"2.0","method":"notifications/initialized"}', '{"jsonrpc":"2.0","id":1,"result":{}}',
                  '{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', '{"jsonrpc":"2.0","id":1,"method":7}',
                  '{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}', '{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}']
    found += [(f"body {b}", dict(body=b, headers={"mcp-protocol-version": "2025-06-18"})) for b in odd_bodies]
    for method, params in [("server/discover", {}), ("tools/list", {}), ("ping", {}),
                           ("tools/call", {"name": tools[0]["name"], "arguments": {}})]:
        modern = request(method, {**params, "_meta": ENVELOPE})
        headers = {"mcp-protocol-version": MODERN, "mcp-method": method}
        if method == "tools/call":
            headers["mcp-name"] = tools[0]["name"]
        found.append((f"{MODERN} {method}", dict(body=modern, headers=headers)))
        found.append((f"{MODERN} {method} without envelope", dict(body=request(method, params), headers=headers)))
    return found


def notification_cases(tools: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Calls of the tools that send notifications (progress, log messages), in every revision: with each kind
    of progress token, the 2026-07-28 log levels, and from a client that accepts only JSON."""
    noisy = [tool["name"] for tool in tools if "progress" in tool["name"] or "logging" in tool["name"]]
    found: list[tuple[str, dict[str, Any]]] = []
    for name in noisy:
        for meta in [{"progressToken": "p1"}, {"progressToken": 0}, {"progressToken": -3}, {"progressToken": True}]:
            message = request("tools/call", {"name": name, "arguments": {}, "_meta": meta})
            for version in [None, *HANDSHAKE]:
                headers = {"mcp-protocol-version": version} if version else {}
                found.append((f"{version} {name} {meta}", dict(body=message, headers=headers)))
            found.append((f"json only {name} {meta}", dict(body=message, headers={
                "mcp-protocol-version": "2025-11-25", "accept": "application/json"})))
        headers = {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": name}
        for meta in [{"progressToken": "p2"}, *({"io.modelcontextprotocol/logLevel": level} for level in
                                                 ["debug", "info", "error", "loud"]), {}]:
            message = request("tools/call", {"name": name, "arguments": {}, "_meta": {**ENVELOPE, **meta}})
            found.append((f"{MODERN} {name} {meta}", dict(body=message, headers=headers)))
            found.append((f"{MODERN} json only {name} {meta}", dict(body=message, headers={
                **headers, "accept": "application/json"})))
    return found


class Pair:
    """The same server behind two runtimes: direct dispatch on, and off."""

    def __init__(self, server: Any) -> None:
        settings = RuntimeSettings.from_env()
        self.direct = McpLambdaRuntime(server, replace(settings, direct_dispatch=True))
        self.full = McpLambdaRuntime(server, replace(settings, direct_dispatch=False))
        self.fallbacks = 0

    def tools(self) -> list[dict[str, Any]]:
        answer = self.full(v2_event(request("tools/list")), FakeContext())
        return json.loads(answer["body"])["result"]["tools"]

    def count_fallbacks(self) -> None:
        """Count the requests direct dispatch hands to the full app (from the next request on)."""
        direct_app = self.direct._direct_app
        assert direct_app is not None
        full_app = direct_app._full_app

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            self.fallbacks += 1
            await full_app(scope, receive, send)

        direct_app._full_app = counting

    def both(self, **event: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.direct(v2_event(**event), FakeContext()), self.full(v2_event(**event), FakeContext())

    def close(self) -> None:
        self.direct.close()
        self.full.close()


def assert_same(name: str, direct: dict[str, Any], full: dict[str, Any]) -> None:
    assert (direct["statusCode"], direct["headers"].get("content-type"), direct["body"]) == (
        full["statusCode"], full["headers"].get("content-type"), full["body"]), name


@pytest.fixture(scope="module")
def conformance():
    from conformance.server import mcp

    pair = Pair(mcp)
    yield pair
    pair.close()


def test_the_conformance_server_answers_the_same_both_ways(conformance):
    corpus = cases(conformance.tools())
    assert len(corpus) > 400
    for name, event in corpus:
        assert_same(name, *conformance.both(**event))


def test_calls_that_send_notifications_answer_the_same_both_ways(conformance):
    """Besides being equal, the corpus's answers to notifying calls are SSE bodies where a client accepts SSE
    (so the comparison covers the streaming path, not only JSON)."""
    streamed = 0
    corpus = notification_cases(conformance.tools())
    assert len(corpus) >= 60, "the conformance server's tools with progress and logging"
    for name, event in corpus:
        direct, full = conformance.both(**event)
        assert_same(name, direct, full)
        streamed += direct["headers"]["content-type"] == "text/event-stream"
    assert streamed >= 20


def test_the_sample_server_answers_the_same_both_ways():
    """Notifications at every level with progress, a tool error after them, and notifications dropped for a
    reply over the response limit."""
    from tests.runtime.sample_server import build

    server, _, _ = build()
    pair = Pair(server)
    try:
        for arguments in [{}, {"steps": 3, "size": 100}, {"fail": True}, {"steps": 200, "size": 40_000}]:
            for version, meta in [("2025-11-25", {"progressToken": "t"}), ("2025-03-26", {}),
                                  (MODERN, {**ENVELOPE, "io.modelcontextprotocol/logLevel": "warning"})]:
                message = request("tools/call", {"name": "chatty", "arguments": arguments, "_meta": meta})
                headers = {"mcp-protocol-version": version}
                if version == MODERN:
                    headers.update({"mcp-method": "tools/call", "mcp-name": "chatty"})
                assert_same(f"{version} {arguments}", *pair.both(body=message, headers=headers))
    finally:
        pair.close()


def test_plain_requests_are_served_directly(conformance):
    """The corpus above must exercise direct dispatch, not only the fallback to the full app."""
    conformance.both(body=request("ping"))  # both runtimes started
    conformance.count_fallbacks()
    plain = [request("tools/list"), request("tools/call", {"name": "test_simple_text", "arguments": {}}),
             request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT}),
             request("no/such/method")]
    for message in plain:
        for version in [None, *HANDSHAKE]:
            conformance.both(body=message, headers={"mcp-protocol-version": version} if version else {})
    assert conformance.fallbacks == 0
    conformance.both(body='{"jsonrpc":"2.0","method":"notifications/initialized"}')
    conformance.both(body=request("ping"), headers={"accept": "text/event-stream"})
    assert conformance.fallbacks == 2, "notifications and refused headers go to the SDK's full app"


def test_the_weather_server_answers_the_same_both_ways():
    from weather.server import mcp

    pair = Pair(mcp)
    try:
        for city in ["Lisbon", "  san   francisco ", "", "Zürich", "x" * 5000]:
            message = request("tools/call", {"name": "get_weather", "arguments": {"city": city}})
            assert_same(city, *pair.both(body=message, headers={"mcp-protocol-version": "2025-11-25"}))
        for name, event in cases(pair.tools()):
            assert_same(name, *pair.both(**event))
    finally:
        pair.close()


def test_the_messaging_server_answers_the_same_both_ways(database_url, monkeypatch):
    """Database tools: reads, refused posts, and a repeated post (same idempotency key: the same row twice)."""
    from messaging.server import mcp

    monkeypatch.setenv("DATABASE_URL", database_url)
    pair = Pair(mcp)
    headers = {"mcp-protocol-version": "2025-11-25"}
    post = request("tools/call", {"name": "post_message",
                                  "arguments": {"text": "differential", "idempotency_key": "direct-vs-full"}})
    try:
        first = pair.direct(v2_event(body=post, headers=headers), FakeContext())
        assert '"duplicate":false' in first["body"]
        assert_same("repeated post", *pair.both(body=post, headers=headers))
        for arguments in [{}, {"limit": 2}, {"limit": 0}, {"limit": "3"}, {"limit": 101}]:
            message = request("tools/call", {"name": "get_messages", "arguments": arguments})
            assert_same(json.dumps(arguments), *pair.both(body=message, headers=headers))
        for text in ["", "   ", "a\x00b", "x" * 4001]:
            message = request("tools/call", {"name": "post_message", "arguments": {"text": text}})
            assert_same(repr(text[:10]), *pair.both(body=message, headers=headers))
    finally:
        pair.close()
