"""One trace per invocation, as the OpenTelemetry SDK's in-memory exporter receives it: the span tree and the
attributes of a tools/call (through both dispatch paths and both revision families), of a sign-in refusal and
of a database error, on the real messaging functions and the real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from mcp_lambda.database import DatabaseConfig
from tests.runtime.lambda_events import FakeContext, response_json, v2_event
from tests.tracing.conftest import named, tree

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"
MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def post(text: str, version: str = "2025-11-25", **headers: str) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "post_message", "arguments": {"text": text}}
    all_headers = {"mcp-protocol-version": version, **headers}
    if version == MODERN:
        params["_meta"] = ENVELOPE
        all_headers.update({"mcp-method": "tools/call", "mcp-name": "post_message"})
    return v2_event({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}, headers=all_headers)


def values(span: ReadableSpan) -> list[str]:
    return [str(value) for value in (span.attributes or {}).values()]


@pytest.mark.parametrize("version", ["2025-11-25", MODERN])
@pytest.mark.parametrize("dispatch", ["direct", "full"])
def test_a_tool_call_is_one_trace_under_the_clients_span(spans, messaging, database_url, monkeypatch, dispatch,
                                                         version):
    monkeypatch.setenv("MCP_DIRECT_DISPATCH", "1" if dispatch == "direct" else "0")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY)
    text = f"a traced post {uuid.uuid4()}"

    reply = response_json(messaging(post(text, version, traceparent=TRACEPARENT), FakeContext()))

    assert reply["result"]["isError"] is False
    config = DatabaseConfig.from_url(database_url)
    database = config.database
    finished = spans.get_finished_spans()
    # Posting is one statement that draws the row's number and time, then inserts (WITH ... INSERT): its
    # operation is what it does, the INSERT, not its first keyword.
    assert tree(finished) == [(0, "POST /mcp"), (1, "tools/call post_message"), (2, f"INSERT {database}")]
    invocation, request, statement = (named(finished, n) for n in ("POST /mcp", "tools/call post_message",
                                                                     f"INSERT {database}"))
    assert {span.context.trace_id for span in finished} == {int(CLIENT_TRACE, 16)}, "the client's trace"

    # The invocation: the client's traceparent is its parent, Lambda's X-Ray trace a link
    assert invocation.kind == SpanKind.SERVER
    assert invocation.parent.span_id == int(CLIENT_SPAN, 16) and invocation.parent.is_remote
    assert [(link.context.trace_id, link.context.span_id, dict(link.attributes)) for link in invocation.links] == [
        (int("5759e988bd862e3fe1be46a994272793", 16), int("53995c3f42cd8ad8", 16), {"source": "x-ray-env"})]
    context = FakeContext()
    assert {key: invocation.attributes[key] for key in (
        "faas.trigger", "faas.invocation_id", "faas.coldstart", "cloud.resource_id", "cloud.account.id",
        "http.request.method", "http.route", "url.path", "http.response.status_code")} == {
        "faas.trigger": "http", "faas.invocation_id": context.aws_request_id, "faas.coldstart": True,
        "cloud.resource_id": context.invoked_function_arn, "cloud.account.id": "123456789012",
        "http.request.method": "POST", "http.route": "/mcp", "url.path": "/mcp", "http.response.status_code": 200}
    assert invocation.status.status_code == StatusCode.UNSET

    # The MCP request: the SDK's span, under the invocation, with the MCP conventions' attributes
    assert request.kind == SpanKind.SERVER and request.parent.span_id == invocation.context.span_id
    assert {key: request.attributes[key] for key in (
        "mcp.method.name", "gen_ai.tool.name", "gen_ai.operation.name", "mcp.protocol.version",
        "jsonrpc.request.id", "network.transport", "network.protocol.name")} == {
        "mcp.method.name": "tools/call", "gen_ai.tool.name": "post_message", "gen_ai.operation.name": "execute_tool",
        "mcp.protocol.version": version, "jsonrpc.request.id": "3", "network.transport": "tcp",
        "network.protocol.name": "http"}
    assert "error.type" not in request.attributes and not request.links

    # The statement: the database's conventions, never its text or parameters
    assert statement.kind == SpanKind.CLIENT and statement.parent.span_id == request.context.span_id
    assert dict(statement.attributes) == {
        "db.system.name": "postgresql", "db.operation.name": "INSERT", "db.namespace": database,
        "server.address": config.host or config.unix_sock, "server.port": config.port}
    assert not any(text in value or "messages" in value for span in finished for value in values(span))


def test_the_second_invocation_is_warm_and_a_trace_of_its_own(spans, messaging):
    messaging(post(f"first {uuid.uuid4()}"), FakeContext())
    messaging(post(f"second {uuid.uuid4()}"), FakeContext())

    invocations = [span for span in spans.get_finished_spans() if span.name == "POST /mcp"]
    assert [span.attributes["faas.coldstart"] for span in invocations] == [True, False]
    assert invocations[0].parent is None and invocations[1].parent is None, "no client context: roots"
    assert invocations[0].context.trace_id != invocations[1].context.trace_id
    assert not invocations[0].links, "no X-Ray trace in the environment, none in the event: no link"


def test_meta_context_parents_the_mcp_span_which_links_the_invocation(spans, messaging):
    """SEP-414: the SDK client puts its span's context in `params._meta`; with an HTTP-level traceparent too
    (an instrumented HTTP client's span, its child), each is the parent of its own layer, as the MCP
    conventions ask, and the MCP span links the invocation that carried it."""
    from mcp.shared._otel import inject_trace_context

    client = trace.get_tracer("test-client")
    with client.start_as_current_span("tools/call post_message", kind=SpanKind.CLIENT) as mcp_client:
        meta: dict[str, Any] = {}
        inject_trace_context(meta)  # as the SDK's client does for every request
        with client.start_as_current_span("POST", kind=SpanKind.CLIENT) as http_client:
            header: dict[str, str] = {}
            from opentelemetry.propagate import inject

            inject(header)
    event = v2_event({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "post_message", "arguments": {"text": f"meta {uuid.uuid4()}"}, "_meta": meta}},
        headers={"mcp-protocol-version": "2025-11-25", "traceparent": header["traceparent"]})
    spans.clear()

    messaging(event, FakeContext())

    finished = spans.get_finished_spans()
    invocation, request = named(finished, "POST /mcp"), named(finished, "tools/call post_message")
    assert invocation.parent.span_id == http_client.get_span_context().span_id
    assert request.parent.span_id == mcp_client.get_span_context().span_id
    assert [link.context.span_id for link in request.links] == [invocation.context.span_id]
    assert {span.context.trace_id for span in finished} == {mcp_client.get_span_context().trace_id}


def test_meta_alone_joins_the_invocation_to_the_clients_trace(spans, messaging):
    """A client that puts its context only in `_meta` (no HTTP instrumentation) still gets one trace."""
    meta = {"traceparent": TRACEPARENT}
    event = v2_event({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "get_messages", "arguments": {"limit": 1}, "_meta": meta}}, headers={"mcp-protocol-version": "2025-06-18"})

    messaging(event, FakeContext())

    finished = spans.get_finished_spans()
    invocation, request = named(finished, "POST /mcp"), named(finished, "tools/call get_messages")
    assert {span.context.trace_id for span in finished} == {int(CLIENT_TRACE, 16)}
    assert invocation.parent.span_id == request.parent.span_id == int(CLIENT_SPAN, 16)
    assert [link.context.span_id for link in request.links] == [invocation.context.span_id]


def test_lambdas_trace_header_is_linked_when_the_environment_has_none(spans, messaging):
    event = post(f"header {uuid.uuid4()}", **{"x-amzn-trace-id": XRAY})

    messaging(event, FakeContext())

    invocation = named(spans.get_finished_spans(), "POST /mcp")
    assert [(link.context.span_id, dict(link.attributes)) for link in invocation.links] == [
        (int("53995c3f42cd8ad8", 16), {"source": "x-ray-header"})]


def test_a_client_that_did_not_sample_gets_no_spans(spans, messaging):
    messaging(post(f"unsampled {uuid.uuid4()}", traceparent=f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"), FakeContext())

    assert spans.get_finished_spans() == ()


@pytest.mark.parametrize("sql, operation", [
    ("SELECT id FROM messages", "SELECT"),
    ("insert into messages (content) values ('x')", "INSERT"),
    ("WITH recent AS (SELECT id FROM messages) SELECT count(*) FROM recent", "SELECT"),
    ("WITH new AS (SELECT 1) , inserted AS (INSERT INTO t SELECT 1 FROM new RETURNING 1) SELECT 1", "INSERT"),
    ("WITH gone AS (DELETE FROM t RETURNING 1) SELECT count(*) FROM gone", "DELETE"),
    ("", "UNKNOWN"),
])
def test_a_statements_operation_is_what_it_does(sql: str, operation: str) -> None:
    from mcp_lambda.database import _operation

    assert _operation(sql) == operation
