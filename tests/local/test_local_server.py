"""LocalServer in-process, as tests and tools embed it: each one is an environment of its own."""

from __future__ import annotations

import json
import os
import urllib.request

import anyio
from mcp import Client

from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import ServerSpec
from mcp_servers import SECURE_MESSAGING, WEATHER


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

    with LocalServer(port=0, servers=[WEATHER]) as first:
        before = weather_forecast(first.url("weather"))
    with LocalServer(port=0, servers=[WEATHER]) as second:
        after = weather_forecast(second.url("weather"))
    assert before == after and before.startswith("Weather in Oslo:")
    assert not handler.started, "the module's handler was never the one serving"


def test_a_closed_local_server_leaves_the_environment_as_it_found_it(monkeypatch):
    monkeypatch.delenv("MCP_AUTH_CONFIG", raising=False)
    before = dict(os.environ)
    with LocalServer(port=0, servers=[WEATHER]):
        assert os.environ["MCP_ALLOWED_HOSTS"].startswith("127.0.0.1:*"), "loopback is allowed"
    assert dict(os.environ) == before


def metadata(server: LocalServer, name: str) -> dict:
    with urllib.request.urlopen(f"{server.base_url}/.well-known/oauth-protected-resource/{name}/mcp") as reply:
        return json.load(reply)


def test_each_server_with_sign_in_names_its_own_url_and_trusts_the_local_issuers(monkeypatch, database_url):
    """Several servers with sign-in side by side: each has its own configuration, as each Lambda function
    has its own environment (one process-wide MCP_AUTH_CONFIG could name only one resource); each trusts the
    local authorization server, which issues tokens for every one of them, and the development issuer."""
    monkeypatch.delenv("MCP_AUTH_CONFIG", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    other = ServerSpec("secure-notes", SECURE_MESSAGING.folder, database=True, sign_in=True,
                       migrations=SECURE_MESSAGING.migrations)
    with LocalServer(port=0, servers=[SECURE_MESSAGING, other]) as server:
        for name in ("secure-messaging", "secure-notes"):
            document = metadata(server, name)
            assert document["resource"] == server.url(name)
            assert document["authorization_servers"] == [f"{server.base_url}/oauth", f"{server.base_url}/dev-oidc"]
        with urllib.request.urlopen(f"{server.base_url}/.well-known/oauth-authorization-server/oauth") as reply:
            assert sorted(json.load(reply)["scopes_supported"]) == sorted(set(SECURE_MESSAGING.scopes))
        assert "MCP_AUTH_CONFIG" not in os.environ
