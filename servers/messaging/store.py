"""The message channel in PostgreSQL, shared by the messaging and secure messaging servers.

Posting is exactly-once: every post carries an idempotency key (`ON CONFLICT DO NOTHING`), so the retry
after a lost connection, or a client's retry with the same key, never writes the message twice. The
table is created by `migrations/`, at deploy time, never here.

The tools are `async def` and call the (blocking) driver directly. On Lambda an environment serves one
request at a time, so there is nothing for the event loop to do meanwhile, while a plain `def` tool would
be sent to a worker thread by the SDK on every call (about 0.7 ms each, measured with bench/).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from mcp_lambda.database import Database, DatabaseState, DatabaseUnavailable, StatementTimeout

MAX_TEXT = 4000
MAX_LIMIT = 100

# Tool argument types, shared by both messaging servers so their schemas cannot drift apart.
MessageText = Annotated[str, Field(description=f"The message, 1 to {MAX_TEXT} characters.")]
IdempotencyKey = Annotated[
    str | None,
    Field(description="Optional client-chosen key: posting again with the same key returns the first post.",
          max_length=200),
]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many of the latest messages.")]


class Message(BaseModel):
    id: int = Field(description="Message number, increasing in posting order.")
    text: str
    author: str | None = Field(default=None, description="Who posted it, when the server knows and may tell you.")
    created_at: datetime


class PostedMessage(Message):
    duplicate: bool = Field(description="True when this idempotency key had been posted before: nothing new was written.")


def database(ctx: Context[DatabaseState, Any]) -> Database:
    return ctx.request_context.lifespan_context.db


def validate_text(text: str) -> str:
    if not text.strip():
        raise ToolError("text is empty: write something to post")
    if "\x00" in text:
        raise ToolError("text contains a NUL character, which PostgreSQL text cannot store")
    if len(text) > MAX_TEXT:
        raise ToolError(f"text is {len(text)} characters; the limit is {MAX_TEXT}")
    return text


def insert_message(db: Database, text: str, author: str | None, key: str | None) -> PostedMessage:
    """Insert exactly once per idempotency key; on a repeat, return the row that is already there."""
    key = key or str(uuid.uuid4())
    try:
        rows = db.run(
            "INSERT INTO messages (content, author, idempotency_key) VALUES (:text, :author, :key) "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, content, author, created_at",
            text=text, author=author, key=key,
        )
        duplicate = not rows
        if duplicate:
            rows = db.run("SELECT id, content, author, created_at FROM messages WHERE idempotency_key = :key", key=key)
    except DatabaseUnavailable as exc:
        raise ToolError("the database is unavailable right now; nothing was posted. Try again shortly.") from exc
    except StatementTimeout as exc:
        raise ToolError("the database took too long and the post was cancelled; nothing was posted") from exc
    (id_, content, stored_author, created_at), = rows
    if duplicate and (content, stored_author) != (text, author):
        raise ToolError("this idempotency_key was already used for a different message")
    return PostedMessage(id=id_, text=content, author=stored_author, created_at=created_at, duplicate=duplicate)


def latest_messages(db: Database, limit: int) -> list[Message]:
    try:
        rows = db.run(
            "SELECT id, content, author, created_at FROM messages ORDER BY id DESC LIMIT :limit", limit=limit
        )
    except DatabaseUnavailable as exc:
        raise ToolError("the database is unavailable right now; try again shortly") from exc
    except StatementTimeout as exc:
        raise ToolError("the database took too long to answer") from exc
    return [Message(id=r[0], text=r[1], author=r[2], created_at=r[3]) for r in rows]
