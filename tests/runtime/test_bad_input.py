"""Every bad input gets the specification's status and a JSON-RPC error, never a trace or a failed invocation.

Each case runs through both event shapes (Function URL payload 2.0, API Gateway REST payload 1.0).
"""

from __future__ import annotations

import json

import pytest
from mcp_types import HEADER_MISMATCH, UNSUPPORTED_PROTOCOL_VERSION

from tests.runtime.lambda_events import EVENT_SHAPES, FakeContext, response_headers, response_json

LEGACY = {"mcp-protocol-version": "2025-06-18"}
MODERN = {"mcp-protocol-version": "2026-07-28"}
META = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}

# name: (kwargs for the event, expected HTTP status, expected JSON-RPC error code)
CASES = {
    "malformed JSON": (dict(body="{not json", headers=LEGACY), 400, -32700),
    "empty body": (dict(body="", headers=LEGACY), 400, -32700),
    "JSON that is not JSON-RPC": (dict(body='"hello"', headers=LEGACY), 400, -32600),
    "JSON-RPC without version": (dict(body={"id": 1, "method": "tools/list"}, headers=LEGACY), 400, -32600),
    "batch in 2025-06-18": (dict(body=[LIST], headers=LEGACY), 400, -32600),
    "batch in 2026-07-28": (dict(body=[LIST], headers={**MODERN, "mcp-method": "tools/list"}), 400, -32600),
    "empty batch in 2025-03-26": (dict(body=[], headers={"mcp-protocol-version": "2025-03-26"}), 400, -32600),
    "wrong content type": (dict(body=LIST, headers={**LEGACY, "content-type": "text/plain"}), 400, -32600),
    "missing Accept": (dict(body=LIST, headers={**LEGACY, "accept": None}), 406, -32600),
    "Accept without JSON (2026)": (
        dict(body={**LIST, "params": META}, headers={**MODERN, "mcp-method": "tools/list", "accept": "text/html"}),
        406, -32600),
    "unknown protocol version": (dict(body=LIST, headers={"mcp-protocol-version": "1999-01-01"}), 400, UNSUPPORTED_PROTOCOL_VERSION),
    "unknown method": (dict(body={"jsonrpc": "2.0", "id": 1, "method": "no/such"}, headers=LEGACY), 200, -32601),
    "unknown method (2026)": (
        dict(body={"jsonrpc": "2.0", "id": 1, "method": "no/such", "params": META},
             headers={**MODERN, "mcp-method": "no/such"}), 404, -32601),
    "2026 request without _meta": (dict(body=LIST, headers={**MODERN, "mcp-method": "tools/list"}), 400, -32602),
    "2026 Mcp-Method header mismatch": (
        dict(body={**LIST, "params": META}, headers={**MODERN, "mcp-method": "tools/call"}), 400, HEADER_MISMATCH),
    "oversized body": (dict(body={**LIST, "params": {"pad": "x" * 1_100_000}}, headers=LEGACY), 413, -32600),
    "foreign Origin": (dict(body=LIST, headers={**LEGACY, "origin": "https://evil.example"}), 403, -32600),
    "foreign Host (DNS rebinding)": (dict(body=LIST, headers={**LEGACY, "host": "evil.example"}), 421, -32600),
    "GET (no SSE stream on Lambda)": (dict(body=None, headers=LEGACY, method="GET"), 405, -32600),
    "DELETE (no session to end)": (dict(body=None, headers=LEGACY, method="DELETE"), 405, -32600),
}


@pytest.fixture(scope="module")
def handler():
    from tests.runtime.sample_server import build

    _, _, handler = build()
    yield handler
    handler.close()


@pytest.mark.parametrize("shape", EVENT_SHAPES)
@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_the_specified_error(handler, shape, case):
    kwargs, status, code = CASES[case]
    response = handler(EVENT_SHAPES[shape](**kwargs), FakeContext())
    assert response["statusCode"] == status
    assert response_headers(response)["content-type"].startswith("application/json")
    body = response_json(response)
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["code"] == code
    assert "Traceback" not in response["body"]
    if status == 405:
        assert response_headers(response)["allow"] == "POST"


@pytest.mark.parametrize("arguments", [{}, {"text": 5}, {"text": "a", "extra": [1]}], ids=["missing", "wrong-type", "extra"])
def test_invalid_tool_arguments_are_a_tool_error_or_accepted(handler, arguments):
    body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": arguments}}
    reply = response_json(handler(EVENT_SHAPES["payload-2.0"](body=body, headers=LEGACY), FakeContext()))
    if arguments == {"text": "a", "extra": [1]}:
        assert reply["result"]["content"][0]["text"] == "a"
    else:
        assert reply["result"]["isError"] is True
        assert "echo" in reply["result"]["content"][0]["text"]


def test_unknown_tool_is_reported_without_running_anything(handler):
    body = {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope", "arguments": {}}}
    reply = response_json(handler(EVENT_SHAPES["payload-2.0"](body=body, headers=LEGACY), FakeContext()))
    assert reply["id"] == 4
    assert reply["result"]["isError"] is True
    assert "nope" in reply["result"]["content"][0]["text"]


def test_a_tool_that_raises_leaks_no_trace(handler):
    body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "explode", "arguments": {}}}
    response = handler(EVENT_SHAPES["payload-2.0"](body=body, headers=LEGACY), FakeContext())
    assert response["statusCode"] == 200
    reply = response_json(response)
    assert reply["result"]["isError"] is True
    assert "Traceback" not in response["body"] and "File \"" not in response["body"]


def test_undecodable_base64_body_is_a_parse_error(handler):
    event = EVENT_SHAPES["payload-2.0"](body=LIST, headers=LEGACY)
    event.update(body="***", isBase64Encoded=True)
    response = handler(event, FakeContext())
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["code"] == -32700


def test_non_http_event_is_answered_not_raised(handler):
    response = handler({"Records": [{"eventSource": "aws:sqs"}]}, FakeContext())
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["message"] == "Unsupported event"


def test_2025_03_26_batch_is_served_item_by_item(handler):
    batch = [
        LIST,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {}},
        7,
    ]
    response = handler(EVENT_SHAPES["payload-2.0"](body=batch, headers={"mcp-protocol-version": "2025-03-26"}),
                       FakeContext())
    assert response["statusCode"] == 200
    replies = response_json(response)
    assert [r["id"] for r in replies] == [1, 2, 3, None]
    assert replies[1]["result"]["content"][0]["text"] == "hi"
    assert replies[2]["error"]["code"] == -32600 and "initialize" in replies[2]["error"]["message"]
    assert replies[3]["error"]["code"] == -32600


def test_a_batch_of_notifications_is_accepted_with_202(handler):
    batch = [{"jsonrpc": "2.0", "method": "notifications/initialized"}]
    response = handler(EVENT_SHAPES["payload-1.0"](body=batch, headers={}), FakeContext())
    assert response["statusCode"] == 202
    assert response["body"] == ""


def test_header_values_are_trimmed(handler):
    response = handler(EVENT_SHAPES["payload-2.0"](body=LIST, headers={"mcp-protocol-version": " 2025-06-18 "}),
                       FakeContext())
    assert response["statusCode"] == 200
    assert [t["name"] for t in response_json(response)["result"]["tools"]][0] == "echo"


def test_oversized_result_becomes_a_json_rpc_error_with_the_request_id():
    from mcp_lambda.settings import RuntimeSettings
    from tests.runtime.sample_server import build

    _, _, handler = build(RuntimeSettings(max_response_bytes=10_000))
    try:
        body = {"jsonrpc": "2.0", "id": "big-1", "method": "tools/call",
                "params": {"name": "big", "arguments": {"size": 20_000}}}
        response = handler(EVENT_SHAPES["payload-2.0"](body=body, headers=LEGACY), FakeContext())
        assert response["statusCode"] == 200
        reply = response_json(response)
        assert reply["id"] == "big-1"
        assert reply["error"]["code"] == -32603
        assert "too large" in reply["error"]["message"]
        small = {**body, "params": {"name": "big", "arguments": {"size": 100}}}
        assert json.loads(handler(EVENT_SHAPES["payload-2.0"](body=small, headers=LEGACY), FakeContext())["body"])["result"]
    finally:
        handler.close()


def test_unknown_version_echoes_the_id_and_lists_every_revision(handler):
    body = {"jsonrpc": "2.0", "id": 77, "method": "tools/list"}
    reply = response_json(handler(EVENT_SHAPES["payload-2.0"](body=body, headers={"mcp-protocol-version": "v9"}),
                                  FakeContext()))
    assert reply["id"] == 77
    assert reply["error"]["data"] == {"requested": "v9", "supported": [
        "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]}


def test_unknown_version_in_a_2026_shaped_body_gets_the_sdk_answer(handler):
    """2026-07-28 clients are told the versions server/discover advertises."""
    body = {"jsonrpc": "2.0", "id": 301, "method": "server/discover",
            "params": {"_meta": {**META["_meta"], "io.modelcontextprotocol/protocolVersion": "v999"}}}
    response = handler(EVENT_SHAPES["payload-2.0"](body=body, headers={"mcp-protocol-version": "v999", "mcp-method": "server/discover"}),
                       FakeContext())
    assert response["statusCode"] == 400
    reply = response_json(response)
    assert reply["id"] == 301
    assert reply["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert reply["error"]["data"]["supported"] == ["2026-07-28"]
