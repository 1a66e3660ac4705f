"""The HTTP side of the proxy: a client whose failures become JSON-RPC errors, and the start-up check.

The SDK's Streamable HTTP transport lets a network error escape from the task that sent the request,
which ends the whole connection: right for a script, wrong for a proxy that a desktop client keeps
for days across sleeps and Wi-Fi changes. `ProxyHttpClient` turns a request that could not be sent
(the server or the authorization server unreachable, a failed sign-in) into an HTTP error response
carrying a JSON-RPC error object, which the transport hands to the waiting request as its answer. The
proxy keeps running, and the desktop client sees a one-line reason.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
from mcp.client.auth import OAuthFlowError
from mcp.client.auth.utils import build_protected_resource_metadata_discovery_urls
from mcp_types import INTERNAL_ERROR
from pydantic import ValidationError

from mcp_lambda_proxy import PROG
from mcp_lambda_proxy.sigv4 import CredentialsError, origin
from mcp_lambda_proxy.store import StoreError

log = logging.getLogger("mcp_lambda_proxy")

FAILURE_HEADER = "x-mcp-lambda-proxy-error"
UNREACHABLE = "unreachable"
SIGN_IN_FAILED = "sign-in-failed"
FAILED = "failed"
PREFLIGHT_ID = "mcp-lambda-proxy-preflight"
#: Headers --header may not set: the transport's own and the MCP headers the bridge manages.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "content-type", "transfer-encoding", "connection", "accept", "te", "upgrade",
    "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id",
})
_HEADER_ARGUMENT = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*[:=]\s*(.*)$", re.DOTALL)


def parse_header(argument: str) -> tuple[str, str]:
    """`NAME=VALUE` (or `NAME: VALUE`, as other stdio proxies spell it) as a header; ValueError if it is not one
    or names a header the proxy manages itself."""
    match = _HEADER_ARGUMENT.match(argument)
    if not match:
        raise ValueError(f"{argument!r} is not NAME=VALUE with NAME an HTTP header name")
    name, value = match.group(1).lower(), match.group(2).strip()
    if name in RESERVED_HEADERS:
        raise ValueError(f"the proxy sets {name} itself")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"the value of {name} has a line break or NUL")
    return name, value


def display_url(url: httpx2.URL | str) -> str:
    """A URL without userinfo, query or fragment (they can carry state that has no place in a message)."""
    parts = urlsplit(str(url))
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def describe_transport_error(exc: httpx2.TransportError) -> str:
    if isinstance(exc, httpx2.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx2.TimeoutException):
        return "no response in time"
    text = str(exc).strip()
    if isinstance(exc, httpx2.ConnectError):
        return text or "connection failed"
    return text or type(exc).__name__


def failure_response(request: httpx2.Request, kind: str, message: str, status: int) -> httpx2.Response:
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": INTERNAL_ERROR, "message": message, "data": {"proxy": kind}},
    }
    return httpx2.Response(status, headers={FAILURE_HEADER: kind}, json=body, request=request)


class ProxyHttpClient(httpx2.AsyncClient):
    """An `httpx2.AsyncClient` whose `send` answers instead of raising when a request cannot be made.

    `server_headers` go to `server_url`'s origin only: a custom header (an API key, a routing hint) is never
    sent to the authorization server or anywhere else the sign-in leads.
    """

    def __init__(self, *args: Any, server_url: str | None = None,
                 server_headers: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reported: dict[str, float] = {}
        self.report_failures = True  # one stderr line per distinct failure (off while the caller reports)
        self._server_origin = origin(server_url) if server_url else None
        self._server_headers = tuple(server_headers)

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        if self._server_headers and origin(str(request.url)) == self._server_origin:
            for name, value in self._server_headers:
                request.headers.setdefault(name, value)
        try:
            response = await super().send(request, **kwargs)
            if kwargs.get("stream") and not _is_event_stream(response):
                # A JSON body is read here, so a connection lost mid-body is answered like any other
                # failure instead of escaping from the transport; event streams stay streamed.
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
            return response
        except httpx2.TransportError as exc:
            where = display_url(exc.request.url if _has_request(exc) else request.url)
            message = f"cannot reach {where}: {describe_transport_error(exc)}"
            return self._failed(request, UNREACHABLE, where, message, 502)
        except (OAuthFlowError, StoreError, ValidationError, CredentialsError) as exc:
            where = display_url(request.url)
            message = f"sign-in to {where} failed: {_one_line(exc)}"
            return self._failed(request, SIGN_IN_FAILED, where, message, 401)
        except Exception as exc:  # a defect here must cost one request, not the desktop client's connection
            log.debug("request to %s failed", display_url(request.url), exc_info=True)
            where = display_url(request.url)
            message = f"request to {where} failed: {type(exc).__name__}: {_one_line(exc)}"
            return self._failed(request, FAILED, where, message, 502)

    def _failed(self, request: httpx2.Request, kind: str, where: str, message: str, status: int) -> httpx2.Response:
        now = time.monotonic()
        # One stderr line per outage (a failure of the same kind at the same place within 30 s is the same).
        if self.report_failures and now - self._reported.get(f"{kind} {where}", -1e9) > 30:
            log.warning("%s", message)
        self._reported[f"{kind} {where}"] = now
        return failure_response(request, kind, f"{PROG}: {message}", status)


def _is_event_stream(response: httpx2.Response) -> bool:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower() == "text/event-stream"


def _has_request(exc: httpx2.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises when the error was not bound to a request
    except RuntimeError:
        return False
    return True


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return f"unexpected response from the authorization server ({exc.error_count()} validation errors)"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


async def protected_resource_metadata(client: httpx2.AsyncClient, url: str) -> str | None:
    """The URL of the server's RFC 9728 protected resource metadata when it publishes one naming an
    authorization server (the server offers sign-in), else None. Looked for where the SDK's sign-in looks."""
    for metadata_url in build_protected_resource_metadata_discovery_urls(None, url):
        try:
            response = await client.get(metadata_url, headers={"accept": "application/json"})
            servers = response.json().get("authorization_servers") if response.status_code == 200 else None
        except (httpx2.HTTPError, ValueError, AttributeError):
            continue
        if isinstance(servers, list) and servers:
            return metadata_url
    return None


async def preflight(client: httpx2.AsyncClient, url: str, *, sigv4: bool = False) -> str | None:
    """Reach the server once before serving (signing in if it asks): None, or why the proxy cannot start.

    A JSON-RPC `ping` is sent: it is harmless on every server, and any server that requires sign-in
    challenges it. Any answer other than a refusal of the credentials means the server is there.
    """
    reporting = getattr(client, "report_failures", None)
    if reporting is not None:
        client.report_failures = False  # type: ignore[attr-defined]
    try:
        response = await client.post(
            url,
            json={"jsonrpc": "2.0", "id": PREFLIGHT_ID, "method": "ping"},
            headers={"accept": "application/json, text/event-stream"},
        )
    finally:
        if reporting is not None:
            client.report_failures = reporting  # type: ignore[attr-defined]
    kind = response.headers.get(FAILURE_HEADER)
    if kind:
        try:
            return str(response.json()["error"]["message"]).removeprefix(f"{PROG}: ")
        except (ValueError, KeyError, TypeError):
            return f"cannot reach {display_url(url)}"
    if response.status_code in (401, 403):
        challenge = response.headers.get("www-authenticate") or response.headers.get(
            "x-amzn-remapped-www-authenticate"
        )
        detail = f": {challenge}" if challenge else ""
        if sigv4:
            return (f"{display_url(url)} refused the signed request (HTTP {response.status_code}{detail}): may these "
                    "AWS credentials invoke it (lambda:InvokeFunctionUrl, or execute-api:Invoke)?")
        if response.headers.get("x-amzn-errortype", "").startswith("AccessDenied") or (
            response.status_code == 403 and not challenge
        ):
            # What an AWS_IAM Function URL (or an IAM-authorized API Gateway method) answers an unsigned request.
            return (f"{display_url(url)} refused the request (HTTP {response.status_code}{detail}); if it is an "
                    "AWS_IAM endpoint, connect with --sigv4")
        return f"{display_url(url)} refused the credentials from sign-in (HTTP {response.status_code}{detail})"
    if response.status_code == 404:
        log.warning("%s answered 404 Not Found: is the path of the MCP endpoint right?", display_url(url))
    return None
