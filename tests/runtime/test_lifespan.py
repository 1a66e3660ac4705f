"""The lifespan runs once per execution environment, is exited on shutdown, and recovers from a failed start."""

from __future__ import annotations

from tests.runtime.lambda_events import FakeContext, response_json, v2_event
from tests.runtime.sample_server import build

LEGACY = {"mcp-protocol-version": "2025-06-18"}


def call(handler, name, arguments=None, request_id=1):
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments or {}}}
    return handler(v2_event(body, headers=LEGACY), FakeContext())


def test_lifespan_is_entered_once_for_many_invocations_and_exited_on_close():
    _, probe, handler = build()
    assert probe.entered == 0, "nothing starts at import or construction"
    for i in range(25):
        reply = response_json(call(handler, "lifespan_count", request_id=i))
        assert reply["result"]["structuredContent"]["result"] == 1
    assert (probe.entered, probe.exited) == (1, 0)
    handler.close()
    assert (probe.entered, probe.exited) == (1, 1)
    handler.close()
    assert probe.exited == 1


def test_refused_requests_do_not_start_the_lifespan():
    _, probe, handler = build()
    response = handler(v2_event(None, headers=LEGACY, method="GET"), FakeContext())
    assert response["statusCode"] == 405
    assert probe.entered == 0
    handler.close()


def test_a_failed_start_answers_503_and_the_next_invocation_retries():
    _, probe, handler = build()
    probe.fail_next_starts = 1
    first = call(handler, "echo", {"text": "a"})
    assert first["statusCode"] == 503
    assert response_json(first)["error"]["code"] == -32603
    assert "database" not in first["body"], "the cause is logged, not sent"
    second = response_json(call(handler, "echo", {"text": "b"}))
    assert second["result"]["content"][0]["text"] == "b"
    assert probe.entered == 1
    handler.close()
    assert probe.exited == 1
