"""`messages_report` (the reports service) through `LocalServer` and the official SDK client: as a task for a
client that declares the extension (worker thread, its own lifespan and database connection), synchronously
for one that does not, and once for longer than API Gateway's 29 seconds, every HTTP exchange staying short."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_lambda.local.http_server import LocalServer
from mcp_servers import REPORTS
from reports.report import TOP_AUTHORS
from tests.tasks.client import TasksClient

API_GATEWAY_LIMIT = 29


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LocalServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        with LocalServer(port=0, servers=[REPORTS]) as running:
            yield running


@pytest.fixture(scope="module")
def channel(server: LocalServer, database_url: str) -> dict[str, int]:
    """Messages the report must count (the session database holds other tests' too: what the report must say
    is read from it before)."""
    from mcp_lambda.database import DatabaseConfig, connect

    db = connect(DatabaseConfig.from_url(database_url))
    try:
        for i, author in enumerate(["ada@example.com", "ada@example.com", "bob@example.com", None]):
            db.run("INSERT INTO messages (content, author, idempotency_key) VALUES (:c, :a, :k)",
                   c=f"report message {i}", a=author, k=f"report-{time.time_ns()}-{i}")
        (total, anonymous), = db.run("SELECT count(*), count(*) FILTER (WHERE author IS NULL) FROM messages")
        top = db.run("SELECT author, count(*) FROM messages WHERE author IS NOT NULL "
                     "GROUP BY author ORDER BY count(*) DESC, author LIMIT :n", n=TOP_AUTHORS)
    finally:
        db.close()
    return {"messages": total, "anonymous": anonymous, "top_authors": [{"author": a, "messages": n} for a, n in top]}


def report(server: LocalServer, seconds: float, *extensions: Any) -> Any:
    async def scenario() -> Any:
        async with Client(server.url("reports"), mode="2026-07-28", extensions=list(extensions)) as client:
            return await client.call_tool("messages_report", {"seconds": seconds})

    return anyio.run(scenario)


def test_the_report_runs_as_a_task_for_a_client_that_declares_the_extension(server: LocalServer,
                                                                            channel: dict[str, int]) -> None:
    tasks = TasksClient()
    result = report(server, 1, tasks)
    assert result.is_error is False
    assert len(tasks.handles) == 1 and tasks.handles[0].status == "working"
    assert tasks.polls[0].status == "working" and tasks.polls[-1].status == "completed"
    summary = result.structured_content
    assert summary["messages"] == channel["messages"] and summary["anonymous"] == channel["anonymous"]
    assert summary["top_authors"] == channel["top_authors"]


def test_a_client_without_the_extension_gets_the_report_synchronously(server: LocalServer,
                                                                    channel: dict[str, int]) -> None:
    result = report(server, 0)
    assert result.is_error is False and result.structured_content["messages"] == channel["messages"]


@pytest.mark.slow
def test_a_report_longer_than_api_gateways_limit_completes_through_the_task(server: LocalServer,
                                                                          channel: dict[str, int]) -> None:
    tasks = TasksClient(max_poll_seconds=0.5)
    started = time.monotonic()
    result = report(server, API_GATEWAY_LIMIT + 2, tasks)
    elapsed = time.monotonic() - started
    assert result.is_error is False and result.structured_content["messages"] == channel["messages"]
    assert elapsed > API_GATEWAY_LIMIT + 2
    assert tasks.handled_at[0] - started < 5, "the tools/call itself was answered at once, with the task"
    assert len(tasks.polls) > 30, "followed by polling"
    assert max(tasks.poll_seconds) < 5, "no HTTP exchange came near the 29-second limit"
    assert tasks.polls[-1].status == "completed"
