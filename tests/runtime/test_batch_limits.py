"""A 2025-03-26 batch stays within one Lambda invocation: its items, its reply and its time are bounded.

Each test checks what ran (the sample server's `remember` tool records its calls) as well as what was
answered: an item is either run and answered, or answered "Not run"; never run and left unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mcp_lambda.settings import DEFAULT_MAX_BATCH_ITEMS, RuntimeSettings
from tests.runtime.lambda_events import EVENT_SHAPES, FakeContext, response_json

BATCH = {"mcp-protocol-version": "2025-03-26"}


def call(name: str, request_id: int, **arguments) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


@pytest.fixture
def server(request):
    from tests.runtime.sample_server import build

    _, probe, handler = build(getattr(request, "param", None))
    yield handler, probe
    handler.close()


def send(handler, batch, context=None, shape="payload-2.0"):
    return handler(EVENT_SHAPES[shape](body=batch, headers=BATCH), context or FakeContext())


@pytest.mark.parametrize("shape", EVENT_SHAPES)
def test_a_batch_over_the_item_limit_is_refused_whole_before_anything_runs(server, shape):
    handler, probe = server
    batch = [call("remember", i, text=str(i)) for i in range(DEFAULT_MAX_BATCH_ITEMS + 1)]
    response = send(handler, batch, shape=shape)
    assert response["statusCode"] == 400
    reply = response_json(response)
    assert reply["error"]["code"] == -32600 and str(DEFAULT_MAX_BATCH_ITEMS) in reply["error"]["message"]
    assert probe.seen == []


def test_a_batch_at_the_item_limit_is_served(server):
    handler, probe = server
    batch = [call("remember", i, text=str(i)) for i in range(DEFAULT_MAX_BATCH_ITEMS)]
    replies = response_json(send(handler, batch))
    assert [r["id"] for r in replies] == list(range(DEFAULT_MAX_BATCH_ITEMS))
    assert probe.seen == [str(i) for i in range(DEFAULT_MAX_BATCH_ITEMS)]


@pytest.mark.parametrize("server", [RuntimeSettings(max_response_bytes=12_000)], indirect=True)
def test_the_combined_reply_stays_within_the_limit_and_every_request_is_answered(server):
    handler, probe = server
    batch = [call("big", i, size=1_500) for i in range(1, 6)]
    batch.insert(4, call("remember", 99, text="after the reply is full"))
    batch.append({"jsonrpc": "2.0", "method": "notifications/initialized"})
    response = send(handler, batch)
    assert response["statusCode"] == 200
    assert len(response["body"].encode()) <= 12_000
    replies = response_json(response)
    assert [r["id"] for r in replies] == [1, 2, 3, 4, 99, 5]
    served = [r for r in replies if "result" in r]
    assert len(served) == 3 and all(len(r["result"]["content"][0]["text"]) == 1_500 for r in served)
    overflow = replies[3]["error"]
    assert overflow["code"] == -32603 and overflow["message"].startswith("Result too large: the request ran")
    for reply in replies[4:]:
        assert reply["error"]["message"].startswith("Not run: the batch's reply is full")
    assert probe.seen == []  # the item after the overflow did not run


@pytest.mark.parametrize("server", [RuntimeSettings(max_response_bytes=600)], indirect=True)
def test_a_batch_whose_errors_alone_could_not_fit_is_refused_before_anything_runs(server):
    handler, probe = server
    response = send(handler, [call("remember", i, text="x") for i in range(4)])
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["code"] == -32600
    assert probe.seen == []


@dataclass
class ShrinkingContext(FakeContext):
    """Remaining time that drops by `per_call_ms` for every call the probe saw run."""

    probe: object = None
    start_ms: int = 5_000
    per_call_ms: int = 1_500

    def get_remaining_time_in_millis(self) -> int:
        return self.start_ms - self.per_call_ms * len(self.probe.seen)


@pytest.mark.parametrize("server", [RuntimeSettings(batch_time_reserve_ms=2_500)], indirect=True)
def test_no_item_starts_when_the_invocation_runs_low_on_time(server):
    handler, probe = server
    batch = [call("remember", i, text=str(i)) for i in range(4)]
    batch.insert(1, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    replies = response_json(send(handler, batch, ShrinkingContext(probe=probe)))
    assert probe.seen == ["0", "1"]  # 5,000 and 3,500 ms left: run; 2,000 ms: below the reserve
    assert [r["id"] for r in replies] == [0, 1, 2, 3]
    assert [r["result"]["content"][0]["text"] for r in replies[:2]] == ["0", "1"]
    for reply in replies[2:]:
        assert reply["error"] == {"code": -32603, "message":
                                  "Not run: the invocation ran out of time for the rest of the batch; send this request again"}


@pytest.mark.parametrize("server", [RuntimeSettings(batch_time_reserve_ms=1_000)], indirect=True)
def test_the_longest_item_so_far_counts_against_the_remaining_time(server):
    handler, probe = server
    context = ShrinkingContext(probe=probe, start_ms=1_200, per_call_ms=0)
    batch = [call("remember", 1, text="slow", seconds=0.3), call("remember", 2, text="next")]
    replies = response_json(send(handler, batch, context))
    assert probe.seen == ["slow"]  # 1,200 ms left < 1,000 ms reserve + the 300 ms the first item took
    assert replies[1]["error"]["message"].startswith("Not run: the invocation ran out of time")


def test_settings_are_read_from_the_environment():
    settings = RuntimeSettings.from_env({"MCP_MAX_BATCH_ITEMS": "3", "MCP_BATCH_TIME_RESERVE_MS": "250"})
    assert (settings.max_batch_items, settings.batch_time_reserve_ms) == (3, 250)
