"""Per-tool EMF metrics with stable names, and JSON logs correlated with the Lambda request id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.runtime.lambda_events import FakeContext, v2_event
from tests.runtime.sample_server import build

LEGACY = {"mcp-protocol-version": "2025-06-18"}


def emf_lines(text: str) -> list[dict]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def call(handler, name, arguments):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    return handler(v2_event(body, headers=LEGACY), FakeContext(aws_request_id="req-metrics-1"))


def test_tool_calls_emit_calls_errors_and_latency_per_tool(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    _, _, handler = build()
    try:
        capsys.readouterr()
        call(handler, "echo", {"text": "hi"})
        call(handler, "explode", {})
        call(handler, "invented-name-1234", {})
        emitted = emf_lines(capsys.readouterr().out)
    finally:
        handler.close()
    assert [(e["tool"], e["ToolCalls"], e["ToolErrors"]) for e in emitted] == [
        ("echo", [1.0], [0.0]),
        ("explode", [1.0], [1.0]),
        ("(unknown)", [1.0], [1.0]),
    ]
    directive = emitted[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "McpServers"
    assert ["service", "tool"] in directive["Dimensions"]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "ToolCalls": "Count", "ToolErrors": "Count", "ToolLatency": "Milliseconds"}
    assert all(e["ToolLatency"][0] >= 0 for e in emitted)


def test_requests_without_tool_calls_emit_no_metrics(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    _, _, handler = build()
    try:
        capsys.readouterr()
        handler(v2_event({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=LEGACY), FakeContext())
        assert emf_lines(capsys.readouterr().out) == []
    finally:
        handler.close()


LOG_SCRIPT = """
import sys
sys.path[:0] = ["servers", "."]
from tests.runtime.lambda_events import FakeContext, v2_event
from tests.runtime.sample_server import build
_, _, handler = build()
for name in ("echo", "explode"):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {"text": "t"}}}
    handler(v2_event(body, headers={"mcp-protocol-version": "2025-06-18"}), FakeContext(aws_request_id="req-log-42"))
handler.close()
"""


def test_log_lines_are_json_with_the_lambda_request_id():
    """In a fresh process, as on Lambda: every line on stdout is one JSON object with the request id."""
    done = subprocess.run([sys.executable, "-c", LOG_SCRIPT], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2], env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "1"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines, "the SDK's lifecycle lines and the tool failure are logged"
    assert {line["correlation_id"] for line in lines} == {"req-log-42"}
    assert not any("Terminating session" in line["message"] for line in lines)
    failure = next(line for line in lines if line["level"] == "ERROR")
    assert "explode" in failure["message"] and "secret internal detail" in failure["exception"]
