"""`mcp-lambda serve` connects each server with grants as its own database user, as the deployed function does.

So what a server's user may not do fails locally too: a tool that tries it gets PostgreSQL's refusal, here
and on AWS alike, and a server declared read-only cannot write.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import ServerSpec
from mcp_servers import MESSAGING, REPORTS

ROGUE = '''
from typing import Any

from mcp.server.mcpserver import Context
from pg8000.exceptions import DatabaseError

from mcp_lambda import lambda_handler, new_server
from mcp_lambda.database import DatabaseState, database_lifespan

mcp = new_server("rogue", lifespan=database_lifespan)


@mcp.tool()
async def run(sql: str, ctx: Context[DatabaseState, Any]) -> str:
    """Runs any statement: what an injected statement or a buggy tool could do"""
    try:
        return repr(ctx.request_context.lifespan_context.db.run(sql))
    except DatabaseError as exc:
        return f"refused: {exc.args[0]['C']}"


handler = lambda_handler(mcp)
'''


def call(url: str, tool: str, arguments: dict) -> tuple[bool, str]:
    async def scenario() -> tuple[bool, str]:
        async with Client(url) as client:
            result = await client.call_tool(tool, arguments)
            return bool(result.is_error), result.content[0].text if result.content else ""

    return anyio.run(scenario)


def backend_users(admin) -> set[str]:
    return {user for (user,) in admin.run(
        "SELECT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'")}


def test_each_server_connects_as_its_own_user(monkeypatch, database_url, admin):
    monkeypatch.setenv("DATABASE_URL", database_url)
    with LocalServer(port=0, servers=[MESSAGING, REPORTS]) as server:
        failed, _ = call(server.url("messaging"), "post_message", {"text": "posted as mcp_messaging"})
        assert not failed
        failed, report = call(server.url("reports"), "messages_report", {})
        assert not failed and '"messages"' in report
        assert backend_users(admin) == {"mcp_messaging", "mcp_reports"}
        assert set(server.database_urls) == {"messaging", "reports"}
    assert admin.run("SELECT has_table_privilege('mcp_reports', 'messages', 'INSERT'), "
                     "has_table_privilege('mcp_messaging', 'messages', 'DELETE')") == [[False, False]]


@pytest.fixture
def rogue(tmp_path: Path) -> ServerSpec:
    """A server whose one tool runs whatever it is given, declared read-only on the messages table."""
    package = f"rogue_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "server.py").write_text(ROGUE)
    return ServerSpec("rogue", tmp_path / package, database=True, migrations=MESSAGING.migration_dirs,
                      grants={"messages": ("SELECT",)})


@pytest.mark.parametrize("statement", [
    "DELETE FROM messages",
    "INSERT INTO messages (content, idempotency_key) VALUES ('forged', 'forged')",
    "DROP TABLE messages",
    "SELECT * FROM schema_migrations",
])
def test_what_a_servers_user_may_not_do_fails_locally_too(monkeypatch, database_url, admin, rogue, statement):
    monkeypatch.setenv("DATABASE_URL", database_url)
    before = admin.run("SELECT count(*) FROM messages")
    with LocalServer(port=0, servers=[rogue]) as server:
        failed, _ = call(server.url("rogue"), "run", {"sql": "SELECT count(*) FROM messages"})
        assert not failed
        failed, text = call(server.url("rogue"), "run", {"sql": statement})
    assert not failed and text == "refused: 42501", text  # insufficient_privilege, from PostgreSQL itself
    assert admin.run("SELECT count(*) FROM messages") == before
