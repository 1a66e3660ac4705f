"""Provisioned concurrency pre-pays the first request: with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency
the handler primes while its module is imported (Lambda's init phase), as before a SnapStart snapshot; in any
other environment nothing starts before the first request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.lambda_events import FakeContext, response_json, v2_event

ROOT = Path(__file__).resolve().parents[2]

IMPORT_THEN_CALL = """
import json, sys
sys.path[:0] = ["servers", "."]
from messaging.server import handler  # Lambda's init phase: the module is imported, the handler created
state = handler._session_manager._lifespan_state if handler.started else None
connection = state.db._connection if state is not None else None
before = {"started": handler.started, "loop": handler._loop is not None, "connected": connection is not None}
task = handler._lifespan_task
from tests.runtime.lambda_events import FakeContext, response_json, v2_event
body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_messages", "arguments": {}}}
reply = response_json(handler(v2_event(body, headers={"mcp-protocol-version": "2025-11-25"}), FakeContext()))
after = {"error": reply["result"]["isError"], "same_lifespan": handler._lifespan_task is task,
         "same_connection": handler._session_manager._lifespan_state.db._connection is connection}
print("RESULT " + json.dumps({"before": before, "after": after}), flush=True)
"""


def initialize(initialization_type: str | None, database_url: str) -> tuple[dict, list[dict]]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_INITIALIZATION_TYPE"}
    env.update({"DATABASE_URL": database_url, "POWERTOOLS_METRICS_DISABLED": "1"})
    if initialization_type:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization_type
    done = subprocess.run([sys.executable, "-c", IMPORT_THEN_CALL], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("RESULT ")).removeprefix("RESULT "))
    return result, [json.loads(line) for line in lines if line.startswith("{")]


def test_a_provisioned_environment_primes_during_init(database_url):
    result, logs = initialize("provisioned-concurrency", database_url)

    assert result["before"] == {"started": True, "loop": True, "connected": True}, "lifespan entered at import"
    primed = [line for line in logs if line["message"] == "Primed"]
    assert [(line["status"], line["initialization"]) for line in primed] == [(200, "provisioned-concurrency")], (
        "one tools/list served before any invocation")
    assert "correlation_id" not in primed[0], "logged outside any invocation"
    assert result["after"] == {"error": False, "same_lifespan": True, "same_connection": True}, (
        "the first request used what init prepared")


@pytest.mark.parametrize("initialization_type", [None, "on-demand"])
def test_other_environments_start_nothing_at_import(database_url, initialization_type):
    result, logs = initialize(initialization_type, database_url)

    assert result["before"] == {"started": False, "loop": False, "connected": False}
    assert not [line for line in logs if line["message"] == "Primed"]
    assert result["after"]["error"] is False


def test_priming_passes_sign_in_and_reads_its_configuration(monkeypatch, database_url):
    """A server with an access policy refuses an anonymous tools/list; priming does the SDK's work regardless,
    and reads the sign-in configuration (token validation imported) before any request."""
    from mcp_lambda import McpLambdaRuntime
    from secure_messaging.server import ACCESS, mcp

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MCP_AUTH_CONFIG", json.dumps({"resource": "https://secure.example/mcp", "providers": [
        {"issuer": "https://issuer.example", "audiences": ["client"]}]}))
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    listed: list[int] = []
    monkeypatch.setattr("mcp_lambda.runtime.logger.info",
                        lambda message, **keys: listed.append(keys["status"]) if message == "Primed" else None)

    runtime = McpLambdaRuntime(mcp, access=ACCESS)
    try:
        assert runtime.started and runtime._gate is not None
        assert listed == [200]
    finally:
        runtime.close()


def test_a_failed_priming_leaves_the_start_to_the_first_request(monkeypatch):
    from mcp_lambda import McpLambdaRuntime
    from tests.runtime.sample_server import build

    server, probe, _ = build()
    probe.fail_next_starts = 1  # the lifespan's dependency is down during init
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")

    runtime = McpLambdaRuntime(server)  # does not raise: Lambda's init phase must not fail over it
    try:
        assert not runtime.started and probe.entered == 0
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "lifespan_count", "arguments": {}}}
        reply = response_json(runtime(v2_event(body, headers={"mcp-protocol-version": "2025-11-25"}), FakeContext()))
        assert reply["result"]["structuredContent"]["result"] == 1 and probe.entered == 1
    finally:
        runtime.close()
