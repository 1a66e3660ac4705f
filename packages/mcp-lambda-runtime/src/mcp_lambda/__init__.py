"""Serve MCP servers written with the official `mcp` SDK from AWS Lambda HTTP events.

    from mcp_lambda import lambda_handler, new_server

    mcp = new_server("weather")

    @mcp.tool()
    def get_weather(city: str) -> str: ...

    handler = lambda_handler(mcp)

The names below are imported on first use, so that the stdlib-only modules of this package
(`mcp_lambda.contract`, read by the CDK constructs at synth time) load without the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
"""The distribution's version (mcp-lambda-runtime), in step with mcp-lambda-cdk and mcp-lambda-proxy; every
server reports it as its `serverInfo.version` unless it names its own."""

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from mcp_lambda.auth.policy import Access
    from mcp_lambda.runtime import McpLambdaRuntime
    from mcp_lambda.server import new_server
    from mcp_lambda.settings import RuntimeSettings

__all__ = ["McpLambdaRuntime", "RuntimeSettings", "__version__", "lambda_handler", "new_server"]

_LAZY = {
    "McpLambdaRuntime": "mcp_lambda.runtime",
    "RuntimeSettings": "mcp_lambda.settings",
    "new_server": "mcp_lambda.server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mcp_lambda' has no attribute {name!r}")


def lambda_handler(
    server: MCPServer[Any], settings: RuntimeSettings | None = None, access: Access | None = None
) -> McpLambdaRuntime:
    """The `handler(event, context)` for `server`. Cheap to create: nothing starts until the first request, except
    when Lambda initializes the environment for provisioned concurrency, ahead of traffic: then the handler primes
    at once (lifespan entered, one tools/list served; see snapstart.py), so create it after the tools.

    With `access`, callers sign in with OIDC bearer tokens (providers from MCP_AUTH_CONFIG) and each tool
    is public or protected as `access` says; see mcp_lambda.auth.
    """
    import os

    from mcp_lambda import contract as c
    from mcp_lambda.runtime import McpLambdaRuntime

    if c.MCP_TOOL_FUNCTIONS in os.environ or c.MCP_TOOL_FUNCTION_TOOLS in os.environ:
        from mcp_lambda.placement import install_from  # tools placed on functions of their own

        install_from(server, os.environ)
    return McpLambdaRuntime(server, settings, access)
