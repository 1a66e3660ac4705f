"""2025-03-26 JSON-RPC batches, served item by item within what one Lambda invocation can return.

A batch multiplies what one request costs while its body stays small: a 7 KB batch of sixty
`get_messages(limit=100)` calls would build a 49 MB reply, which Lambda cannot return (6 MB) and which a
1 GB function may not even hold. Three bounds keep a batch inside the invocation:

- items: a batch longer than `max_batch_items` (MCP_MAX_BATCH_ITEMS) is refused whole (400, -32600) before any item runs;
- the combined reply: room for every item's error is reserved up front, and an item's own reply is
  taken only while it fits next to what is already taken and the reserve of the items still to come,
  so the array always fits in `max_response_bytes` and every request item gets exactly one reply; once
  one reply did not fit, the items after it are not run (their work could not be returned);
- time: no item is started when the invocation's remaining time is below `batch_time_reserve_ms` (MCP_BATCH_TIME_RESERVE_MS) plus
  the longest item served so far; the items left out are answered with an error saying they did not run.

Errors say what happened to the item, so a client never mistakes one for another: "not run" (send it
again, alone or in a smaller batch) or "ran, but its result did not fit" (it may have had effects, as a
single request whose result exceeds the limit). Notifications that are not run get no reply (JSON-RPC
forbids one) and are logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from mcp_types import INTERNAL_ERROR, INVALID_REQUEST

from mcp_lambda.envelope import batch_item_refusal, request_id
from mcp_lambda.events import HttpResponse, jsonrpc_error
from mcp_lambda.observability import logger
from mcp_lambda.settings import RuntimeSettings

NOT_RUN_FULL = (
    "Not run: the batch's reply is full ({limit}-byte limit of a Lambda response); send this request again"
)
NOT_RUN_NO_TIME = "Not run: the invocation ran out of time for the rest of the batch; send this request again"
RAN_TOO_LARGE = (
    "Result too large: the request ran, but its result does not fit in the batch's reply "
    "({limit}-byte limit of a Lambda response); ask for less or send it alone"
)


def _error(request_id: Any, message: str) -> bytes:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": INTERNAL_ERROR, "message": message}}
    return json.dumps(body, separators=(",", ":")).encode()


def _is_request(item: Any) -> bool:
    """A request expects a reply; a notification (no `id`) must not get one (JSON-RPC 2.0, section 4.1)."""
    return isinstance(item, dict) and "id" in item


def serve_batch(
    items: list[Any],
    serve_item: Callable[[Any], HttpResponse],
    settings: RuntimeSettings,
    remaining_ms: Callable[[], int] | None,
) -> HttpResponse:
    """Serve `items` with `serve_item` (one item's JSON value -> its mended response) within the limits
    of `settings`.

    `remaining_ms` is the invocation's remaining time (`context.get_remaining_time_in_millis`), or None
    where there is no deadline.
    """
    limit = settings.max_response_bytes
    if len(items) > settings.max_batch_items:
        return jsonrpc_error(
            400, INVALID_REQUEST,
            f"Invalid Request: a batch of {len(items)} requests exceeds this server's limit of "
            f"{settings.max_batch_items}; send fewer at once",
        )
    refusals = [batch_item_refusal(item) for item in items]
    # What each item is answered with at worst, reserved before anything runs: its refusal, or the
    # longest of the errors it could get; nothing for a notification.
    fallbacks = [
        json.dumps(refusal, separators=(",", ":")).encode() if refusal is not None
        else max((_error(request_id(item), message) for message in _messages(limit)), key=len)
        if _is_request(item) else b""
        for item, refusal in zip(items, refusals)
    ]
    costs = [len(fallback) + 1 if fallback else 0 for fallback in fallbacks]  # + 1: the comma in the array
    reserve = sum(costs)
    used = 2  # the brackets
    if used + reserve > limit:
        return jsonrpc_error(
            400, INVALID_REQUEST,
            f"Invalid Request: the replies to this batch could not fit in {limit} bytes; "
            "send fewer requests at once",
        )
    parts: list[bytes] = []
    longest_ms = 0.0
    full = False
    skipped_notifications = 0
    for item, refusal, fallback, cost in zip(items, refusals, fallbacks, costs):
        reserve -= cost  # from here on `reserve` is what the items after this one may still need
        if refusal is not None:
            reply = fallback
        elif full or (remaining_ms is not None and remaining_ms() < settings.batch_time_reserve_ms + longest_ms):
            if not _is_request(item):
                skipped_notifications += 1
                continue
            reply = _error(request_id(item), NOT_RUN_FULL.format(limit=limit) if full
                           else NOT_RUN_NO_TIME)
        else:
            started = time.monotonic()
            reply = serve_item(item).body.strip()
            longest_ms = max(longest_ms, (time.monotonic() - started) * 1000)
            if not reply:
                continue  # a notification, accepted
            if used + len(reply) + 1 + reserve > limit:
                full = True  # the items after this one are not run: their work could not be returned
                reply = _error(request_id(item), RAN_TOO_LARGE.format(limit=limit))
        parts.append(reply)
        used += len(reply) + 1
    if skipped_notifications:
        logger.warning("Batch notifications not run", count=skipped_notifications)
    if not parts:
        return HttpResponse(202)
    return HttpResponse(200, [("content-type", "application/json")], b"[" + b",".join(parts) + b"]")


def _messages(limit: int) -> tuple[str, ...]:
    return (NOT_RUN_NO_TIME, *(m.format(limit=limit) for m in (NOT_RUN_FULL, RAN_TOO_LARGE)))
