"""HTTP-level checks around the SDK: what is refused before it, and what is mended after it.

Before: methods a stateless JSON server cannot serve (a GET would open an SSE stream that never ends
inside a Lambda invocation), Host and Origin checks (the SDK's list cannot include the endpoint's own
domain, which is only known per event), bodies Lambda could not decode.
After: every error reaches the client as a JSON-RPC error object (the SDK answers some HTTP-level
failures with plain text or an empty body), and a result too large for Lambda's 6 MB response limit
becomes a clear JSON-RPC error instead of a failed invocation.
"""

from __future__ import annotations

from http import HTTPStatus

from mcp_types import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR

from mcp_lambda.envelope import request_id
from mcp_lambda.events import HttpRequest, HttpResponse, jsonrpc_error
from mcp_lambda.settings import RuntimeSettings

def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    """Exact match, or `base:*` for any port of `base` (the SDK's convention)."""
    return any(value == p or (p.endswith(":*") and value.startswith(p[:-1])) for p in patterns)


def refuse_before_dispatch(request: HttpRequest, settings: RuntimeSettings) -> HttpResponse | None:
    """The response for a request that must not reach the SDK, or None to let it through."""
    if request.method != "POST":
        # Stateless JSON mode has no standalone SSE stream (GET) and no session to end (DELETE).
        return jsonrpc_error(
            405,
            INVALID_REQUEST,
            f"Method Not Allowed: this server accepts POST only, not {request.method}",
            headers=(("allow", "POST"),),
        )
    host = request.header("host")
    if not host or not (host == request.domain_name or _matches(host, settings.allowed_hosts)):
        # RFC 9110 421: the request reached a server not configured for that authority (DNS rebinding).
        return jsonrpc_error(421, INVALID_REQUEST, "Misdirected Request: Host header not allowed")
    origin = request.header("origin")
    if origin and not _matches(origin, settings.allowed_origins):
        return jsonrpc_error(403, INVALID_REQUEST, "Forbidden: Origin not allowed")
    if request.body_decode_error:
        return jsonrpc_error(400, PARSE_ERROR, "Parse error: body is not valid base64")
    if len(request.body) > settings.max_request_bytes:
        return jsonrpc_error(413, INVALID_REQUEST, f"Request body exceeds {settings.max_request_bytes} bytes")
    return None


def mend_after_dispatch(request: HttpRequest, response: HttpResponse, settings: RuntimeSettings) -> HttpResponse:
    """Give every error a JSON-RPC body and keep results within Lambda's response limit."""
    if response.status >= 400 and not (response.header("content-type") or "").startswith("application/json"):
        detail = response.body.decode("utf-8", "replace").strip() or HTTPStatus(response.status).phrase
        code = INTERNAL_ERROR if response.status >= 500 else INVALID_REQUEST
        kept = tuple((k, v) for k, v in response.headers if k in ("allow", "www-authenticate"))
        return jsonrpc_error(response.status, code, detail, headers=kept)
    if len(response.body) > settings.max_response_bytes:
        # 200, as the SDK answers every INTERNAL_ERROR in both revision families: the HTTP exchange
        # worked, the JSON-RPC request failed.
        return jsonrpc_error(
            200,
            INTERNAL_ERROR,
            f"Result too large: {len(response.body)} bytes exceeds the {settings.max_response_bytes}-byte "
            "limit of a Lambda response; ask for less (paginate or narrow the arguments)",
            request_id=request_id(request.message()),
        )
    return response
