"""Tracing as a function runs it, in a fresh interpreter each: off, the OpenTelemetry SDK is never imported;
on, the spans reach an OTLP/HTTP receiver (standing in for the ADOT collector extension) before the handler
returns, since Lambda freezes the environment right after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

SCRIPT = """
import json, os, sys
sys.path[:0] = ["servers", "."]
from tests.runtime.lambda_events import FakeContext, v2_event
from weather.server import handler
headers = {"mcp-protocol-version": "2025-11-25", "traceparent": "00-%s-00f067aa0ba902b7-01"}
for body in ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
             {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": {"name": "get_weather", "arguments": {"city": "Lisbon"}}}):
    assert handler(v2_event(body, headers=headers), FakeContext())["statusCode"] == 200
loaded = sorted({name for name in sys.modules if name.startswith(
    ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.propagators.aws", "mcp_lambda.tracing_export"))})
print(json.dumps(loaded), flush=True)
os._exit(0)  # no interpreter exit: nothing is flushed at exit, as nothing is when Lambda freezes the environment
""" % CLIENT_TRACE


def run(env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "OTEL_", "_X_AMZN"))}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**base, "POWERTOOLS_METRICS_DISABLED": "1", **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_tracing_off_imports_no_opentelemetry_sdk():
    assert run({}) == []
    assert run({"MCP_TRACING": "off"}) == []


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP trace receiver on loopback: what the ADOT collector extension listens as at localhost:4318."""
    received: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            assert self.path == "/v1/traces" and self.headers["content-type"] == "application/x-protobuf"
            received.append(ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_tracing_on_exports_each_invocations_spans_before_it_returns(receiver):
    endpoint, received = receiver

    loaded = run({"MCP_TRACING": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                  "POWERTOOLS_SERVICE_NAME": "weather", "AWS_LAMBDA_FUNCTION_NAME": "weather-fn",
                  "AWS_REGION": "eu-west-1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"})

    assert "opentelemetry.sdk.trace" in loaded and "mcp_lambda.tracing_export" in loaded
    assert len(received) == 2, "one export per invocation, each sent before the handler returned"
    spans = [(request.resource_spans[0].resource, span) for request in received
             for scope in request.resource_spans[0].scope_spans for span in scope.spans]
    assert sorted(span.name for _, span in spans) == ["POST /mcp", "POST /mcp", "tools/call get_weather",
                                                      "tools/list"]
    assert {span.trace_id.hex() for _, span in spans} == {CLIENT_TRACE}
    resource = {a.key: a.value for a in spans[0][0].attributes}
    assert resource["service.name"].string_value == "weather"
    assert resource["faas.name"].string_value == "weather-fn"
    assert resource["cloud.platform"].string_value == "aws_lambda"
    assert resource["faas.max_memory"].int_value == 1024 * 1024 * 1024
