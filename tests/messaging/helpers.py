"""Calling the messaging handler with Lambda events, as Lambda would."""

from __future__ import annotations

from typing import Any

from tests.runtime.lambda_events import FakeContext, response_json, v2_event

LEGACY = {"mcp-protocol-version": "2025-11-25"}


def call_tool(handler: Any, name: str, arguments: dict[str, Any], request_id: int | str = 1) -> dict[str, Any]:
    """The JSON-RPC result of a tools/call (raises on a JSON-RPC error)."""
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}
    response = handler(v2_event(body, headers=LEGACY), FakeContext())
    assert response["statusCode"] == 200, response
    reply = response_json(response)
    assert "result" in reply, reply
    return reply["result"]


def post(handler: Any, text: str, **arguments: Any) -> dict[str, Any]:
    return call_tool(handler, "post_message", {"text": text, **arguments})


def error_text(result: dict[str, Any]) -> str:
    assert result["isError"] is True, result
    return result["content"][0]["text"]
