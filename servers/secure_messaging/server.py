"""Case 3: the messaging server behind OIDC sign-in (Google, Cognito or any OIDC issuer).

Connecting requires sign-in (the server challenges at connect, so every desktop client discovers it);
posting requires the `messages:write` scope (or group), and each message is stored with the verified email
of its author, taken from the token, never from the arguments. `get_messages` stays callable without a
token (a script, a status page), but an anonymous caller never sees who wrote what: authors' email
addresses are for signed-in callers. Issuers and audiences come from MCP_AUTH_CONFIG (the McpOidcAuth
construct sets it).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from mcp_lambda import lambda_handler, new_server
from mcp_lambda.auth import PUBLIC, SIGNED_IN, Access, requires, token_payload
from mcp_lambda.database import DatabaseState, database_lifespan
from messaging.store import (
    IdempotencyKey,
    Limit,
    Message,
    MessageText,
    PostedMessage,
    database,
    insert_message,
    latest_messages,
    post_key,
    validate_text,
)

WRITE_SCOPE = "messages:write"

mcp = new_server(
    "secure-messaging",
    instructions="A signed-in message channel: read with get_messages, post with post_message.",
    lifespan=database_lifespan,
)



@mcp.tool()
async def post_message(
    text: MessageText,
    ctx: Context[DatabaseState, Any],
    idempotency_key: IdempotencyKey = None,
) -> PostedMessage:
    """Post new message to public channel, signed with your verified email"""
    claims = token_payload(ctx)
    if not claims:  # the gate refuses anonymous calls first; this keeps the tool safe on its own
        raise ToolError("sign-in required")
    author = claims.get("email") or claims.get("sub")
    key = post_key(idempotency_key, str(author), ctx.request_id, text)
    return insert_message(database(ctx), validate_text(text), str(author), key)


@mcp.tool()
async def get_messages(
    ctx: Context[DatabaseState, Any],
    limit: Limit = 10,
) -> list[Message]:
    """Retrieve latest messages with their authors, newest first (10 unless a limit is given)"""
    messages = latest_messages(database(ctx), limit)
    if token_payload(ctx) is None:
        # Authors are email addresses: personal data for signed-in colleagues, not for anonymous callers.
        return [message.model_copy(update={"author": None}) for message in messages]
    return messages


@mcp.tool()
async def whoami(ctx: Context[DatabaseState, Any]) -> dict[str, Any]:
    """Who you are signed in as: the verified claims of your token (email, subject, name, issuer)"""
    claims = token_payload(ctx) or {}
    return {key: claims.get(key) for key in ("email", "sub", "name", "iss") if key in claims}


ACCESS = Access(
    default=SIGNED_IN,
    tools={"get_messages": PUBLIC, "post_message": requires(WRITE_SCOPE), "whoami": SIGNED_IN},
)

handler = lambda_handler(mcp, access=ACCESS)
