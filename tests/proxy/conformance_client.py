"""The client command the official conformance suite runs for the proxy: `conformance_client.py <server-url>`.

The suite's client scenarios launch a client with the server URL as its last argument, then judge what
the client did (here: the sign-in). The proxy is not a client on its own: it needs a desktop client on
its stdio. So this script is that desktop client, as Claude Desktop would be: it starts
`python -m mcp_lambda_proxy proxy conformance <url>` with the SDK's stdio client, initializes, lists the tools
and calls `test-tool` (the suite's auth servers expose it). Every request crosses the proxy, which signs
in when challenged; the browser step is tests/proxy/fake_browser.py through `$BROWSER`, since the
suite's authorization server consents without a user.

From the suite's environment: MCP_CONFORMANCE_CONTEXT may carry a pre-registered `client_id` and
`client_secret` (passed as --client-id/--client-secret); every run also passes --client-metadata-url, so
the proxy uses a client ID metadata document where the authorization server supports one (the URL
need not resolve: the suite's server does not fetch it). Each run gets an empty credential store.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"


def proxy_arguments(url: str, context: dict) -> list[str]:
    args = ["-m", "mcp_lambda_proxy", "proxy", "conformance", url, "--mode", "http", "--sign-in-timeout", "20"]
    args += ["--protocol", os.environ.get("MCP_PROXY_CONFORMANCE_PROTOCOL", "auto")]
    if context.get("client_id"):
        args += ["--client-id", str(context["client_id"])]
    if context.get("client_secret"):
        args += ["--client-secret", str(context["client_secret"])]
    args += ["--client-metadata-url", CLIENT_METADATA_URL]
    if os.environ.get("MCP_PROXY_CONFORMANCE_DEBUG"):
        args += ["--log-level", "debug"]
    return args


async def run(url: str) -> None:
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    with tempfile.TemporaryDirectory(prefix="mcp-proxy-conformance-") as scratch:
        browser = Path(scratch) / "browser"
        browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests/proxy/fake_browser.py"}" "$@"\n')
        browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": scratch,
            "PYTHONPATH": str(ROOT),
            "MCP_LAMBDA_PROXY_CONFIG_DIR": str(Path(scratch) / "config"),
            "MCP_LAMBDA_PROXY_STORE": "file",
            "BROWSER": str(browser),
        }
        parameters = StdioServerParameters(command=sys.executable, args=proxy_arguments(url, context), env=env)
        async with Client(stdio_client(parameters, errlog=sys.stderr), mode="legacy") as client:
            tools = await client.list_tools()
            print(f"tools: {[tool.name for tool in tools.tools]}", flush=True)
            if any(tool.name == "test-tool" for tool in tools.tools):
                result = await client.call_tool("test-tool", {})
                print(f"test-tool: {result.content[0].text if result.content else result}", flush=True)


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: conformance_client.py <server-url>", file=sys.stderr)
        return 2
    anyio.run(run, sys.argv[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
