"""The truth after a lost reply, and answers within the function's time, through a fault proxy in front of the
real PostgreSQL (tests/messaging/fault_proxy.py).

- The reply to a committed INSERT is lost and the database then refuses connections: the post is reported as
  not known, with the key to post again with (never "nothing was posted"); posting again with it, or a
  client resending the same request without a key, leaves exactly one row.
- The reply is lost but the database is back at once: the post is reported as posted, by this call.
- Nothing was sent (no connection could be made): "nothing was posted" is then true, and said.
- A database that stops answering (black hole) with 4 seconds left in the invocation: the tool answers
  before the invocation's deadline, with an error that says the time ran out.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest

from tests.messaging.fault_proxy import FaultProxy
from tests.messaging.helpers import LEGACY, error_text
from tests.runtime.lambda_events import FakeContext, response_json, v2_event


@pytest.fixture
def proxy(messaging_url):
    running = FaultProxy(messaging_url)
    yield running
    running.close()


@pytest.fixture
def messaging(proxy, messaging_url, monkeypatch):
    """The messaging function, as its own database user, reaching its database through the proxy."""
    from mcp_lambda import McpLambdaRuntime
    from messaging.server import mcp

    monkeypatch.setenv("DATABASE_URL", proxy.url_for(messaging_url))
    runtime = McpLambdaRuntime(mcp)
    yield runtime
    runtime.close()


@dataclass
class ShortContext(FakeContext):
    """An invocation with little time left."""

    timeout_seconds: float = 4


def post(handler, text: str, *, request_id: int | str = 1, context: FakeContext | None = None, **arguments):
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": "post_message", "arguments": {"text": text, **arguments}}}
    response = handler(v2_event(body, headers=LEGACY), context or FakeContext())
    assert response["statusCode"] == 200, response
    return response_json(response)["result"]


def rows(admin, text: str) -> int:
    return admin.run("SELECT count(*) FROM messages WHERE content = :text", text=text)[0][0]


def test_a_lost_reply_then_no_database_is_reported_as_not_known_and_the_retry_posts_once(messaging, proxy, admin):
    assert post(messaging, "warm up")["isError"] is False
    text = f"lost reply {uuid.uuid4().hex[:8]}"
    proxy.mode, proxy.after_drop = "drop_next_reply", "refuse"

    result = post(messaging, text, request_id=41)

    message = error_text(result)
    assert "not known" in message and "nothing was posted" not in message
    assert proxy.dropped == 1 and rows(admin, text) == 1, "the INSERT committed; only its reply was lost"
    key = re.search(r"idempotency_key='([^']+)'", message).group(1)
    proxy.mode = "pass"
    again = post(messaging, text, request_id=42, idempotency_key=key)
    assert again["isError"] is False and again["structuredContent"]["duplicate"] is True
    resent = post(messaging, text, request_id=41)  # the same request, resent without a key
    assert resent["isError"] is False and resent["structuredContent"]["duplicate"] is True
    assert rows(admin, text) == 1


def test_a_lost_reply_with_the_database_back_is_reported_as_posted(messaging, proxy, admin):
    assert post(messaging, "warm up")["isError"] is False
    text = f"reply lost, then back {uuid.uuid4().hex[:8]}"
    proxy.mode, proxy.after_drop = "drop_next_reply", "pass"

    result = post(messaging, text)

    assert result["isError"] is False, result
    assert result["structuredContent"]["duplicate"] is False, "this call wrote it"
    assert proxy.dropped == 1 and rows(admin, text) == 1


def test_nothing_sent_is_reported_as_nothing_posted(messaging, proxy, admin):
    proxy.mode = "refuse"
    text = f"never sent {uuid.uuid4().hex[:8]}"
    assert "nothing was posted" in error_text(post(messaging, text))
    assert rows(admin, text) == 0


@pytest.mark.timeout(30)
def test_a_database_that_stops_answering_is_an_error_within_the_invocations_time(messaging, proxy, admin):
    assert post(messaging, "warm up")["isError"] is False
    proxy.mode = "blackhole"
    context = ShortContext()

    result = post(messaging, f"into the void {uuid.uuid4().hex[:8]}", context=context)

    assert context.get_remaining_time_in_millis() > 0, "answered before the invocation's deadline"
    assert "time ran out" in error_text(result)


@pytest.mark.timeout(30)
def test_connecting_to_a_database_that_never_answers_ends_within_the_invocations_time(messaging, proxy):
    proxy.mode = "blackhole"
    context = ShortContext()
    reply = messaging(v2_event({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                "params": {"name": "get_messages", "arguments": {}}}, headers=LEGACY), context)
    assert context.get_remaining_time_in_millis() > 0
    assert response_json(reply)["result"]["isError"] is True
