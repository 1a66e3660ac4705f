"""A placed tool's call is one trace: the tool function's invocation continues the front's.

The front carries its span's W3C context in the forwarded call's `_meta`; the tool function's invocation span is
its child (not a new trace), and the tool function's own spans (the SDK's span of the call, the database
statement) hang under that invocation. Spans arrive in the OpenTelemetry SDK's in-memory exporter, from the
messaging server placed as `mcp-lambda serve` places it, against the real PostgreSQL.
"""

from __future__ import annotations

from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import ToolPlacement
from mcp_servers import MESSAGING
from tests.placement.conftest import call, placed
from tests.tracing.conftest import exporter, spans, tree  # noqa: F401 (fixtures)
from tests.runtime.lambda_events import v2_event


def test_the_tool_functions_invocation_is_a_child_of_the_fronts_call(fresh_database, spans):  # noqa: F811
    fresh_database()
    with LocalServer(port=0, servers=[placed(MESSAGING, ToolPlacement("post_message"))]) as server:
        status, body = call(server.functions["messaging"].invoke, "post_message", {"text": "traced"})
        assert status == 200 and body["result"]["isError"] is False
    finished = spans.get_finished_spans()
    assert len({span.context.trace_id for span in finished}) == 1, "one trace, front and tool function"
    *calls, (depth, statement) = tree(finished)
    assert calls == [
        (0, "POST /mcp"),                           # the front's invocation
        (1, "tools/call post_message"),             # the SDK's span of the call, in the front: it forwards
        (2, "mcp-messaging-post-message"),          # the tool function's invocation (its function's name)
        (3, "tools/call post_message"),             # the SDK's span of the replayed call
    ]
    assert depth == 4 and statement.startswith("INSERT "), "the tool's statement, in the tool function"


def test_an_unplaced_call_has_no_tool_function_invocation(fresh_database, spans):  # noqa: F811
    """The opposite, so that the test above can fail: the same call in the front is one invocation."""
    fresh_database()
    with LocalServer(port=0, servers=[MESSAGING]) as server:
        server.functions["messaging"].invoke(v2_event({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "post_message", "arguments": {"text": "traced"}}}, headers={"mcp-protocol-version": "2025-11-25"}))
    *calls, (depth, statement) = tree(spans.get_finished_spans())
    assert calls == [(0, "POST /mcp"), (1, "tools/call post_message")] and depth == 2
