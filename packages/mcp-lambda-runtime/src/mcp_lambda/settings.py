"""Runtime configuration, read once per execution environment from environment variables.

Every variable is set by the constructs in `mcp_lambda_cdk/` (or by the local dev server) and documented
in the README; the defaults suit a function behind a Function URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from mcp_lambda import contract as c

# Lambda's synchronous invocation payload limit is 6 MB for the request and for the response
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). The response envelope
# (status, headers, JSON quoting) must fit too, hence the margin.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = LAMBDA_PAYLOAD_LIMIT - 64 * 1024
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
# A 2025-03-26 batch multiplies the work and the reply of one small request (see batch.py).
DEFAULT_MAX_BATCH_ITEMS = 20
DEFAULT_BATCH_TIME_RESERVE_MS = 1000


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    mcp_path: str = c.DEFAULT_MCP_PATH
    """MCP_PATH: the path the MCP endpoint answers on (the bare root `/` is always accepted too)."""

    allowed_hosts: tuple[str, ...] = ()
    """MCP_ALLOWED_HOSTS: extra Host values to accept, comma-separated (`host:*` allows any port).
    The endpoint's own domain from the event's request context is always accepted."""

    allowed_origins: tuple[str, ...] = ()
    """MCP_ALLOWED_ORIGINS: browser Origins allowed to call the server, comma-separated (`origin:*` for
    any port). Requests without an Origin (non-browser clients) are not affected."""

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """MCP_MAX_REQUEST_BYTES: larger request bodies are refused with 413 before parsing."""

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """MCP_MAX_RESPONSE_BYTES: larger results become a JSON-RPC error instead of a failed invocation."""

    max_batch_items: int = DEFAULT_MAX_BATCH_ITEMS
    """MCP_MAX_BATCH_ITEMS: a 2025-03-26 batch with more items is refused whole, before any item runs."""

    batch_time_reserve_ms: int = DEFAULT_BATCH_TIME_RESERVE_MS
    """MCP_BATCH_TIME_RESERVE_MS: no further batch item is started when the invocation has less time left
    than this plus the longest item so far; the items left out are answered with an error."""

    request_state_keys: tuple[str, ...] = ()
    """MCP_REQUEST_STATE_KEYS: comma-separated secrets (>= 32 bytes each; the first seals) shared by all
    instances, so that a 2026-07-28 `requestState` minted by one instance is accepted by another."""

    request_state_secret_arn: str | None = None
    """MCP_REQUEST_STATE_SECRET_ARN: the same keys, read from Secrets Manager (a JSON list or a string)."""

    direct_dispatch: bool = True
    """MCP_DIRECT_DISPATCH: `0` sends every request through the SDK's full Streamable HTTP app instead of
    handing plain requests to its request kernel directly (see direct.py); the answers are the same."""

    tracing: str | None = None
    """MCP_TRACING: `otlp` for a trace per invocation, exported over OTLP/HTTP (see tracing.py); unset, empty
    or `off`: no tracing, and the OpenTelemetry SDK is not even imported."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if env is None else env
        tracing = (env.get(c.MCP_TRACING) or "").strip().lower()
        if tracing not in ("", "off", c.TRACING_OTLP):
            raise ValueError(f"{c.MCP_TRACING} must be {c.TRACING_OTLP} or off, not {tracing!r}")
        return cls(
            mcp_path=env.get(c.MCP_PATH, c.DEFAULT_MCP_PATH) or c.DEFAULT_MCP_PATH,
            allowed_hosts=_csv(env.get(c.MCP_ALLOWED_HOSTS)),
            allowed_origins=_csv(env.get(c.MCP_ALLOWED_ORIGINS)),
            max_request_bytes=int(env.get(c.MCP_MAX_REQUEST_BYTES, DEFAULT_MAX_REQUEST_BYTES)),
            max_response_bytes=int(env.get(c.MCP_MAX_RESPONSE_BYTES, DEFAULT_MAX_RESPONSE_BYTES)),
            max_batch_items=int(env.get(c.MCP_MAX_BATCH_ITEMS, DEFAULT_MAX_BATCH_ITEMS)),
            batch_time_reserve_ms=int(env.get(c.MCP_BATCH_TIME_RESERVE_MS, DEFAULT_BATCH_TIME_RESERVE_MS)),
            request_state_keys=_csv(env.get(c.MCP_REQUEST_STATE_KEYS)),
            request_state_secret_arn=env.get(c.MCP_REQUEST_STATE_SECRET_ARN) or None,
            direct_dispatch=env.get(c.MCP_DIRECT_DISPATCH, "1").strip().lower() not in ("0", "false", "no", "off"),
            tracing=tracing if tracing == c.TRACING_OTLP else None,
        )
