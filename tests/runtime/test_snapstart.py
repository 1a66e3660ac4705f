"""SnapStart hooks: primed before the snapshot, connections and randomness repaired after restore.

Lambda's `snapshot_restore_py` exists only in its runtimes; here a stand-in module records what the
runtime registers, and the test plays Lambda: snapshot, then restore.
"""

from __future__ import annotations

import random
import sys
import types

from tests.runtime.lambda_events import FakeContext, response_json, v2_event


def test_prime_before_snapshot_and_repair_after_restore(monkeypatch, database_url):
    hooks: dict[str, list] = {"before": [], "after": []}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = hooks["before"].append
    fake.register_after_restore = hooks["after"].append
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    monkeypatch.setattr("mcp_lambda.snapstart._installed", False)
    monkeypatch.setenv("DATABASE_URL", database_url)

    from mcp_lambda import McpLambdaRuntime
    from messaging.server import mcp

    runtime = McpLambdaRuntime(mcp)
    try:
        assert hooks["before"][-1] == runtime.prime and len(hooks["after"]) == 1
        hooks["before"][-1]()  # Lambda: init done, snapshot now
        assert runtime.started, "the lifespan ran during priming, so it is in the snapshot"
        db = runtime._session_manager._lifespan_state.db
        snapshot_connection = db._connection
        assert snapshot_connection is not None

        state = random.getstate()
        hooks["after"][0]()  # Lambda: a copy of the snapshot starts
        assert db._connection is None, "the connection from before the snapshot was dropped"
        assert random.getstate() != state, "randomness re-seeded"

        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "post_message", "arguments": {"text": "after restore"}}}
        reply = response_json(runtime(v2_event(body, headers={"mcp-protocol-version": "2025-11-25"}), FakeContext()))
        assert reply["result"]["isError"] is False
        assert db._connection is not None and db._connection is not snapshot_connection
    finally:
        runtime.close()
