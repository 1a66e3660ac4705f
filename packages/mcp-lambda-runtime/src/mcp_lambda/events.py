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
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

PayloadFormat = Literal["2.0", "1.0"]

# Bodies of these types are returned as text; anything else is base64, as Lambda requires for binary data.
_TEXT_TYPES = ("application/json", "text/", "application/problem+json", "application/xml")


_UNPARSED: Any = object()


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(literal: str) -> float:
    number = float(literal)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{literal} does not fit a float")
    return number


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
    _is_json: bool = field(default=False, init=False, repr=False)

    def message(self) -> Any:
        """The body as JSON, parsed once however many checks read it; None when it is not JSON.

        Strict JSON (RFC 8259): `NaN`, `Infinity` and numbers too large for a float are not JSON, though
        Python's parser accepts them; an id parsed from them could not be echoed as JSON again.
        """
        if self._message is _UNPARSED:
            try:
                self._message = json.loads(self.body, parse_constant=_not_json, parse_float=_finite)
                self._is_json = True
            except (ValueError, RecursionError):  # huge integer literals: ValueError; deep nesting: RecursionError
                self._message = None
        return self._message

    def is_json(self) -> bool:
        """Whether the body is one JSON text (`null` included)."""
        self.message()
        return self._is_json

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
    """Read a payload 2.0 or 1.0 event into an `HttpRequest`.

    Every field is checked for the type AWS documents, and every string for text an HTTP request can carry
    (no lone surrogates; header names that are HTTP tokens): an event that fails raises EventFormatError,
    which the runtime answers with 400, so nothing malformed reaches the guards or the SDK.
    """
    if not isinstance(event, dict):
        raise EventFormatError("event is not a JSON object")
    if event.get("version") == "2.0" and "rawPath" in event:
        return _parse_v2(event)
    if "httpMethod" in event:
        return _parse_v1(event)
    raise EventFormatError("not a Lambda HTTP event (payload format 1.0 or 2.0)")


def _parse_v2(event: dict[str, Any]) -> HttpRequest:
    context = _object(event.get("requestContext"), "requestContext")
    http = _object(context.get("http"), "requestContext.http")
    headers = [(_header_name(name), _text(value, f"header {name!r}").strip())
               for name, value in _object(event.get("headers"), "headers").items()]
    headers += [("cookie", _text(cookie, "a cookie")) for cookie in _list(event.get("cookies"), "cookies")]
    body, bad = _body(event)
    return HttpRequest(
        method=_text(http.get("method"), "requestContext.http.method", "GET").upper(),
        path=_text(event.get("rawPath"), "rawPath") or "/",
        query_string=_text(event.get("rawQueryString"), "rawQueryString"),
        headers=headers,
        body=body,
        source_ip=_text(http.get("sourceIp"), "requestContext.http.sourceIp"),
        domain_name=_text(context.get("domainName"), "requestContext.domainName"),
        request_id=_text(context.get("requestId"), "requestContext.requestId"),
        payload_format="2.0",
        body_decode_error=bad,
    )


def _parse_v1(event: dict[str, Any]) -> HttpRequest:
    context = _object(event.get("requestContext"), "requestContext")
    identity = _object(context.get("identity"), "requestContext.identity")
    multi = _object(event.get("multiValueHeaders"), "multiValueHeaders")
    if multi:
        headers = [(_header_name(name), _text(value, f"header {name!r}").strip())
                   for name, values in multi.items() for value in _list(values, f"header {name!r}")]
    else:
        headers = [(_header_name(name), _text(value, f"header {name!r}").strip())
                   for name, value in _object(event.get("headers"), "headers").items()]
    multi_query = _object(event.get("multiValueQueryStringParameters"), "multiValueQueryStringParameters")
    if multi_query:
        pairs = [(_text(name, "a query parameter"), _text(value, f"query parameter {name!r}"))
                 for name, values in multi_query.items() for value in _list(values, f"query parameter {name!r}")]
    else:
        pairs = [(_text(name, "a query parameter"), _text(value, f"query parameter {name!r}"))
                 for name, value in _object(event.get("queryStringParameters"), "queryStringParameters").items()]
    body, bad = _body(event)
    return HttpRequest(
        method=_text(event.get("httpMethod"), "httpMethod", "GET").upper(),
        path=_text(event.get("path"), "path") or "/",
        query_string=urlencode(pairs),
        headers=headers,
        body=body,
        source_ip=_text(identity.get("sourceIp"), "requestContext.identity.sourceIp"),
        domain_name=_text(context.get("domainName"), "requestContext.domainName"),
        request_id=_text(context.get("requestId"), "requestContext.requestId"),
        payload_format="1.0",
        body_decode_error=bad,
    )


# RFC 9110 §5.6.2: a field name is a token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventFormatError(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EventFormatError(f"{what} is not a list")
    return value


def _text(value: Any, what: str, default: str = "") -> str:
    """A string of the event, which must be text an HTTP request can carry (UTF-8: no lone surrogates)."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise EventFormatError(f"{what} is not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventFormatError(f"{what} is not valid text") from None
    return value


def _header_name(name: Any) -> str:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise EventFormatError("a header name is not an HTTP token")
    return name.lower()


def _body(event: dict[str, Any]) -> tuple[bytes, bool]:
    body = event.get("body")
    if body is None:
        return b"", False
    if not isinstance(body, str):
        raise EventFormatError("body is not a string")
    is_base64 = event.get("isBase64Encoded")
    if is_base64 is not None and not isinstance(is_base64, bool):
        raise EventFormatError("isBase64Encoded is not a boolean")
    if is_base64:
        try:
            return base64.b64decode(body, validate=True), False
        except (binascii.Error, ValueError):
            return b"", True
    # Lone surrogates stay as they came (surrogatepass): the bytes are then not UTF-8, so not JSON (-32700).
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
