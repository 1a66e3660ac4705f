"""The campaign's batch against a real channel: many large reads in one small 2025-03-26 request.

Twelve `get_messages(limit=100)` over a channel of 4,000-character messages once built a 9.9 MB reply,
which Lambda cannot return. Now the reply stays within Lambda's response limit and every request in the
batch is answered: with its messages while they fit, then with errors that say what happened.
"""

from __future__ import annotations

import uuid

from mcp_lambda.settings import DEFAULT_MAX_RESPONSE_BYTES, LAMBDA_PAYLOAD_LIMIT
from tests.runtime.lambda_events import FakeContext, response_json, v2_event


def test_twelve_large_reads_fit_in_one_lambda_response(messaging, admin):
    for _ in range(100):
        admin.run("INSERT INTO messages (content, idempotency_key) VALUES (:text, :key)",
                  text="m" * 4000, key=f"batch-{uuid.uuid4()}")
    batch = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
              "params": {"name": "get_messages", "arguments": {"limit": 100}}} for i in range(12)]
    event = v2_event(batch, headers={"mcp-protocol-version": "2025-03-26"})
    response = messaging(event, FakeContext())
    assert response["statusCode"] == 200
    assert len(response["body"].encode()) <= DEFAULT_MAX_RESPONSE_BYTES < LAMBDA_PAYLOAD_LIMIT
    replies = response_json(response)
    assert [r["id"] for r in replies] == list(range(12))
    served = [r for r in replies if "result" in r]
    assert 1 <= len(served) < 12
    assert all(len(r["result"]["structuredContent"]["result"]) == 100 for r in served)
    errors = [r["error"]["message"] for r in replies[len(served):]]
    assert errors[0].startswith("Result too large: the request ran")
    assert all(e.startswith("Not run: the batch's reply is full") for e in errors[1:])
