"""Least privilege per tool: messaging's post_message on a function whose database user may only INSERT, and
get_messages on one whose user may only SELECT, behind the one endpoint, against the real PostgreSQL.

Both tools work through the front; each tool function's own user is refused what the other tool does.
"""

from __future__ import annotations

import pg8000.native
import pytest

from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import ToolPlacement
from mcp_servers import MESSAGING
from tests.placement.conftest import call, placed

INSUFFICIENT_PRIVILEGE = "42501"
LEAST = placed(MESSAGING, ToolPlacement("post_message", grants={"messages": ("INSERT",)}),
               ToolPlacement("get_messages", grants={"messages": ("SELECT",)}))


def refused(url: str, sql: str) -> str:
    connection = connect(DatabaseConfig.from_url(url))
    try:
        with pytest.raises(pg8000.native.DatabaseError) as raised:
            connection.run(sql)
        return raised.value.args[0]["C"]
    finally:
        connection.close()


def test_post_inserts_only_and_get_selects_only(fresh_database):
    fresh_database()
    with LocalServer(port=0, servers=[LEAST]) as server:
        assert LEAST.placement_user(LEAST.placements[0]) == "mcp_messaging_post_message"
        front = server.functions["messaging"].invoke
        status, body = call(front, "post_message", {"text": "posted by a user that cannot read"})
        assert status == 200 and body["result"]["isError"] is False, body
        posted = body["result"]["structuredContent"]
        assert posted["text"] == "posted by a user that cannot read" and posted["duplicate"] is False
        status, body = call(front, "get_messages", {"limit": 5})
        assert [m["id"] for m in body["result"]["structuredContent"]["result"]] == [posted["id"]]

        post_url = server.database_urls["messaging-post-message"]
        get_url = server.database_urls["messaging-get-messages"]
        assert "mcp_messaging_post_message" in post_url and "mcp_messaging_get_messages" in get_url
        assert refused(post_url, "SELECT content FROM messages") == INSUFFICIENT_PRIVILEGE
        assert refused(get_url, "INSERT INTO messages (content, idempotency_key) VALUES ('x', 'x')") == \
            INSUFFICIENT_PRIVILEGE
        assert refused(get_url, "DELETE FROM messages") == INSUFFICIENT_PRIVILEGE

        # What the insert-only user cannot do is a clear tool error: reading back an earlier post with the same key.
        call(front, "post_message", {"text": "once", "idempotency_key": "k"})
        status, body = call(front, "post_message", {"text": "once", "idempotency_key": "k"})
        assert body["result"]["content"][0]["text"] == (
            "Error executing tool post_message: this idempotency_key was posted before; nothing new was written, "
            "and this server may not read posts back to show the earlier one")
