"""A post without an idempotency key gets one derived from its request: a resend of the same request (same
requester, JSON-RPC id and text) is the same post, and nothing else is. Every session numbers its requests
from the start, so two anonymous callers posting the same first message must stay two posts."""

from __future__ import annotations

import json
import uuid

from mcp_lambda.local.events import function_url_event
from tests.messaging.helpers import LEGACY
from tests.runtime.lambda_events import DOMAIN, FakeContext, response_json


def post(handler, text: str, *, source_ip: str, request_id: int = 1) -> dict:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": "post_message", "arguments": {"text": text}}}
    event = function_url_event("POST", "/mcp", body=json.dumps(body).encode(), source_ip=source_ip,
                               domain_name=DOMAIN, headers={"host": DOMAIN, "content-type": "application/json",
                                                            "accept": "application/json, text/event-stream", **LEGACY})
    response = handler(event, FakeContext())
    assert response["statusCode"] == 200, response
    result = response_json(response)["result"]
    assert result["isError"] is False, result
    return result["structuredContent"]


def test_the_same_request_from_the_same_address_is_one_post(messaging):
    text = f"resent {uuid.uuid4()}"
    first = post(messaging, text, source_ip="198.51.100.1")
    again = post(messaging, text, source_ip="198.51.100.1")
    assert (again["id"], again["duplicate"]) == (first["id"], True)


def test_the_same_first_message_from_two_addresses_is_two_posts(messaging):
    text = f"good morning {uuid.uuid4()}"
    mine = post(messaging, text, source_ip="198.51.100.1")
    theirs = post(messaging, text, source_ip="198.51.100.2")
    assert theirs["id"] != mine["id"] and theirs["duplicate"] is False


def test_another_request_of_the_same_session_is_another_post(messaging):
    text = f"twice on purpose {uuid.uuid4()}"
    first = post(messaging, text, source_ip="198.51.100.1", request_id=1)
    second = post(messaging, text, source_ip="198.51.100.1", request_id=2)
    assert second["id"] != first["id"] and second["duplicate"] is False
