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

from mcp_lambda.auth.policy import Access
from mcp_lambda.runtime import McpLambdaRuntime
from mcp_lambda.server import new_server
from mcp_lambda.settings import RuntimeSettings

__all__ = ["McpLambdaRuntime", "RuntimeSettings", "lambda_handler", "new_server"]


def lambda_handler(
    server: MCPServer[Any], settings: RuntimeSettings | None = None, access: Access | None = None
) -> McpLambdaRuntime:
    """The `handler(event, context)` for `server`. Cheap to create: nothing starts until the first request.

    With `access`, callers sign in with OIDC bearer tokens (providers from MCP_AUTH_CONFIG) and each tool
    is public or protected as `access` says; see mcp_lambda.auth.
    """
    return McpLambdaRuntime(server, settings, access)
