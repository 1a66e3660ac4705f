"""One `HttpRequest` through an ASGI application, buffered into one `HttpResponse`.

Lambda's buffered response model has no streaming, so the whole body is collected; the SDK is run in
JSON-response mode, where every reply is complete when the application returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Message

from mcp_lambda.auth.policy import Access
from mcp_lambda.auth.visibility import ACCESS_SCOPE_KEY
from mcp_lambda.events import HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One request on its way to the SDK: the HTTP request, the path it is served at, and, on a server with
    sign-in, the verified caller (None: anonymous) and the access policy `tools/list` filters by."""

    request: HttpRequest
    path: str
    user: AuthenticatedUser | None = None
    access: Access | None = None


def build_scope(request: HttpRequest, path: str) -> dict[str, Any]:
    host = request.header("host") or request.domain_name or "localhost"
    port = 443
    if host.rsplit(":", 1)[-1].isdigit() and not host.endswith("]"):
        port = int(host.rsplit(":", 1)[1])
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": request.query_string.encode(),
        "headers": [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in request.headers],
        "client": (request.source_ip or "0.0.0.0", 0),
        "server": (host.split(":")[0], port),
        "state": {},
    }


async def call_asgi(app: ASGIApp, dispatch: Dispatch) -> HttpResponse:
    """Run the application for one request and collect what it sends.

    A verified caller is put where the SDK looks for one: `scope["user"]` (tools read it through their
    context) and the SDK's auth context variable, which the tasks the SDK starts for this request inherit.
    The access policy goes in the scope too, for `tools/list` filtering.
    """
    request, user = dispatch.request, dispatch.user
    scope = build_scope(request, dispatch.path)
    if dispatch.access is not None:
        scope[ACCESS_SCOPE_KEY] = dispatch.access
    if user is not None:
        scope["user"] = user
        scope["auth"] = AuthCredentials(user.scopes)
        auth_context_var.set(user)
    delivered = False
    response = HttpResponse(status=500)
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        # Lambda buffers the response and tells nobody when the client leaves, so there is no disconnect
        # to report: a reader of further messages waits until the request's own tasks are done.
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in message["headers"]]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    response.body = b"".join(chunks)
    return response
