"""The form of a reply, settled after the call: plain JSON, or an SSE body carrying the call's notifications.

A Lambda response is buffered: nothing reaches the client before the invocation returns. So the runtime
need not commit to a form before the tool runs, as a streaming server must. A request is served in the
SDK's streaming mode (the runtime sets it for that request) only when its reply could carry notifications
(`may_stream`), and once the call is done `settle` gives the reply its form:
- no notification was sent (or the client does not accept `text/event-stream`): the plain JSON of the
  SDK's JSON-response mode, byte for byte, with the status that mode gives it;
- notifications were sent and the client accepts SSE: an SSE body (Streamable HTTP, "Sending Messages")
  with the notifications in the order they were sent, then the response, then the end of the stream.
The notifications arrive with the result, not as they happen: that is what a buffered response can do.

Which requests may stream: on the handshake revisions (2024-11-05 .. 2025-11-25) any request of a client
accepting SSE, since log messages need no opt-in there (a stateless server cannot keep the level a
`logging/setLevel` asked for: it has no session); on 2026-07-28 only a request that asked for some, with
a `progressToken` or an `io.modelcontextprotocol/logLevel` in its `_meta` (the SDK sends neither without
them). Every other request keeps the JSON-response mode and its speed: the SDK's streaming entry for
2026-07-28 (a task group, a stream and a timer per request) made a warm call about 1.7x slower.

An SSE body counts toward the response limit like any other: when the notifications would push it over,
they are dropped (and logged) and the result goes as JSON, which guards.py then checks on its own.
"""

from __future__ import annotations

import json
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from mcp.server.streamable_http import check_accept_headers
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from mcp_types import LOG_LEVEL_META_KEY
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from mcp_lambda.events import HttpRequest, HttpResponse
from mcp_lambda.observability import logger

SSE_CONTENT_TYPE = "text/event-stream"
SSE_HEADERS = [("content-type", SSE_CONTENT_TYPE), ("cache-control", "no-cache, no-transform"),
               ("x-accel-buffering", "no")]
_HANDSHAKE_ERA = frozenset((None, *HANDSHAKE_PROTOCOL_VERSIONS))  # no MCP-Protocol-Version header: 2025-03-26
_EVENT = b"event: message\r\ndata: "
_END = b"\r\n\r\n"


def may_stream(request: HttpRequest) -> bool:
    """Whether this request's reply could carry notifications: the client accepts both JSON and SSE (the SDK's
    own Accept rule, wildcards included, so its streaming mode serves whatever its JSON mode would), and the
    request is handshake-era or a 2026-07-28 request that asked for progress or log messages."""
    if not _accepts_json_and_sse(request.header("accept") or ""):
        return False
    if request.header("mcp-protocol-version") in _HANDSHAKE_ERA:
        return True
    message = request.message()
    params = message.get("params") if isinstance(message, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and (LOG_LEVEL_META_KEY in meta or progress_token_from_params(params) is not None)


@lru_cache(maxsize=64)
def _accepts_json_and_sse(accept: str) -> bool:
    """The SDK's Accept rule, remembered per value: a client sends the same Accept every time."""
    has_json, has_sse = check_accept_headers(SimpleNamespace(headers={"accept": accept}))
    return has_json and has_sse


def render(messages: list[bytes]) -> bytes:
    """An SSE body of JSON-RPC messages (each serialised already), one `message` event each, framed as the
    SDK frames them."""
    return b"".join(_EVENT + message + _END for message in messages)


def settle(request: HttpRequest, response: HttpResponse, limit: int) -> HttpResponse:
    """The reply in its final form (see the module docstring); a reply that is not an SSE body is left as it is."""
    if (response.header("content-type") or "").partition(";")[0].strip() != SSE_CONTENT_TYPE:
        return response
    events = _events(response.body)
    if not events:
        return response  # no message at all: nothing to settle
    *notifications, final = events
    if notifications:
        body = render([*notifications, final])
        if len(body) <= limit:
            return HttpResponse(response.status, list(SSE_HEADERS), body)
        logger.warning("Notifications dropped: with them the reply would exceed the response limit",
                       notifications=len(notifications), size=len(body), limit=limit)
    return HttpResponse(_json_status(request, final), [("content-type", "application/json")], final)


def messages(response: HttpResponse) -> list[bytes]:
    """The JSON-RPC messages of a settled reply, in order: its notifications, then the response."""
    if (response.header("content-type") or "").partition(";")[0].strip() == SSE_CONTENT_TYPE:
        return _events(response.body)
    return [response.body]


def _events(body: bytes) -> list[bytes]:
    """The data of each event of an SSE body, in order. Comments (the keep-alive pings a streaming transport
    sends while a call is silent) and fields other than `data` carry no message and are skipped."""
    events: list[bytes] = []
    data: list[bytes] = []
    for line in body.splitlines():  # bytes split on CR, LF and CRLF only: SSE's line ends
        if not line:
            if data:
                events.append(b"\n".join(data))
                data = []
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        events.append(b"\n".join(data))
    return events


def _json_status(request: HttpRequest, final: bytes) -> int:
    """The status the SDK's JSON-response mode gives this reply: 200 on the handshake revisions; on 2026-07-28
    the status its error code maps to (the revision's 404 for an unknown method, 400 for a bad request...)."""
    if request.header("mcp-protocol-version") in _HANDSHAKE_ERA:
        return 200
    message: Any = json.loads(final)
    error = message.get("error") if isinstance(message, dict) else None
    return ERROR_CODE_HTTP_STATUS.get(error.get("code"), 200) if isinstance(error, dict) else 200
