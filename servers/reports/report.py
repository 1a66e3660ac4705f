"""A summary of the whole message channel (the messaging server's `messages` table), read-only."""

from __future__ import annotations

from datetime import datetime

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from mcp_lambda.database import Database, DatabaseUnavailable, StatementTimeout

TOP_AUTHORS = 5


class AuthorCount(BaseModel):
    author: str
    messages: int


class MessagesReport(BaseModel):
    messages: int = Field(description="How many messages the channel holds.")
    authors: int = Field(description="How many distinct known authors posted.")
    anonymous: int = Field(description="Messages posted without a known author.")
    first_at: datetime | None = Field(description="When the first message was posted.")
    last_at: datetime | None = Field(description="When the latest message was posted.")
    average_length: float = Field(description="Average message length in characters.")
    top_authors: list[AuthorCount] = Field(description=f"The {TOP_AUTHORS} most prolific known authors.")


def summarise(db: Database) -> MessagesReport:
    try:
        (total, authors, anonymous, first_at, last_at, average), = db.run(
            "SELECT count(*), count(DISTINCT author), count(*) FILTER (WHERE author IS NULL), min(created_at), "
            "max(created_at), coalesce(avg(length(content)), 0)::float8 FROM messages"
        )
        top = db.run(
            "SELECT author, count(*) FROM messages WHERE author IS NOT NULL "
            "GROUP BY author ORDER BY count(*) DESC, author LIMIT :n", n=TOP_AUTHORS,
        )
    except DatabaseUnavailable as exc:
        raise ToolError("the database is unavailable right now; try again shortly") from exc
    except StatementTimeout as exc:
        raise ToolError("the database took too long to summarise the channel") from exc
    return MessagesReport(
        messages=total, authors=authors, anonymous=anonymous, first_at=first_at, last_at=last_at,
        average_length=round(average, 1), top_authors=[AuthorCount(author=a, messages=n) for a, n in top],
    )
