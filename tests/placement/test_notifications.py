"""A placed tool's notifications reach the client as an unplaced tool's do: the same reply, byte for byte.

The tool function returns the progress and log notifications its call sent with its result, and the front sends
them on, in order, through its own request context before the result: so the front's reply is the SSE body (or
JSON, when nothing was sent) the tool would have made in the front. The conformance server's notifying tools are
served placed and unplaced, called as a Function URL would send them (handshake revision, the client accepting
SSE, a progress token) and through the official SDK client on 2026-07-28 (progress asked with a callback).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
from mcp import Client

from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import ToolPlacement
from mcp_servers import CONFORMANCE
from tests.placement.conftest import LEGACY
from tests.runtime.lambda_events import v2_event

NOTIFYING = ("test_tool_with_logging", "test_tool_with_progress", "test_simple_text")
PLACED = dataclasses.replace(CONFORMANCE, placements=(ToolPlacement(NOTIFYING, name="notes"),))
SSE = {**LEGACY, "accept": "application/json, text/event-stream"}


def replies(server: LocalServer) -> list[tuple[int, str, str]]:
    """Each notifying tool called with a progress token: status, content type and the body as sent."""
    answers = []
    for number, tool in enumerate(NOTIFYING, start=1):
        event = v2_event({"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": {
            "name": tool, "arguments": {}, "_meta": {"progressToken": f"token-{number}"}}}, headers=SSE)
        response = server.functions["conformance"].invoke(event)
        answers.append((response["statusCode"], response["headers"].get("content-type", ""), response["body"]))
    return answers


def progress_through_the_sdk(server: LocalServer) -> tuple[list[tuple[float, float | None]], str]:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async def scenario() -> str:
        async with Client(server.url("conformance"), mode="2026-07-28") as client:
            result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            return result.content[0].text

    return seen, anyio.run(scenario)


def test_a_placed_tools_notifications_reach_the_client_as_an_unplaced_tools(fresh_database: Any) -> None:
    with LocalServer(port=0, servers=[CONFORMANCE]) as unplaced:
        expected, expected_progress = replies(unplaced), progress_through_the_sdk(unplaced)
    with LocalServer(port=0, servers=[PLACED]) as placed:
        actual, actual_progress = replies(placed), progress_through_the_sdk(placed)
        assert placed.tool_functions["conformance-notes"].handler.started, "the calls were forwarded"
    assert actual == expected
    assert actual_progress == expected_progress
    # What is compared means something: three log messages, then three progress notifications, each before its
    # result in an SSE reply; a call that sent nothing is plain JSON.
    (_, logs_type, logs), (_, progress_type, progress), (_, plain_type, _) = expected
    assert logs_type == progress_type == "text/event-stream" and plain_type == "application/json"
    assert logs.count("notifications/message") == 3 and logs.index("notifications/message") < logs.index('"result"')
    assert progress.count("notifications/progress") == 3 and '"progressToken":"token-2"' in progress.replace(" ", "")
    assert expected_progress == ([(0.0, 100.0), (50.0, 100.0), (100.0, 100.0)],
                                 "Tool with progress executed successfully")
