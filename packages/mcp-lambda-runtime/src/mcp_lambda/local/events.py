"""Lambda's side of an invocation, built locally: the context object and the HTTP events, as AWS documents them.

The local server hands every request to a handler as the event Lambda would build for a Function URL, and
the tests build their events and contexts here too, so both speak the one shape the runtime is written for:
payload format 2.0 (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html) and, for API Gateway
REST APIs, payload format 1.0
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The domain a local "Function URL" claims; requests must still name an allowed Host.
LOCAL_DOMAIN = "localhost.lambda-url.local"

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass
class LambdaContext:
    """The attributes and method of Lambda's context object that handlers and Powertools read.

    The remaining time counts down from `timeout_seconds` as on Lambda, from the moment the context is made.
    """

    function_name: str = "mcp-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 1024
    timeout_seconds: float = 30
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}:live"
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_seconds - time.monotonic()) * 1000))


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), str(value)) for name, value in items if value is not None]


def _body(body: bytes | str | None, encode: bool) -> tuple[str | None, bool]:
    if body is None or body == b"":
        return None, False
    if isinstance(body, str) and not encode:
        return body, False  # as given, even text no client could send (a test's lone surrogate)
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if encode:
        return base64.b64encode(raw).decode(), True
    return raw.decode("utf-8", "surrogateescape"), False


def function_url_event(
    method: str = "POST",
    path: str = "/mcp",
    *,
    query: str = "",
    headers: Headers = (),
    body: bytes | str | None = None,
    base64_body: bool = True,
    source_ip: str = "127.0.0.1",
    domain_name: str = LOCAL_DOMAIN,
    request_id: str | None = None,
    iam_caller: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event Lambda builds for a Function URL request (payload format 2.0).

    Repeated headers are joined with commas and `Cookie` becomes the `cookies` list, as Lambda does;
    header names are lower-cased. `iam_caller` is the signer's identity an ``AWS_IAM`` URL adds as
    ``requestContext.authorizer.iam``.
    """
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in _pairs(headers):
        name = name.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif name in joined:
            joined[name] = f"{joined[name]},{value}"
        else:
            joined[name] = value
    encoded, is_base64 = _body(body, base64_body)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": domain_name.split(".")[0],
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": encoded,
        "isBase64Encoded": is_base64,
    }
    if cookies:
        event["cookies"] = cookies
    if iam_caller is not None:
        event["requestContext"]["authorizer"] = {"iam": dict(iam_caller)}
    return event


def rest_api_event(
    method: str = "POST",
    path: str = "/mcp",
    *,
    headers: Headers = (),
    body: bytes | str | None = None,
    base64_body: bool = False,
    source_ip: str = "127.0.0.1",
    domain_name: str = LOCAL_DOMAIN,
    stage: str = "live",
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway builds for a REST API proxy integration (payload format 1.0): `headers` with
    the last value of each name, `multiValueHeaders` with all of them, names as the client sent them."""
    pairs = _pairs(headers)
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    encoded, is_base64 = _body(body, base64_body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi.items()},
        "multiValueHeaders": multi,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": domain_name.split(".")[0],
            "domainName": domain_name,
            "httpMethod": method,
            "identity": {"sourceIp": source_ip},
            "path": f"/{stage}{path}",
            "requestId": request_id or str(uuid.uuid4()),
            "resourcePath": path,
            "stage": stage,
        },
        "body": encoded,
        "isBase64Encoded": is_base64,
    }


def response_parts(result: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a payload 2.0 (or 1.0) handler result."""
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [(k, v) for k, values in (result.get("multiValueHeaders") or {}).items() for v in values]
    headers += [("set-cookie", c) for c in result.get("cookies") or ()]
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result.get("statusCode", 200)), headers, raw
