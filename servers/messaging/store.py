"""The message channel in PostgreSQL, shared by the messaging and secure messaging servers.

Posting is exactly-once: every post carries an idempotency key (`ON CONFLICT DO NOTHING`), so the retry
after a lost connection, or a client's retry with the same key, never writes the message twice. A client
that gives no key gets one derived from its request (who asks, the JSON-RPC id, the text): a client that
resends the same request after losing the reply maps to the same key, for `RETRY_WINDOW`; the same request
later is a new post. Who asks is the signed-in caller, else the request's source address (`requester`): two
anonymous callers elsewhere posting the same text under the same JSON-RPC id (every session numbers its
requests from the start) stay two posts. Each post also stamps its row with a `write_id` of its own, so it can tell its own
write from an earlier post with the same key.

The outcome is always checked before it is reported. When the connection is lost mid-post (the statement
may have committed, the reply never came), the key is looked up again on a fresh connection: the answer is
then the row (posted), "not posted" (checked), or, when even that lookup fails, "not known" with the key to
post again with, which cannot write twice. The table is created by `migrations/`, at deploy time, never here.

The tools are `async def` and call the (blocking) driver directly. On Lambda an environment serves one
request at a time, so there is nothing for the event loop to do meanwhile, while a plain `def` tool would
be sent to a worker thread by the SDK on every call (about 0.7 ms each, measured with bench/).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import pg8000.native
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from mcp_lambda.database import Database, DatabaseDeadline, DatabaseState, DatabaseUnavailable, StatementTimeout

MAX_TEXT = 4000
MAX_LIMIT = 100
RETRY_WINDOW = timedelta(minutes=15)
"""How long a client's resent request (same caller, JSON-RPC id and text, no key) counts as the same post."""
DERIVED_PREFIX = "request:"
INSUFFICIENT_PRIVILEGE = "42501"

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


def requester(ctx: Context[Any, Any]) -> str | None:
    """Who sent this request when nobody signed in: its source address (the client's IP as Lambda or API
    Gateway reports it, never a header the client sets), or None when the transport gives none."""
    request = ctx.request_context.request
    client = request.scope.get("client") if request is not None else None
    return f"address:{client[0]}" if client and client[0] else None


def post_key(given: str | None, caller: str | None, request_id: object, text: str) -> str:
    """The idempotency key of a post: the client's, else one derived from its request, the same for a resent
    request (same caller, JSON-RPC id and text). A derived key may come back as the client's: the server names it
    when a post's outcome could not be known, for the retry."""
    if given is not None:
        return given
    digest = hashlib.sha256(f"{caller or ''}\0{request_id!r}\0{text}".encode()).hexdigest()
    return f"{DERIVED_PREFIX}{digest}"


# The new row's number and time are drawn first and the row is reported from them, not read back: a post needs only
# INSERT on the table (and USAGE on its sequence), so posting can run as a database user that cannot read messages
# (a tool placed on a function of its own: mcp_servers.py). `ON CONFLICT DO NOTHING` without a target for the same
# reason (naming the key column needs SELECT on it); the number drawn is new, so only the key can conflict.
_INSERT = """
WITH new AS (SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id, now() AS created_at),
     inserted AS (
         INSERT INTO messages (id, content, author, idempotency_key, write_id, created_at)
         SELECT new.id, CAST(:text AS text), CAST(:author AS text), CAST(:key AS text), CAST(:write AS uuid),
                new.created_at FROM new
         ON CONFLICT DO NOTHING RETURNING 1)
SELECT new.id, CAST(:text AS text), CAST(:author AS text), new.created_at, CAST(:write AS uuid)
FROM new WHERE EXISTS (SELECT FROM inserted)"""
_BY_KEY = ("SELECT id, content, author, created_at, write_id, created_at < now() - make_interval(secs => :window) "
           "FROM messages WHERE idempotency_key = :key")


def insert_message(db: Database, text: str, author: str | None, key: str) -> PostedMessage:
    """Insert exactly once per idempotency key; on a repeat, return the row that is already there.

    `key` comes from `post_key`: a derived key older than RETRY_WINDOW is not a retry, and the
    post is written under a key of its own."""
    write = uuid.uuid4()
    try:
        rows = db.run(_INSERT, text=text, author=author, key=key, write=write)
        if not rows:
            (*row, stale), = _earlier_post(db, key)
            if key.startswith(DERIVED_PREFIX) and stale:
                return insert_message(db, text, author, f"{key}:{write}")
            rows = [row]
    except StatementTimeout as exc:
        # The server cancelled the statement: an autocommitted INSERT that was cancelled did not commit.
        raise ToolError("the database took too long and the post was cancelled; nothing was posted") from exc
    except DatabaseUnavailable as exc:
        rows = _confirm(db, key, exc)
    (id_, content, stored_author, created_at, written_by), = rows
    duplicate = written_by != write
    if duplicate and (content, stored_author) != (text, author):
        raise ToolError("this idempotency_key was already used for a different message")
    return PostedMessage(id=id_, text=content, author=stored_author, created_at=created_at, duplicate=duplicate)


def _earlier_post(db: Database, key: str) -> list[list[Any]]:
    """The post already under `key` (and whether a retry window has passed), for a user that may read posts."""
    try:
        return db.run(_BY_KEY, key=key, window=RETRY_WINDOW.total_seconds())
    except pg8000.native.DatabaseError as exc:
        if exc.args and isinstance(exc.args[0], dict) and exc.args[0].get("C") == INSUFFICIENT_PRIVILEGE:
            raise ToolError("this idempotency_key was posted before; nothing new was written, and this server may "
                            "not read posts back to show the earlier one") from exc
        raise


def _confirm(db: Database, key: str, lost: DatabaseUnavailable) -> list[list[Any]]:
    """After a lost connection the post may or may not have committed: look the key up on a fresh connection
    and report what is true (nothing to look up when the statement never left)."""
    if not lost.maybe_ran:
        raise ToolError("the database is unavailable right now; nothing was posted. Try again shortly.") from lost
    try:
        rows = db.run("SELECT id, content, author, created_at, write_id FROM messages WHERE idempotency_key = :key",
                      key=key)
    except (DatabaseUnavailable, StatementTimeout) as exc:
        why = "the function's time ran out" if isinstance(exc, DatabaseDeadline) or isinstance(
            lost, DatabaseDeadline) else "the database stopped answering"
        raise ToolError(f"{why} while posting, so whether the message was posted is not known. Post it again "
                        f"with idempotency_key={key!r}: it will then be posted exactly once.") from exc
    if not rows:
        raise ToolError("the database connection was lost before the post was written; nothing was posted "
                        "(checked). Try again shortly.") from lost
    return rows


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
