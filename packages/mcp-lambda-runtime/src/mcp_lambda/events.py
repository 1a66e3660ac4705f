"""Lambda HTTP events in, Lambda HTTP responses out.

Lambda hands an HTTP request to a function in one of two JSON shapes: payload format 2.0 (Function URLs
and API Gateway HTTP APIs) and payload format 1.0 (API Gateway REST APIs, and HTTP APIs configured for it).
This module turns either shape into one `HttpRequest` and a `HttpResponse` back into the shape the event
came in, so everything above it speaks plain HTTP. Written by hand rather than with an adapter library:
the existing ones (Mangum and friends) run the ASGI lifespan on every invocation, which is exactly what a
database-backed MCP server must not do.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

PayloadFormat = Literal["2.0", "1.0"]

# Bodies of these types are returned as text; anything else is base64, as Lambda requires for binary data.
_TEXT_TYPES = ("application/json", "text/", "application/problem+json", "application/xml")


_UNPARSED: Any = object()


class EventFormatError(ValueError):
    """The event is not an HTTP event this adapter understands (for example an S3 or SQS event)."""


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    """Lower-case names, values with surrounding whitespace trimmed, repeated headers kept apart."""
    body: bytes
    source_ip: str
    domain_name: str
    request_id: str
    payload_format: PayloadFormat
    body_decode_error: bool = False
    _message: Any = field(default=_UNPARSED, init=False, repr=False)

    def message(self) -> Any:
        """The body as JSON, parsed once however many checks read it; None when it is not JSON."""
        if self._message is _UNPARSED:
            try:
                self._message = json.loads(self.body)
            except (ValueError, RecursionError):  # huge integer literals: ValueError; deep nesting: RecursionError
                self._message = None
        return self._message

    def header(self, name: str) -> str | None:
        """First value of a header (name in lower case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def jsonrpc_error(
    status: int,
    code: int,
    message: str,
    *,
    request_id: Any = None,
    data: Any = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> HttpResponse:
    """An HTTP response carrying one JSON-RPC error object: the one shape of every refusal the runtime makes
    itself (guards, envelope, sign-in, batches, its own failures), so a client reads them all alike."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = {"jsonrpc": "2.0", "id": request_id, "error": error}
    return HttpResponse(status, [("content-type", "application/json"), *headers],
                        json.dumps(body, separators=(",", ":")).encode())


def parse_event(event: Any) -> HttpRequest:
    """Read a payload 2.0 or 1.0 event into an `HttpRequest`."""
    if not isinstance(event, dict):
        raise EventFormatError("event is not a JSON object")
    if event.get("version") == "2.0" and "rawPath" in event:
        return _parse_v2(event)
    if "httpMethod" in event:
        return _parse_v1(event)
    raise EventFormatError("not a Lambda HTTP event (payload format 1.0 or 2.0)")


def _parse_v2(event: dict[str, Any]) -> HttpRequest:
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    headers = _split_headers(event.get("headers") or {})
    for cookie in event.get("cookies") or ():
        headers.append(("cookie", cookie))
    body, bad = _body(event)
    return HttpRequest(
        method=str(http.get("method", "GET")).upper(),
        path=event.get("rawPath") or "/",
        query_string=event.get("rawQueryString") or "",
        headers=headers,
        body=body,
        source_ip=str(http.get("sourceIp", "")),
        domain_name=str(context.get("domainName", "")),
        request_id=str(context.get("requestId", "")),
        payload_format="2.0",
        body_decode_error=bad,
    )


def _parse_v1(event: dict[str, Any]) -> HttpRequest:
    context = event.get("requestContext") or {}
    multi = event.get("multiValueHeaders")
    if multi:
        headers = [(k.lower(), v.strip()) for k, values in multi.items() for v in (values or ())]
    else:
        headers = [(k.lower(), str(v).strip()) for k, v in (event.get("headers") or {}).items()]
    multi_query = event.get("multiValueQueryStringParameters")
    if multi_query:
        query = urlencode([(k, v) for k, values in multi_query.items() for v in (values or ())])
    else:
        query = urlencode(event.get("queryStringParameters") or {})
    body, bad = _body(event)
    return HttpRequest(
        method=str(event.get("httpMethod", "GET")).upper(),
        path=event.get("path") or "/",
        query_string=query,
        headers=headers,
        body=body,
        source_ip=str((context.get("identity") or {}).get("sourceIp", "")),
        domain_name=str(context.get("domainName", "")),
        request_id=str(context.get("requestId", "")),
        payload_format="1.0",
        body_decode_error=bad,
    )


def _split_headers(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Payload 2.0 joins repeated headers with commas; header values are trimmed of surrounding whitespace."""
    return [(str(k).lower(), str(v).strip()) for k, v in raw.items()]


def _body(event: dict[str, Any]) -> tuple[bytes, bool]:
    body = event.get("body")
    if body is None:
        return b"", False
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True), False
        except (binascii.Error, ValueError):
            return b"", True
    return body.encode("utf-8", "surrogatepass"), False


def to_lambda_response(response: HttpResponse, payload_format: PayloadFormat) -> dict[str, Any]:
    """Shape a response the way Lambda expects it for the event's payload format."""
    content_type = response.header("content-type") or ""
    is_text = not response.body or content_type.startswith(_TEXT_TYPES)
    body = response.body.decode("utf-8", "replace") if is_text else base64.b64encode(response.body).decode()
    status = int(response.status)
    # Lambda sets the length itself (and base64 would make the SDK's value wrong).
    response_headers = [(k, v) for k, v in response.headers if k != "content-length"]
    if payload_format == "2.0":
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in response_headers:
            if name == "set-cookie":
                cookies.append(value)
            elif name in headers:
                headers[name] = f"{headers[name]}, {value}"
            else:
                headers[name] = value
        shaped: dict[str, Any] = {
            "statusCode": status,
            "headers": headers,
            "body": body,
            "isBase64Encoded": not is_text,
        }
        if cookies:
            shaped["cookies"] = cookies
        return shaped
    multi: dict[str, list[str]] = {}
    for name, value in response_headers:
        multi.setdefault(name, []).append(value)
    return {
        "statusCode": status,
        "multiValueHeaders": multi,
        "body": body,
        "isBase64Encoded": not is_text,
    }
