"""LocalServer in-process, as tests and tools embed it: each one is an environment of its own."""

from __future__ import annotations

import os

import anyio
from mcp import Client

from devserver.http_server import LocalServer


def weather_forecast(url: str) -> str:
    async def scenario() -> str:
        async with Client(url) as client:
            result = await client.call_tool("get_weather", {"city": "Oslo"})
            return result.content[0].text

    return anyio.run(scenario)


def test_a_second_local_server_of_a_service_serves_after_the_first_closed(monkeypatch):
    """Closing a local server closes its own execution environments, not the module's handler."""
    monkeypatch.delenv("MCP_AUTH_CONFIG", raising=False)
    from weather.server import handler

    with LocalServer(port=0, services={"weather": "weather.server:handler"}) as first:
        before = weather_forecast(first.url("weather"))
    with LocalServer(port=0, services={"weather": "weather.server:handler"}) as second:
        after = weather_forecast(second.url("weather"))
    assert before == after and before.startswith("Weather in Oslo:")
    assert not handler.started, "the module's handler was never the one serving"


def test_a_closed_local_server_leaves_the_environment_as_it_found_it(monkeypatch):
    monkeypatch.delenv("MCP_AUTH_CONFIG", raising=False)
    before = dict(os.environ)
    with LocalServer(port=0, services={"weather": "weather.server:handler"}):
        assert "MCP_AUTH_CONFIG" in os.environ, "sign-in for the secure service trusts the dev issuer"
    assert dict(os.environ) == before
