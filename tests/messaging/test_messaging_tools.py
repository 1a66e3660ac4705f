"""The messaging tools against a real PostgreSQL: behaviour, validation, verbatim storage."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from mcp_lambda.local.http_server import LocalServer
from mcp_servers import MESSAGING
from tests.messaging.helpers import call_tool, error_text, post

PAYLOADS = [
    "'; DROP TABLE messages; --",
    "Robert'); DROP TABLE students;-- ",
    "1 OR 1=1",
    "$$; SELECT pg_sleep(10); $$",
    "\\x00\\' \" ` %s %(text)s :text",
    "héllo wörld — ünïcödé",
    "日本語のメッセージ",
    "emoji 🚀👩🏽‍💻🏳️‍🌈",
    "مرحبا بالعالم",
    "line one\nline two\r\n\ttabbed",
    "e\u0301 combining, \u200b zero-width, \ufeff bom",
    "x" * 4000,
]


def count(admin) -> int:
    return admin.run("SELECT count(*) FROM messages")[0][0]


@pytest.mark.parametrize("text", PAYLOADS, ids=range(len(PAYLOADS)))
def test_text_is_stored_and_read_back_verbatim(messaging, admin, text):
    posted = post(messaging, text)["structuredContent"]
    assert posted["text"] == text
    stored = admin.run("SELECT content FROM messages WHERE id = :id", id=posted["id"])
    assert stored == [[text]]
    latest = call_tool(messaging, "get_messages", {"limit": 1})["structuredContent"]["result"]
    assert latest[0]["text"] == text
    assert admin.run("SELECT to_regclass('messages') IS NOT NULL")[0][0] is True


@pytest.mark.parametrize(
    "text, message",
    [("", "empty"), ("   \n\t", "empty"), ("x" * 4001, "limit is 4000"), ("nul \x00 byte", "NUL")],
    ids=["empty", "blank", "too-long", "nul"],
)
def test_invalid_text_is_a_clear_tool_error_and_writes_nothing(messaging, admin, text, message):
    before = count(admin)
    assert message in error_text(post(messaging, text))
    assert count(admin) == before


def test_get_messages_returns_the_latest_first_with_a_limit(messaging):
    ids = [post(messaging, f"ordered {i}")["structuredContent"]["id"] for i in range(5)]
    latest = call_tool(messaging, "get_messages", {"limit": 3})["structuredContent"]["result"]
    assert [m["id"] for m in latest] == ids[::-1][:3]
    assert [m["text"] for m in latest] == ["ordered 4", "ordered 3", "ordered 2"]
    default = call_tool(messaging, "get_messages", {})["structuredContent"]["result"]
    assert len(default) == min(10, len(default)) and default[0]["id"] == ids[-1]


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_out_of_range_limits_are_rejected(messaging, limit):
    assert "limit" in error_text(call_tool(messaging, "get_messages", {"limit": limit}))


def test_the_same_idempotency_key_posts_once(messaging, admin):
    first = post(messaging, "once", idempotency_key="client-key-1")["structuredContent"]
    again = post(messaging, "once", idempotency_key="client-key-1")["structuredContent"]
    assert (again["id"], again["duplicate"], first["duplicate"]) == (first["id"], True, False)
    assert admin.run("SELECT count(*) FROM messages WHERE idempotency_key = 'client-key-1'") == [[1]]
    assert "different message" in error_text(post(messaging, "other", idempotency_key="client-key-1"))


def test_tools_declare_typed_documented_arguments_and_structured_output(messaging):
    from tests.runtime.lambda_events import FakeContext, response_json, v2_event

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    tools = {t["name"]: t for t in response_json(messaging(v2_event(body, headers={}), FakeContext()))["result"]["tools"]}
    post_schema = tools["post_message"]["inputSchema"]
    assert post_schema["required"] == ["text"]
    assert "4000" in post_schema["properties"]["text"]["description"]
    assert tools["post_message"]["description"] == "Post new message to public channel"
    assert set(tools["post_message"]["outputSchema"]["properties"]) >= {"id", "text", "created_at", "duplicate"}
    assert tools["get_messages"]["inputSchema"]["properties"]["limit"]["maximum"] == 100


def test_through_the_sdk_client_over_http(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)

    async def scenario(url):
        async with Client(url) as client:
            posted = await client.call_tool("post_message", {"text": "over http"})
            read = await client.call_tool("get_messages", {"limit": 1})
            return posted, read

    with LocalServer(port=0, servers=[MESSAGING]) as server:
        posted, read = anyio.run(scenario, server.url("messaging"))
    assert posted.is_error is False
    assert posted.structured_content["text"] == "over http"
    assert read.structured_content["result"][0]["id"] == posted.structured_content["id"]
