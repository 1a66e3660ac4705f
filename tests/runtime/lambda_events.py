"""Lambda HTTP events and contexts for in-process handler tests: the local server's builders
(mcp_lambda.local.events, shapes as AWS documents them), with the tests' defaults: a Function URL domain,
JSON bodies, the MCP headers a client sends.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from mcp_lambda.local.events import LambdaContext, function_url_event, rest_api_event

DOMAIN = "abcdefg.lambda-url.us-east-1.on.aws"
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
SOURCE_IP = "203.0.113.7"


@dataclass
class FakeContext(LambdaContext):
    """A context with a fixed request id (log lines compare equal across runs)."""

    function_name: str = "mcp-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mcp-test:live"


def _raw(body: Any) -> bytes | str | None:
    return body if body is None or isinstance(body, (str, bytes)) else json.dumps(body)


def v2_event(body: Any = None, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/mcp",
             base64_body: bool = False) -> dict[str, Any]:
    """A Function URL / HTTP API event (payload format 2.0); a header given as None is left out."""
    all_headers = {"host": DOMAIN, **JSON_HEADERS, **(headers or {})}
    return function_url_event(method, path, headers=all_headers, body=_raw(body), base64_body=base64_body,
                              source_ip=SOURCE_IP, domain_name=DOMAIN, request_id="req-2")


def v1_event(body: Any = None, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/mcp",
             base64_body: bool = False) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload format 1.0), headers as API Gateway capitalises them."""
    all_headers = {"Host": DOMAIN, "Content-Type": JSON_HEADERS["content-type"], "Accept": JSON_HEADERS["accept"]}
    for name, value in (headers or {}).items():
        all_headers = {k: v for k, v in all_headers.items() if k.lower() != name.lower()}
        all_headers[name.title()] = value
    return rest_api_event(method, path, headers=all_headers, body=_raw(body), base64_body=base64_body,
                          source_ip=SOURCE_IP, domain_name=DOMAIN, stage="prod", request_id="req-1")


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
