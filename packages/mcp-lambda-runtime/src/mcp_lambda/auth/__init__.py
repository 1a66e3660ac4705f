"""Sign-in for MCP servers on Lambda: OIDC bearer tokens, per-tool policy, RFC 9728 metadata.

    from mcp_lambda.auth import PUBLIC, Access, requires, token_payload

    handler = lambda_handler(mcp, access=Access(default=SIGNED_IN, tools={
        "get_messages": PUBLIC,
        "post_message": requires("messages:write"),
    }))

    @mcp.tool()
    def post_message(text: str, ctx: Context) -> str:
        email = token_payload(ctx)["email"]          # the verified claims of the caller

Providers come from `MCP_AUTH_CONFIG` (see config.py).
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

from mcp_lambda.auth.policy import PUBLIC, SIGNED_IN, Access, Policy, requires

__all__ = ["PUBLIC", "SIGNED_IN", "Access", "Policy", "requires", "token_payload"]


def token_payload(ctx: Any) -> dict[str, Any] | None:
    """The verified claims of the caller of this request (email, sub, name, ...), None when anonymous."""
    request = ctx.request_context.request
    user = request.scope.get("user") if request is not None else None
    if isinstance(user, AuthenticatedUser) and user.access_token.claims is not None:
        return dict(user.access_token.claims)
    return None
