"""Serve MCP servers written with the official `mcp` SDK from AWS Lambda HTTP events.

    from mcp_lambda import lambda_handler, new_server

    mcp = new_server("weather")

    @mcp.tool()
    def get_weather(city: str) -> str: ...

    handler = lambda_handler(mcp)
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from mcp_lambda.runtime import McpLambdaRuntime
from mcp_lambda.server import new_server
from mcp_lambda.settings import RuntimeSettings

__all__ = ["McpLambdaRuntime", "RuntimeSettings", "lambda_handler", "new_server"]


def lambda_handler(server: MCPServer[Any], settings: RuntimeSettings | None = None) -> McpLambdaRuntime:
    """The `handler(event, context)` for `server`. Cheap to create: nothing starts until the first request."""
    return McpLambdaRuntime(server, settings)
