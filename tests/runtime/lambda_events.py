"""Lambda HTTP events as AWS documents them, for in-process handler tests.

Shapes follow https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html (payload 2.0) and
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html (1.0).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

DOMAIN = "abcdefg.lambda-url.us-east-1.on.aws"
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@dataclass
class FakeContext:
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_name: str = "mcp-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mcp-test:live"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _encode(body: Any, base64_body: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    raw = raw.encode() if isinstance(raw, str) else raw
    if base64_body:
        return base64.b64encode(raw).decode(), True
    return raw.decode(), False


def v2_event(body: Any = None, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/mcp",
             base64_body: bool = False) -> dict[str, Any]:
    """A Function URL / HTTP API event (payload format 2.0)."""
    all_headers = {"host": DOMAIN, **JSON_HEADERS, **(headers or {})}
    encoded, is_b64 = _encode(body, base64_body)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k: v for k, v in all_headers.items() if v is not None},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefg",
            "domainName": DOMAIN,
            "domainPrefix": "abcdefg",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "test"},
            "requestId": "req-2",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:04:00:00 +0000",
            "timeEpoch": 1795665600000,
        },
        "body": encoded,
        "isBase64Encoded": is_b64,
    }


def v1_event(body: Any = None, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/mcp",
             base64_body: bool = False) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload format 1.0), headers as API Gateway capitalises them."""
    all_headers = {"Host": DOMAIN, "Content-Type": JSON_HEADERS["content-type"], "Accept": JSON_HEADERS["accept"]}
    for name, value in (headers or {}).items():
        all_headers = {k: v for k, v in all_headers.items() if k.lower() != name.lower()}
        all_headers[name.title()] = value
    all_headers = {k: v for k, v in all_headers.items() if v is not None}
    encoded, is_b64 = _encode(body, base64_body)
    return {
        "resource": "/mcp",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefg",
            "domainName": DOMAIN,
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7"},
            "path": f"/prod{path}",
            "requestId": "req-1",
            "resourcePath": "/mcp",
            "stage": "prod",
        },
        "body": encoded,
        "isBase64Encoded": is_b64,
    }


EVENT_SHAPES = {"payload-2.0": v2_event, "payload-1.0": v1_event}


def response_headers(response: dict[str, Any]) -> dict[str, str]:
    """Headers of a handler response in either shape, names in lower case."""
    if "multiValueHeaders" in response:
        return {k.lower(): ", ".join(v) for k, v in response["multiValueHeaders"].items()}
    return {k.lower(): v for k, v in response.get("headers", {}).items()}


def response_json(response: dict[str, Any]) -> Any:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)
