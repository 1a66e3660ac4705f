"""`tools/list` shows each caller only the tools its token lets it call (SDK middleware)."""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from mcp_lambda.auth.policy import Access


ACCESS_SCOPE_KEY = "mcp_lambda.access"
"""Where the runtime puts the request's effective `Access` in the ASGI scope."""


class ToolVisibility:
    """Registered once per server; filters only requests that the runtime marked with an `Access`."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        request = ctx.request
        access: Access | None = request.scope.get(ACCESS_SCOPE_KEY) if request is not None else None
        if ctx.method != "tools/list" or result is None or access is None:
            return result
        token = get_access_token()
        granted = frozenset(token.scopes) if token is not None else None
        if isinstance(result, dict):
            return {**result, "tools": [t for t in result.get("tools", []) if access.for_tool(t.get("name")).allows(granted)]}
        tools = [t for t in result.tools if access.for_tool(t.name).allows(granted)]
        return result.model_copy(update={"tools": tools})
