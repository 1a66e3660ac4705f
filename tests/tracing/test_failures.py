"""The traces of what goes wrong: a sign-in refusal (the SDK never sees the request) and a failing database
statement (a real PostgreSQL error, and an unreachable server), with no token, statement or value in them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from mcp.server.mcpserver import Context
from opentelemetry.trace import SpanKind, StatusCode

from mcp_lambda import McpLambdaRuntime, new_server
from mcp_lambda.database import DatabaseConfig, DatabaseState, database_lifespan
from mcp_lambda.local.oidc_issuer import serve_issuer
from tests.runtime.lambda_events import DOMAIN, FakeContext, response_json, v2_event
from tests.tracing.conftest import named, tree

AUDIENCE = "mcp-test-client"
SECRET = "hunter2-do-not-trace"


@pytest.fixture(scope="module")
def issuer():
    with serve_issuer() as running:
        yield running


@pytest.fixture
def secure(issuer, database_url, monkeypatch):
    from secure_messaging.server import ACCESS, mcp

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MCP_AUTH_CONFIG", json.dumps({"resource": f"https://{DOMAIN}/mcp", "providers": [
        {"issuer": issuer.issuer, "audiences": [AUDIENCE], "allowed_domains": ["company.com"]}]}))
    runtime = McpLambdaRuntime(mcp, access=ACCESS)
    yield runtime
    runtime.close()


def post(text: str, token: str | None = None) -> dict[str, Any]:
    headers = {"mcp-protocol-version": "2025-11-25", **({"authorization": f"Bearer {token}"} if token else {})}
    return v2_event({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                     "params": {"name": "post_message", "arguments": {"text": text}}}, headers=headers)


def every_value(finished) -> str:
    return json.dumps([[dict(s.attributes or {}), s.status.description, [dict(e.attributes or {}) for e in s.events]]
                       for s in finished], default=str)


def test_a_sign_in_refusal_is_the_invocation_and_the_check(spans, secure):
    reply = response_json(secure(post("anonymous"), FakeContext()))

    assert reply["error"]["code"] == -32001
    finished = spans.get_finished_spans()
    assert tree(finished) == [(0, "POST /mcp"), (1, "sign-in")], "the SDK never ran: no MCP span"
    invocation, check = named(finished, "POST /mcp"), named(finished, "sign-in")
    assert {key: invocation.attributes[key] for key in (
        "http.response.status_code", "rpc.response.status_code", "error.type")} == {
        "http.response.status_code": 401, "rpc.response.status_code": "-32001", "error.type": "-32001"}
    assert (invocation.status.status_code, invocation.status.description) == (
        StatusCode.ERROR, "Unauthorized: sign-in required")
    assert check.kind == SpanKind.INTERNAL and check.parent.span_id == invocation.context.span_id
    assert dict(check.attributes) == {"mcp_lambda.sign_in.caller": "anonymous", "error.type": "missing_token",
                                      "http.response.status_code": 401}
    assert check.status.status_code == StatusCode.ERROR


def test_a_bad_token_is_refused_with_its_reason_and_never_traced(spans, secure, issuer):
    token = issuer.mint("alice@company.com", audience="someone-else")

    reply = response_json(secure(post("wrong audience", token), FakeContext()))

    assert reply["error"]["code"] == -32001
    finished = spans.get_finished_spans()
    check = named(finished, "sign-in")
    assert check.attributes["error.type"] not in ("missing_token", "refused"), "the validator's own reason code"
    assert check.attributes["mcp_lambda.sign_in.caller"] == "anonymous"
    assert token not in every_value(finished) and token.split(".")[1] not in every_value(finished)


def test_a_signed_in_call_passes_the_check_into_the_tool(spans, secure, issuer):
    token = issuer.mint("alice@company.com", audience=AUDIENCE)

    reply = response_json(secure(post(f"signed in {uuid.uuid4()}", token), FakeContext()))

    assert reply["result"]["isError"] is False
    finished = spans.get_finished_spans()
    names = [name for _, name in tree(finished)]
    assert names[:3] == ["POST /mcp", "sign-in", "tools/call post_message"]
    assert [depth for depth, _ in tree(finished)][:3] == [0, 1, 1]
    check = named(finished, "sign-in")
    assert dict(check.attributes) == {"mcp_lambda.sign_in.caller": "signed_in"}
    assert check.status.status_code == StatusCode.UNSET
    assert token not in every_value(finished)


def broken(database_url: str, monkeypatch) -> McpLambdaRuntime:
    """A function whose one tool runs a statement the database refuses (no such table)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    server = new_server("broken", lifespan=database_lifespan)

    @server.tool()
    async def count_secrets(ctx: Context[DatabaseState, Any]) -> int:
        """Counts rows of a table that does not exist."""
        db = ctx.request_context.lifespan_context.db
        return db.run("SELECT count(*) FROM no_such_table WHERE secret = :secret", secret=SECRET)[0][0]

    return McpLambdaRuntime(server)


@pytest.mark.parametrize("failure", ["refused", "unreachable"])
def test_a_database_error_is_on_the_statement_and_the_tool_call(spans, database_url, monkeypatch, failure):
    url = database_url if failure == "refused" else "postgresql://postgres@127.0.0.1:9/none"
    runtime = broken(url, monkeypatch)
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "count_secrets", "arguments": {}}}
        reply = response_json(runtime(v2_event(body, headers={"mcp-protocol-version": "2025-11-25"}), FakeContext()))
    finally:
        runtime.close()

    assert reply["result"]["isError"] is True
    config = DatabaseConfig.from_url(url)
    finished = spans.get_finished_spans()
    assert tree(finished) == [(0, "POST /mcp"), (1, "tools/call count_secrets"), (2, f"SELECT {config.database}")]
    request, statement = named(finished, "tools/call count_secrets"), named(finished, f"SELECT {config.database}")
    assert request.attributes["error.type"] == "tool_error" and request.status.status_code == StatusCode.ERROR
    expected = ({"error.type": "42P01", "db.response.status_code": "42P01"} if failure == "refused"
                else {"error.type": "DatabaseUnavailable"})
    assert {key: statement.attributes.get(key) for key in ("error.type", "db.response.status_code")} == {
        "db.response.status_code": None, **expected}
    assert statement.status.status_code == StatusCode.ERROR
    assert statement.attributes["db.operation.name"] == "SELECT"
    assert SECRET not in every_value(finished) and "no_such_table" not in every_value(finished)
    invocation = named(finished, "POST /mcp")
    assert invocation.attributes["http.response.status_code"] == 200 and "error.type" not in invocation.attributes
