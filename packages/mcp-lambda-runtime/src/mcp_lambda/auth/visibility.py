"""`tools/list` marks the tools a caller cannot call yet (SDK middleware).

Every tool is listed to everyone who may list: a client calls only tools it has seen, and a protected tool
it never sees is one whose 401 (sign in) or 403 (step up to a wider scope) it never meets. A tool the
caller's token does not allow carries, in its `_meta`, what it needs (`{"signIn": true, "scopes": [...]}`
under `ACCESS_META_KEY`), and a sentence saying so ends its description, for the model that reads it.
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from mcp_lambda.auth.policy import Access, Policy

ACCESS_SCOPE_KEY = "mcp_lambda.access"
"""Where the runtime puts the request's effective `Access` in the ASGI scope."""

ACCESS_META_KEY = "mcp-lambda/access"
"""The `_meta` key of a listed tool the caller cannot call yet: ``{"signIn": true, "scopes": [...]}``."""


def needs(policy: Policy, granted: frozenset[str] | None) -> tuple[dict[str, Any], str]:
    """What a caller with `granted` (None: anonymous) lacks for `policy`: the `_meta` value and the sentence."""
    missing = list(policy.missing(granted or frozenset()))
    scopes = f" with the {' and '.join(missing)} scope{'s' if len(missing) > 1 else ''}" if missing else ""
    return {"signIn": True, "scopes": missing}, f"Requires sign-in{scopes}."


class ToolVisibility:
    """Registered once per server; marks only the listings of requests the runtime gave an `Access`."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        request = ctx.request
        access: Access | None = request.scope.get(ACCESS_SCOPE_KEY) if request is not None else None
        if ctx.method != "tools/list" or result is None or access is None:
            return result
        token = get_access_token()
        granted = frozenset(token.scopes) if token is not None else None
        if isinstance(result, dict):
            return {**result, "tools": [_marked(t, access, granted) for t in result.get("tools", [])]}
        tools = [_marked_model(t, access, granted) for t in result.tools]
        return result.model_copy(update={"tools": tools})


def _marked(tool: dict[str, Any], access: Access, granted: frozenset[str] | None) -> dict[str, Any]:
    policy = access.for_tool(tool.get("name"))
    if policy.allows(granted):
        return tool
    meta, sentence = needs(policy, granted)
    description = f"{tool['description'].rstrip()} {sentence}" if tool.get("description") else sentence
    return {**tool, "description": description, "_meta": {**(tool.get("_meta") or {}), ACCESS_META_KEY: meta}}


def _marked_model(tool: Any, access: Access, granted: frozenset[str] | None) -> Any:
    policy = access.for_tool(tool.name)
    if policy.allows(granted):
        return tool
    meta, sentence = needs(policy, granted)
    description = f"{tool.description.rstrip()} {sentence}" if tool.description else sentence
    return tool.model_copy(update={"description": description, "meta": {**(tool.meta or {}), ACCESS_META_KEY: meta}})
