"""Direct dispatch: a request handed to the SDK's request kernel without the scaffolding around it.

Why by hand: for every stateless handshake-era request the SDK's Streamable HTTP app runs Starlette's
routing and middleware, then builds a transport, two pairs of memory streams, a task group and a
JSON-RPC dispatcher, only to run `ServerRunner.on_request` once: the kernel every SDK transport shares,
which computes the answer. That scaffolding was about 70 % of a warm `tools/call` (bench/README.md).
A Lambda environment serves one request at a time, so none of it buys anything here.

`DirectApp` is an ASGI app in front of the SDK's full one. It serves:
- handshake-era requests (no `MCP-Protocol-Version`, or a handshake revision) that the SDK's transport
  would pass to its dispatcher: it applies the transport's Accept and Content-Type checks, parses and
  validates the message with the SDK's own adapter, runs the kernel with the connection, dispatch
  context and metadata the stateless transport builds (no back-channel for requests to the client), and
  serialises the reply exactly as the transport does, error mapping included. In the session manager's
  streaming mode (replies.py chooses it per request) the notifications the call sends are kept, serialised
  as the transport serialises them, and go before the result in an SSE body; a call that sent none is
  answered with the same JSON as in JSON mode;
- 2026-07-28 requests, through the SDK's own single-exchange entry (`handle_modern_request`), called
  the way the session manager calls it, in the manager's response mode.
Everything else (notifications, posted responses, bodies or headers the transport would refuse) goes
to the full app, so those answers are the SDK's by construction. tests/runtime/test_direct_dispatch.py
proves the direct answers equal, byte for byte, to the full app's over a corpus of requests.

This leans on SDK internals (the kernel, `Connection.from_envelope`, the session manager's lifespan
state, the single-exchange entry); `mcp` is pinned and the differential tests fail on any drift.
`MCP_DIRECT_DISPATCH=0` turns it off.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from mcp.server._streamable_http_modern import _SingleExchangeDispatchContext, handle_modern_request
from mcp.server.connection import Connection
from mcp.server.runner import serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.dispatcher import CallOptions
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data, progress_token_from_params
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import DEFAULT_NEGOTIATED_VERSION, ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCRequest
from mcp_types import JSONRPCResponse
from mcp_types import jsonrpc_message_adapter
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_lambda.replies import SSE_HEADERS, render

# The dispatcher's logger, so a failing handler is logged under the same name on either path.
_dispatcher_logger = logging.getLogger("mcp.shared.jsonrpc_dispatcher")
_VERSION_HEADER = b"mcp-protocol-version"


class DirectApp:
    """ASGI app serving plain requests on the SDK's kernel directly; everything else goes to `full_app`."""

    def __init__(self, manager: StreamableHTTPSessionManager, full_app: ASGIApp) -> None:
        self._manager = manager
        self._full_app = full_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = next((v.decode("latin-1") for k, v in scope["headers"] if k == _VERSION_HEADER), None)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            # What the session manager does for a non-handshake version header, minus Starlette's routing.
            manager = self._manager
            await handle_modern_request(
                manager.app, manager.security_settings, manager.json_response, manager._lifespan_state,
                scope, receive, send,
            )
            return
        first = await receive()
        body = first.get("body", b"")
        if first.get("more_body") or not await self._serve_handshake_era(scope, body, version, send):
            await self._full_app(scope, _replay(first, receive), send)

    async def _serve_handshake_era(self, scope: Scope, body: bytes, version: str | None, send: Send) -> bool:
        """Serve a request as the stateless JSON-mode transport would; False to leave it to the full app."""
        request = Request(scope)
        has_json, _ = check_accept_headers(request)
        if not has_json or not _is_json_content_type(request.headers.get("content-type", "")):
            return False  # the transport answers 406 / 415
        try:
            # Parsed again, as the transport parses it: pydantic-core and the runtime's json.loads disagree on
            # some bodies (a lone surrogate in a string, for one), and here the transport's verdict must hold.
            message = jsonrpc_message_adapter.validate_python(pydantic_core.from_json(body), by_name=False)
        except ValueError:  # pydantic's ValidationError is a ValueError too
            return False  # the transport answers the parse or validation error
        if not isinstance(message, JSONRPCRequest):
            return False  # notifications and responses: 202, and the kernel's notification path
        # JSON mode has no wire for notifications: the SDK's context drops them.
        context = _SingleExchangeDispatchContext if self._manager.json_response else _KeptNotifications
        dctx = context(
            transport=TransportContext(kind="streamable-http", can_send_request=False),
            request_id=message.id,
            message_metadata=ServerMessageMetadata(request_context=request, can_send_request=False),
            progress_token=progress_token_from_params(message.params),
        )
        connection = Connection.from_envelope(version or DEFAULT_NEGOTIATED_VERSION, None, None)
        reply: JSONRPCResponse | JSONRPCError
        try:
            result = await serve_one(
                self._manager.app, dctx, message.method, message.params,
                connection=connection, lifespan_state=self._manager._lifespan_state,
            )
            reply = JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result)
        except Exception as exc:
            # The dispatcher's exception-to-wire mapping, code 0 included (the SDK pins it for v1 compatibility).
            error = handler_exception_to_error_data(exc)
            if error is None:
                _dispatcher_logger.exception("handler for %r raised", message.method)
                error = ErrorData(code=0, message=str(exc))
            reply = JSONRPCError(jsonrpc="2.0", id=message.id, error=error)
        serialised = reply.model_dump_json(by_alias=True, exclude_unset=True)
        if isinstance(dctx, _KeptNotifications) and dctx.kept:
            response = Response(render([*dctx.kept, serialised.encode()]), headers=dict(SSE_HEADERS))
        else:
            response = Response(serialised, headers={"Content-Type": "application/json"})
        await response(scope, _no_more_body, send)
        return True


@dataclass
class _KeptNotifications(_SingleExchangeDispatchContext):
    """The dispatch context of a request served in streaming mode: the notifications the call sends are kept
    for its reply, each serialised as the SDK's dispatcher and transport serialise it on that path."""

    kept: list[bytes] = field(default_factory=list)

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None) -> None:
        # `params` left unset when None, as the dispatcher does: JSON-RPC forbids `"params": null`.
        message = (JSONRPCNotification(jsonrpc="2.0", method=method) if params is None
                   else JSONRPCNotification(jsonrpc="2.0", method=method, params=dict(params)))
        self.kept.append(message.model_dump_json(by_alias=True, exclude_unset=True).encode())


def _is_json_content_type(value: str) -> bool:
    """The transport's Content-Type rule: any comma-separated part before `;` is exactly application/json."""
    return any(part.strip() == "application/json" for part in value.split(";")[0].split(","))


def _replay(first: Message, receive: Receive) -> Receive:
    """`receive` with the already-read first message delivered again."""
    pending = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _no_more_body() -> Message:
    return {"type": "http.disconnect"}
