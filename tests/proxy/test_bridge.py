"""The proxy between the SDK's stdio client and the local Lambda servers, in every protocol mode.

The proxy runs as a subprocess, exactly as a desktop client launches it; the servers are the project's
Lambda handlers behind `LocalServer` (real HTTP -> Function URL event -> handler), run by conftest.py
in a process of their own. The messaging service needs PostgreSQL: `DATABASE_URL` when set, else
LocalServer's embedded one.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import uuid

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.proxy.conftest import start_local_servers
from tests.proxy.helpers import proxied_client, proxy_env, run_proxy

PROTOCOLS = ["auto", "legacy", "2026-07-28"]
CLIENT_MODES = ["legacy", "auto"]

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


def expected_version(protocol: str, client_mode: str) -> str:
    """What the desktop client ends up speaking: 2026-07-28 only when both sides can."""
    if client_mode == "auto" and protocol != "legacy":
        return "2026-07-28"
    return "2025-11-25"


@pytest.fixture
def env(tmp_path):
    return proxy_env(tmp_path / "config")


@pytest.mark.parametrize("client_mode", CLIENT_MODES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_weather_tools_through_the_proxy(local_servers, env, tmp_path, protocol, client_mode):
    url = local_servers.url("weather")

    async def scenario():
        async with Client(url) as direct:
            expected = await direct.call_tool("get_weather", {"city": "San Francisco"})
        async with proxied_client(
            "weather", url, "--mode", "http", "--protocol", protocol, env=env, stderr=tmp_path / "stderr", mode=client_mode
        ) as client:
            tools = await client.list_tools()
            result = await client.call_tool("get_weather", {"city": "San Francisco"})
            return client.protocol_version, client.server_info, tools, result, expected

    version, server_info, tools, result, expected = anyio.run(scenario)
    assert version == expected_version(protocol, client_mode)
    assert [tool.name for tool in tools.tools] == ["get_weather"]
    assert tools.tools[0].description == "Returns current weather for specified city (simulated data)"
    assert tools.tools[0].input_schema["required"] == ["city"]
    assert result.is_error is False
    assert result.content[0].text == expected.content[0].text
    assert result.content[0].text.startswith("Weather in San Francisco: ")
    if version != "2026-07-28":
        assert server_info is not None and server_info.name == "weather"
    assert (tmp_path / "stderr").read_text() == "", "nothing to report on a working connection"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_messaging_tools_through_the_proxy(local_servers, env, tmp_path, protocol):
    url = local_servers.url("messaging")
    text = f"through the proxy ({protocol}) {uuid.uuid4().hex[:8]}"
    key = f"proxy-{uuid.uuid4().hex}"

    async def scenario():
        async with proxied_client("messaging", url, "--protocol", protocol, env=env, stderr=tmp_path / "stderr") as client:
            tools = await client.list_tools()
            first = await client.call_tool("post_message", {"text": text, "idempotency_key": key})
            again = await client.call_tool("post_message", {"text": text, "idempotency_key": key})
            latest = await client.call_tool("get_messages", {"limit": 50})
            return tools, first, again, latest

    tools, first, again, latest = anyio.run(scenario)
    assert {tool.name for tool in tools.tools} >= {"post_message", "get_messages"}
    assert first.is_error is False and again.is_error is False
    posted = first.structured_content
    assert posted["duplicate"] is False
    assert again.structured_content == {**posted, "duplicate": True}, "the idempotency key crosses the proxy intact"
    assert posted["text"] == text
    messages = latest.structured_content["result"]
    assert any(m["id"] == posted["id"] and m["text"] == text for m in messages)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_is_one_line_on_stderr_and_a_failure_exit(env):
    url = f"http://127.0.0.1:{_free_port()}/mcp"
    done = run_proxy("nowhere", url, "--mode", "http", env=env)
    assert done.returncode == 1
    assert done.stdout == "", "nothing reaches the desktop client's protocol stream"
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"mcp-lambda-proxy: cannot reach {url}: ")
    assert "Traceback" not in done.stderr


def test_unknown_host_is_one_line_too(env):
    done = run_proxy("nowhere", "https://unreachable.invalid/mcp", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("mcp-lambda-proxy: cannot reach https://unreachable.invalid/mcp: ")
    assert len(done.stderr.splitlines()) == 1


def test_server_lost_mid_session_answers_errors_and_keeps_the_proxy(env, tmp_path):
    """A proxy outlives its server's outages: failed calls get a JSON-RPC error, not a dead connection."""
    server = start_local_servers(("weather",))
    url = server.url("weather")

    async def scenario():
        async with proxied_client("weather", url, env=env, stderr=tmp_path / "stderr", mode="legacy") as client:
            await client.list_tools()
            server.stop()
            with pytest.raises(MCPError) as first:
                await client.call_tool("get_weather", {"city": "Oslo"})
            with pytest.raises(MCPError) as second:
                await client.list_tools()
            return first.value, second.value

    try:
        first, second = anyio.run(scenario)
    finally:
        server.stop()
    for error in (first, second):
        assert error.code == -32603
        assert error.message.startswith(f"mcp-lambda-proxy: cannot reach {url}: ")
    stderr = (tmp_path / "stderr").read_text()
    assert stderr.count("cannot reach") == 1, "one line per outage, not one per request"
    assert "Traceback" not in stderr


class _CutShort(socketserver.StreamRequestHandler):
    """A minimal legacy MCP server over HTTP/1.1 whose tools/call answer breaks off mid-body."""

    def handle(self) -> None:
        while True:
            if not self.rfile.readline():
                return
            headers = {}
            while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = self.rfile.read(int(headers.get("content-length", "0")))
            message = json.loads(body) if body else {}
            if "id" not in message:
                self.wfile.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                continue
            if message.get("method") == "tools/call":
                self.wfile.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"jsonrpc"')
                return
            results = {
                "initialize": {"protocolVersion": (message.get("params") or {}).get("protocolVersion"),
                               "capabilities": {"tools": {}}, "serverInfo": {"name": "cut-short", "version": "1"}},
                "tools/list": {"tools": [{"name": "breaks", "inputSchema": {"type": "object"}}]},
            }
            payload = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": results.get(message["method"], {})})
            self.wfile.write(
                f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n".encode()
                + payload.encode()
            )


def test_a_response_cut_short_is_an_error_not_a_lost_connection(env, tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _CutShort)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/mcp"

    async def scenario():
        async with proxied_client("cut", url, "--protocol", "legacy", env=env, stderr=tmp_path / "stderr",
                                  mode="legacy") as client:
            with pytest.raises(MCPError) as cut:
                await client.call_tool("breaks", {})
            tools = await client.list_tools()
            return cut.value, tools

    try:
        error, tools = anyio.run(scenario)
    finally:
        server.shutdown()
        server.server_close()
    assert error.message.startswith(f"mcp-lambda-proxy: cannot reach {url}: ")
    assert [tool.name for tool in tools.tools] == ["breaks"], "the connection survived"


def test_a_failed_probe_is_not_taken_for_a_legacy_server():
    """`auto` falls back to the handshake when the server answers discover with an error, but not when the
    proxy itself could not ask (unreachable, sign-in failed): that would only repeat the failure."""
    from mcp_lambda_proxy.bridge import Bridge

    class Unreachable:
        async def discover(self):
            raise MCPError(code=-32603, message="mcp-lambda-proxy: cannot reach x", data={"proxy": "unreachable"})

    class Legacy:
        async def discover(self):
            raise MCPError(code=-32601, message="Method not found")

    bridge = Bridge(name="x", url="http://x/mcp", protocol="auto", http_client=None, downstream=None, task_group=None)
    with pytest.raises(MCPError, match="cannot reach"):
        anyio.run(bridge._probe_modern, Unreachable())
    assert anyio.run(bridge._probe_modern, Legacy()) is False
