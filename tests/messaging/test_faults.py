"""Database faults: the next call succeeds, and no message is lost or written twice.

Faults are made on the real server: `pg_terminate_backend` on the function's own backend (what an idle
timeout, a failover or a restart does to a frozen environment's connection), table locks that hold a
write while its connection is killed, and a statement timeout.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mcp_lambda.database import DatabaseConfig
from tests.messaging.helpers import call_tool, error_text, post

ROOT = Path(__file__).resolve().parents[2]


def backends(admin) -> list[int]:
    """The function's backends: every other connection to the test database."""
    return [row[0] for row in admin.run(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'")]


def kill_function_connections(admin) -> int:
    pids = backends(admin)
    for pid in pids:
        admin.run("SELECT pg_terminate_backend(:pid)", pid=pid)
    return len(pids)


def rows_with(admin, text: str) -> int:
    return admin.run("SELECT count(*) FROM messages WHERE content = :text", text=text)[0][0]


def test_connection_killed_between_requests_is_replaced(messaging, admin):
    post(messaging, "before the kill")
    assert kill_function_connections(admin) == 1
    posted = post(messaging, "after the kill")
    assert posted["isError"] is False
    assert rows_with(admin, "after the kill") == 1
    latest = call_tool(messaging, "get_messages", {"limit": 2})["structuredContent"]["result"]
    assert [m["text"] for m in latest] == ["after the kill", "before the kill"]


def test_connection_killed_during_a_write_writes_exactly_once(messaging, admin):
    post(messaging, "warm up")  # the function holds its connection now
    admin.run("BEGIN")
    admin.run("LOCK TABLE messages IN EXCLUSIVE MODE")  # the function's INSERT will wait on this
    result: dict = {}
    writer = threading.Thread(target=lambda: result.update(post(messaging, "written during the kill")))
    writer.start()
    deadline = time.monotonic() + 10
    waiting: list = []
    while not waiting and time.monotonic() < deadline:
        waiting = admin.run("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND datname = current_database()")
        time.sleep(0.02)
    assert waiting, "the function's INSERT should be waiting on the lock"
    admin.run("SELECT pg_terminate_backend(:pid)", pid=waiting[0][0])
    admin.run("COMMIT")
    writer.join(timeout=30)
    assert result and result["isError"] is False, result
    assert rows_with(admin, "written during the kill") == 1


def test_repeated_kills_across_many_posts_lose_and_duplicate_nothing(messaging, admin):
    texts = [f"churn {i}" for i in range(20)]
    for i, text in enumerate(texts):
        if i % 3 == 0:
            kill_function_connections(admin)
        assert post(messaging, text)["isError"] is False
    stored = [r[0] for r in admin.run("SELECT content FROM messages WHERE content LIKE 'churn %' ORDER BY id")]
    assert stored == texts


def test_statement_timeout_is_a_tool_error_and_writes_nothing(messaging_url, admin, monkeypatch):
    from mcp_lambda import McpLambdaRuntime
    from messaging.server import mcp

    monkeypatch.setenv("DATABASE_URL", messaging_url)
    monkeypatch.setenv("MCP_DB_STATEMENT_TIMEOUT_MS", "300")
    handler = McpLambdaRuntime(mcp)
    try:
        post(handler, "connect first")
        admin.run("BEGIN")
        admin.run("LOCK TABLE messages IN EXCLUSIVE MODE")
        started = time.monotonic()
        message = error_text(post(handler, "too slow"))
        elapsed = time.monotonic() - started
        admin.run("COMMIT")
        assert "took too long" in message and "nothing was posted" in message
        assert elapsed < 5
        assert rows_with(admin, "too slow") == 0
        assert post(handler, "fine again")["isError"] is False
    finally:
        handler.close()


def test_unreachable_database_is_a_clear_tool_error_and_other_methods_still_work(monkeypatch):
    from mcp_lambda import McpLambdaRuntime
    from messaging.server import mcp
    from tests.runtime.lambda_events import FakeContext, response_json, v2_event

    # A port nothing listens on: the connection is refused at once.
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    handler = McpLambdaRuntime(mcp)
    try:
        listed = response_json(handler(v2_event({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={}),
                                       FakeContext()))
        assert {t["name"] for t in listed["result"]["tools"]} == {"post_message", "get_messages"}
        message = error_text(post(handler, "nowhere to go"))
        assert "database is unavailable" in message and "nothing was posted" in message
        assert "9" not in message.split("unavailable")[0], "no connection details reach the client"
        assert "unavailable" in error_text(call_tool(handler, "get_messages", {}))
    finally:
        handler.close()


def test_database_url_parsing():
    tcp = DatabaseConfig.from_url("postgresql://app:p%40ss@db.example:6543/msgs?sslmode=require")
    assert (tcp.host, tcp.port, tcp.database, tcp.user, tcp.password, tcp.tls) == (
        "db.example", 6543, "msgs", "app", "p@ss", True)
    socket = DatabaseConfig.from_url("postgresql://postgres@/postgres?host=/tmp/pg")
    assert (socket.host, socket.unix_sock, socket.tls) == (None, "/tmp/pg/.s.PGSQL.5432", False)
    aws = DatabaseConfig.from_env({"MCP_DB_HOST": "proxy.example", "MCP_DB_NAME": "mcp", "MCP_DB_USER": "mcp_admin",
                                   "MCP_DB_IAM_AUTH": "true", "AWS_REGION": "eu-west-1"})
    assert (aws.host, aws.port, aws.iam_auth, aws.tls, aws.region) == ("proxy.example", 5432, True, True, "eu-west-1")


@pytest.mark.parametrize("env, message", [
    ({"MCP_DB_HOST": "proxy.example", "MCP_DB_IAM_AUTH": "true", "MCP_DB_SECRET_ARN": "arn:aws:secretsmanager:x"},
     "two ways to sign in"),
    ({"MCP_DB_NAME": "mcp"}, "no database configured"),
], ids=["iam-and-secret", "no-host"])
def test_a_database_configuration_that_cannot_work_as_set_is_refused(env, message):
    """Both an IAM token and a secret: one would be silently ignored (the secret, behind RDS Proxy's required
    IAM authentication), so the reader refuses it instead."""
    with pytest.raises(ValueError, match=message):
        DatabaseConfig.from_env(env)


def test_migrations_wait_for_a_database_that_is_not_ready_yet(monkeypatch, database_url):
    """The deploy-time migration retries with backoff, then applies (idempotently) once the database answers."""
    from mcp_lambda import migrations

    attempts: list[int] = []
    real_connect = migrations.connect

    def flaky(config):
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("connection refused (target still registering)")
        return real_connect(config)

    monkeypatch.setattr(migrations, "connect", flaky)
    monkeypatch.setattr(migrations.time, "sleep", lambda seconds: None)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MCP_MIGRATIONS_DIR", "servers/messaging/migrations")
    monkeypatch.chdir(ROOT)
    result = migrations.handler({"RequestType": "Create"}, None)
    assert len(attempts) == 3
    assert result == {"PhysicalResourceId": "schema-migrations", "Data": {"Applied": "none"}}
    assert migrations.handler({"RequestType": "Delete", "PhysicalResourceId": "p"}, None) == {"PhysicalResourceId": "p"}
