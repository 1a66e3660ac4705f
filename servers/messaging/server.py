"""Case 2: a stateful messaging server on PostgreSQL (behind RDS Proxy on AWS).

Each execution environment holds one connection (the database lifespan); tools reach it through the
SDK's context. The channel itself is in store.py.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from mcp_lambda import lambda_handler, new_server
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
    requester,
    validate_text,
)

mcp = new_server(
    "messaging",
    instructions="A public message channel: post_message to write, get_messages to read the latest messages.",
    lifespan=database_lifespan,
)


@mcp.tool()
async def post_message(
    text: MessageText,
    ctx: Context[DatabaseState, Any],
    idempotency_key: IdempotencyKey = None,
) -> PostedMessage:
    """Post new message to public channel"""
    key = post_key(idempotency_key, requester(ctx), ctx.request_id, text)
    return insert_message(database(ctx), validate_text(text), None, key)


@mcp.tool()
async def get_messages(
    ctx: Context[DatabaseState, Any],
    limit: Limit = 10,
) -> list[Message]:
    """Retrieve latest messages, newest first (10 unless a limit is given)"""
    return latest_messages(database(ctx), limit)


handler = lambda_handler(mcp)
