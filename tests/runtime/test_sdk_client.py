"""The official SDK client, over real HTTP, through the local server's Lambda bridge, in every mode."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp import Client

from mcp_lambda.local.http_server import LocalServer
from mcp_servers import WEATHER

MODES = ["auto", "legacy", "2026-07-28"]
EXPECTED_VERSION = {"auto": "2026-07-28", "legacy": "2025-11-25", "2026-07-28": "2026-07-28"}


@pytest.fixture(scope="module")
def server():
    with LocalServer(port=0, servers=[WEATHER]) as running:
        yield running


@pytest.mark.parametrize("mode", MODES)
def test_weather_tools_through_the_sdk_client(server, mode):
    async def scenario():
        async with Client(server.url("weather"), mode=mode) as client:
            tools = await client.list_tools()
            result = await client.call_tool("get_weather", {"city": "San Francisco"})
            again = await client.call_tool("get_weather", {"city": "  san   francisco "})
            return client, tools, result, again

    client, tools, result, again = anyio.run(scenario)
    assert [tool.name for tool in tools.tools] == ["get_weather"]
    assert tools.tools[0].description == "Returns current weather for specified city (simulated data)"
    assert tools.tools[0].input_schema["required"] == ["city"]
    assert result.is_error is False
    assert result.content[0].text.startswith("Weather in San Francisco: ")
    assert result.content[0].text.endswith("°F")
    assert again.content[0].text.split(":", 1)[1] == result.content[0].text.split(":", 1)[1], "deterministic"


@pytest.mark.parametrize("mode", MODES)
def test_the_negotiated_revision_is_the_one_asked_for(server, mode):
    async def scenario():
        async with Client(server.url("weather"), mode=mode) as client:
            await client.list_tools()
            return client.session.protocol_version

    assert anyio.run(scenario) == EXPECTED_VERSION[mode]


def test_inspector_style_raw_requests(server):
    """What MCP Inspector sends in direct mode: a browser Origin on localhost, and a CORS preflight."""
    origin = "http://localhost:6274"
    headers = {"origin": origin, "content-type": "application/json", "accept": "application/json, text/event-stream"}
    with httpx.Client() as http:
        preflight = http.options(server.url("weather"), headers={
            "origin": origin, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, mcp-protocol-version"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == origin
        init = http.post(server.url("weather"), headers=headers, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "inspector", "version": "0"}}})
        assert init.status_code == 200
        assert init.headers["access-control-allow-origin"] == origin
        assert init.json()["result"]["serverInfo"]["name"] == "weather"
        assert "mcp-session-id" not in init.headers, "stateless: no session to track"
        foreign = http.post(server.url("weather"), headers={**headers, "origin": "https://evil.example"},
                            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert foreign.status_code == 403
        missing = http.post(f"{server.base_url}/nothing/mcp", headers=headers, json={})
        assert missing.status_code == 404
        assert "weather" in missing.json()["services"]
