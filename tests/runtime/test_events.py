"""Payload 1.0 and 2.0 events in, the matching response shape out (given/when/then)."""

from __future__ import annotations

import base64

import pytest

from mcp_lambda.events import EventFormatError, HttpResponse, parse_event, to_lambda_response
from tests.runtime.lambda_events import DOMAIN, v1_event, v2_event


def test_v2_event_is_read_with_trimmed_headers_and_cookies():
    event = v2_event({"a": 1}, headers={"mcp-protocol-version": "  2025-06-18\t"})
    event["cookies"] = ["a=1", "b=2"]
    request = parse_event(event)
    assert request.payload_format == "2.0"
    assert (request.method, request.path, request.domain_name) == ("POST", "/mcp", DOMAIN)
    assert request.header("mcp-protocol-version") == "2025-06-18"
    assert [v for k, v in request.headers if k == "cookie"] == ["a=1", "b=2"]
    assert request.body == b'{"a": 1}'


def test_v1_event_keeps_repeated_headers_and_lowercases_names():
    event = v1_event("{}")
    event["multiValueHeaders"]["X-Forwarded-For"] = ["198.51.100.1", "203.0.113.7"]
    event["multiValueQueryStringParameters"] = {"q": ["1", "2"]}
    request = parse_event(event)
    assert request.payload_format == "1.0"
    assert [v for k, v in request.headers if k == "x-forwarded-for"] == ["198.51.100.1", "203.0.113.7"]
    assert request.header("host") == DOMAIN
    assert request.query_string == "q=1&q=2"
    assert request.source_ip == "203.0.113.7"


@pytest.mark.parametrize("make", [v1_event, v2_event])
def test_base64_bodies_are_decoded(make):
    request = parse_event(make({"jsonrpc": "2.0"}, base64_body=True))
    assert request.body == b'{"jsonrpc": "2.0"}'
    assert not request.body_decode_error


def test_invalid_base64_is_flagged_not_raised():
    event = v2_event("x")
    event.update(body="%%%not-base64", isBase64Encoded=True)
    assert parse_event(event).body_decode_error


@pytest.mark.parametrize("event", [{"Records": []}, [], "text", {"version": "2.0"}])
def test_non_http_events_are_refused(event):
    with pytest.raises(EventFormatError):
        parse_event(event)


def test_v2_response_joins_headers_and_moves_cookies():
    response = HttpResponse(200, [("content-type", "application/json"), ("vary", "a"), ("vary", "b"),
                                  ("set-cookie", "s=1"), ("content-length", "2")], b"{}")
    shaped = to_lambda_response(response, "2.0")
    assert shaped == {"statusCode": 200, "headers": {"content-type": "application/json", "vary": "a, b"},
                      "cookies": ["s=1"], "body": "{}", "isBase64Encoded": False}


def test_v1_response_uses_multi_value_headers_and_base64_for_binary():
    response = HttpResponse(200, [("content-type", "image/png")], b"\x89PNG")
    shaped = to_lambda_response(response, "1.0")
    assert shaped["multiValueHeaders"] == {"content-type": ["image/png"]}
    assert shaped["isBase64Encoded"] is True
    assert base64.b64decode(shaped["body"]) == b"\x89PNG"
