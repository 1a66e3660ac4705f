"""The JSON-RPC envelope of handshake-era requests, checked before the SDK sees them.

The SDK answers a batch or a malformed envelope on the handshake-era path with -32602 and a pydantic
dump; JSON-RPC 2.0 calls that -32600 Invalid Request, and revision 2025-03-26 requires servers to
accept batches (later revisions removed them). This module tells the runtime which case a body is:
passed through unchanged, refused with the right error, or a 2025-03-26 batch to serve item by item.
2026-07-28 requests are left to the SDK, whose single-exchange path already answers these cases.
"""

from __future__ import annotations

from typing import Any

from mcp_types import INVALID_REQUEST, PARSE_ERROR, PROTOCOL_VERSION_META_KEY, UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from mcp_lambda.events import HttpRequest, HttpResponse, jsonrpc_error

# Without an MCP-Protocol-Version header a server assumes 2025-03-26 (specification 2025-06-18,
# Transports: Protocol Version Header); that revision is the only one with batches.
_BATCH_REVISIONS = ("2025-03-26",)
_DEFAULT_REVISION = "2025-03-26"


def request_id(message: Any) -> str | int | None:
    """The message's id where JSON-RPC and MCP allow it (a string or an integer), else None: what a refusal
    may echo. Booleans, floats, objects and arrays are not ids."""
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None


def parse_refusal(request: HttpRequest) -> HttpResponse | None:
    """400 -32700 for a body that is not strict JSON (RFC 8259: no NaN, no Infinity), answered here so that
    no parser more lenient than JSON's decides what the request was."""
    if request.is_json():
        return None
    return jsonrpc_error(400, PARSE_ERROR, "Parse error: the body is not JSON")


def id_refusal(request: HttpRequest) -> HttpResponse | None:
    """400 -32600 (with `id` null) for a request whose id is not a string or an integer: JSON-RPC allows no
    other (MCP not even null), and the SDK would take it as a notification, answer 202 with no body and
    leave the client waiting, while a tool call ran."""
    message = request.message()
    if isinstance(message, dict) and "method" in message and "id" in message and request_id(message) is None:
        return jsonrpc_error(400, INVALID_REQUEST, "Invalid Request: the id must be a string or an integer")
    return None


def version_refusal(request: HttpRequest) -> HttpResponse | None:
    """400 for an MCP-Protocol-Version this server does not speak, listing the ones it does.

    A body in the 2026-07-28 shape (the version in `params._meta`) is left to the SDK, whose answer
    lists the single-exchange versions that `server/discover` advertises. Any other body gets the
    handshake and single-exchange versions, with the request's id echoed.
    """
    version = request.header("mcp-protocol-version")
    if version is None or version in HANDSHAKE_PROTOCOL_VERSIONS or version in MODERN_PROTOCOL_VERSIONS:
        return None
    message = request.message()
    params = message.get("params") if isinstance(message, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    if isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta:
        return None
    return jsonrpc_error(
        400, UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
        request_id=request_id(message),
        data={"supported": [*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS], "requested": version},
    )


def classify_legacy_body(request: HttpRequest) -> HttpResponse | list[Any] | None:
    """None: pass through. A response: refuse. A list: a 2025-03-26 batch, to be served item by item."""
    version = request.header("mcp-protocol-version")
    if version in MODERN_PROTOCOL_VERSIONS:
        return None
    message = request.message()
    if message is None and request.body.strip() not in (b"null",):
        return None  # not JSON: the SDK answers -32700 Parse error
    if isinstance(message, list):
        revision = version or _DEFAULT_REVISION
        if revision not in _BATCH_REVISIONS:
            return jsonrpc_error(400, INVALID_REQUEST, f"Invalid Request: protocol revision {revision} has no batches")
        if not message:
            return jsonrpc_error(400, INVALID_REQUEST, "Invalid Request: empty batch")
        return message
    if not _is_envelope(message):
        return jsonrpc_error(400, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
    return None


def _is_envelope(message: Any) -> bool:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return False
    if "method" in message:
        return isinstance(message["method"], str)
    return "id" in message and ("result" in message or "error" in message)


def batch_item_refusal(item: Any) -> dict[str, Any] | None:
    """The error object for a batch item that cannot be served, or None."""
    if not _is_envelope(item):
        message = "Invalid Request: not a JSON-RPC 2.0 message"
    elif "id" in item and "method" in item and request_id(item) is None:
        message = "Invalid Request: the id must be a string or an integer"
    elif item.get("method") == "initialize":
        message = "Invalid Request: initialize must not be part of a batch"
    else:
        return None
    return {"jsonrpc": "2.0", "id": request_id(item), "error": {"code": INVALID_REQUEST, "message": message}}
