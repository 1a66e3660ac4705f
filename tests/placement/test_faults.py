"""A tool function that cannot answer is a tool error that says why, never a broken reply.

The front invokes its tool functions with boto3's Lambda client, as on AWS, here against a stand-in of Lambda's
Invoke API on loopback (`AWS_ENDPOINT_URL_LAMBDA`) that answers as Lambda does when a function is throttled
(429 TooManyRequestsException), times out or crashes (200 with `X-Amz-Function-Error: Unhandled`), or does not
exist (404). A tool function also refuses what its front would never send.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mcp_lambda import contract as c
from mcp_lambda import placement
from mcp_lambda.local.lambda_bridge import LocalFunction
from tests.placement.conftest import call
from tests.runtime.lambda_events import v2_event

# function name -> (status, headers, body), as Lambda answers a synchronous Invoke
FAULTS = {
    "throttled": (429, {"x-amzn-ErrorType": "TooManyRequestsException"},
                  {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User",
                   "message": "Rate Exceeded."}),
    "timed-out": (200, {"X-Amz-Function-Error": "Unhandled"},
                  {"errorMessage": "2026-12-07T00:00:03.000Z 5f0e Task timed out after 3.00 seconds"}),
    "crashed": (200, {"X-Amz-Function-Error": "Unhandled"},
                {"errorType": "Runtime.ExitError", "errorMessage": "RequestId: 5f0e Error: Runtime exited with error: "
                 "signal: killed\nTraceback (most recent call last): secret detail"}),
    "missing": (404, {"x-amzn-ErrorType": "ResourceNotFoundException"},
                {"Type": "User", "message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing"}),
}


@pytest.fixture
def lambda_api(monkeypatch) -> Iterator[list[dict]]:
    """Lambda's Invoke API on loopback, answering each function's fault; yields the events it received."""
    received: list[dict] = []

    class Api(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            name = self.path.split("/functions/")[1].split("/")[0].split("%3A")[0].split(":")[0]
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            status, headers, body = FAULTS[name]
            payload = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"content-type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{httpd.server_address[1]}")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(placement, "_lambda", None)  # a client for this endpoint
    yield received
    httpd.shutdown()
    httpd.server_close()


def front(function: str, database_url: str) -> LocalFunction:
    """The messaging server's function with get_messages placed on `function` (through Lambda, not locally)."""
    from messaging.server import mcp

    placement.install(mcp, ["get_messages"])
    return LocalFunction("messaging", "messaging.server:handler", environment={
        c.DATABASE_URL: database_url, c.MCP_TOOL_FUNCTIONS: json.dumps({"get_messages": f"{function}:live"})})


@pytest.mark.parametrize(("function", "says"), [
    ("throttled", "its function is throttled (TooManyRequestsException): too many calls at once; nothing ran, "
                  "retry shortly"),
    ("timed-out", "its function timed out before it answered; the tool may or may not have run"),
    ("crashed", "its function failed (Runtime.ExitError); the tool may or may not have run"),
    ("missing", "its function could not be invoked (ResourceNotFoundException); nothing ran"),
])
def test_a_failing_tool_function_is_a_tool_error_that_says_which(lambda_api, database_url, function, says):
    messaging = front(function, database_url)
    try:
        status, body = call(messaging.invoke, "get_messages", {"limit": 1})
        assert status == 200
        assert body["result"] == {"content": [{"type": "text", "text": f"Error executing tool get_messages: {says}"}],
                                  "isError": True}
        # The call went to Lambda, with the validated arguments, and never the caller's token.
        (event,) = lambda_api
        forwarded = event[c.TOOL_CALL_EVENT_KEY]
        assert forwarded["tool"] == "get_messages" and forwarded["params"]["arguments"] == {"limit": 1}
        assert all(name != "authorization" for name, _ in forwarded["headers"])
        # Unplaced tools still run in the front.
        status, body = call(messaging.invoke, "post_message", {"text": "still here"})
        assert body["result"]["isError"] is False and len(lambda_api) == 1
    finally:
        messaging.close()


def test_invalid_arguments_are_refused_by_the_front_and_never_forwarded(lambda_api, database_url):
    messaging = front("throttled", database_url)
    try:
        status, body = call(messaging.invoke, "get_messages", {"limit": 0})
        assert body["result"]["isError"] is True and "greater than or equal to 1" in body["result"]["content"][0]["text"]
        assert lambda_api == []
    finally:
        messaging.close()


def test_a_tool_function_refuses_what_its_front_would_not_send(database_url):
    from messaging.server import mcp

    placement.install(mcp, ["post_message"])
    tool_function = LocalFunction("messaging-post-message", "messaging.server:handler", environment={
        c.DATABASE_URL: database_url, c.MCP_TOOL_FUNCTION_TOOLS: "post_message"})
    try:
        # An HTTP request (a tool function has no URL; only its front may invoke it)...
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "post_message", "arguments": {"text": "straight in"}}}
        http = tool_function.invoke(v2_event(body, headers={"mcp-protocol-version": "2025-11-25"}))
        assert http["statusCode"] == 403 and json.loads(http["body"]) == {"jsonrpc": "2.0", "id": None, "error": {
            "code": -32600, "message": "Forbidden: this function runs only calls of its tools, forwarded by its front"}}
        rest = tool_function.invoke({"httpMethod": "POST", "path": "/mcp", "headers": {}, "body": json.dumps(body)})
        assert rest["statusCode"] == 403 and "multiValueHeaders" in rest  # a REST API's payload format 1.0
        # ... an event that is neither a forwarded call nor an HTTP request...
        assert tool_function.invoke({"source": "aws.events"}) == {
            "refused": "this function runs only calls of its tools, forwarded by its front"}
        # ... and a call of a tool that is not its own.
        other = {c.TOOL_CALL_EVENT_KEY: {"tool": "get_messages", "id": 1, "params": {"name": "get_messages"}}}
        assert tool_function.invoke(other) == {"refused": "this function runs only calls of its tools, forwarded by "
                                                          "its front"}
    finally:
        tool_function.close()
