"""`MCPServer` with the defaults a Lambda deployment needs; tools are then written with the SDK's own decorators."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from mcp_lambda import __version__
from mcp_lambda.observability import ToolMetricsMiddleware
from mcp_lambda.request_state import request_state_security
from mcp_lambda.settings import RuntimeSettings


def new_server(name: str, *, settings: RuntimeSettings | None = None, **kwargs: Any) -> MCPServer[Any]:
    """An `MCPServer` named `name`, ready for Lambda; `kwargs` go to `MCPServer` unchanged.

    What differs from the SDK's defaults, and why:
    - `subscriptions=False`: a `subscriptions/listen` stream never ends, and a Lambda invocation must.
    - `request_state_security` from configuration (see request_state.py), so every instance accepts the
      `requestState` another instance sealed.
    - per-tool EMF metrics (see observability.py).
    - `version`: this runtime's version, reported as `serverInfo.version`, unless the server names its own.
    """
    settings = settings or RuntimeSettings.from_env()
    kwargs.setdefault("subscriptions", False)
    kwargs.setdefault("version", __version__)
    if "request_state_security" not in kwargs:
        kwargs["request_state_security"] = request_state_security(settings, audience=name)
    server: MCPServer[Any] = MCPServer(name, **kwargs)
    server.middleware.append(ToolMetricsMiddleware(server))
    return server
