"""`post_message` through the messaging handler against a raw pg8000 INSERT on the same server.

Both write the same row shape to the same table in a scratch database (created and dropped here), one
statement per message, autocommit, on one connection: the gap is the whole MCP-on-Lambda path (event,
guards, SDK, validation, idempotency key, structured result). The two alternate message by message and
each figure is the median time of one message: a commit's disk flush varies a lot on a shared machine,
and alternating lets both sides meet the same conditions.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(posts: int) -> tuple[float, float]:
    """Median seconds per message: (raw INSERT, handler post_message)."""
    sys.path[:0] = [str(ROOT / "servers"), str(ROOT)]
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    import pg8000.native

    from mcp_lambda.local.database import embedded_url, ensure_database, migrate
    from mcp_lambda import McpLambdaRuntime
    from mcp_lambda.database import DatabaseConfig, connect

    admin_url = os.environ.get("DATABASE_URL") or embedded_url(ROOT / ".local" / "pgdata-bench")
    name = f"mcp_bench_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin_url, name)
    try:
        migrate(url, [ROOT / "servers" / "messaging" / "migrations"])
        os.environ["DATABASE_URL"] = url
        from messaging.server import mcp
        from tests.runtime.lambda_events import FakeContext, v2_event

        handler = McpLambdaRuntime(mcp)
        raw = connect(DatabaseConfig.from_url(url))
        headers = {"mcp-protocol-version": "2025-11-25"}

        def via_handler(i: int) -> None:
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "post_message", "arguments": {"text": f"bench {i}"}}}
            response = handler(v2_event(body, headers=headers), FakeContext())
            assert '"isError":false' in response["body"], response

        def via_insert(i: int) -> None:
            raw.run("INSERT INTO messages (content, author, idempotency_key) VALUES (:t, NULL, :k) "
                    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, content, author, created_at",
                    t=f"raw {i}", k=str(uuid.uuid4()))

        via_handler(-1)  # cold start and connection outside the timing
        raw_times, handler_times = [], []
        for i in range(posts):
            for target, times in ((via_insert, raw_times), (via_handler, handler_times)):
                started = time.perf_counter()
                target(i)
                times.append(time.perf_counter() - started)
        handler.close()
        raw.close()
        return statistics.median(raw_times), statistics.median(handler_times)
    finally:
        admin = connect(DatabaseConfig.from_url(admin_url))
        admin.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(name)} WITH (FORCE)")
        admin.close()


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
