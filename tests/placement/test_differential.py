"""A placed server answers as the unplaced one: the same requests, the same replies.

The messaging and secure messaging servers are served twice, each time in a new empty database: once as declared
(every tool in the server's function) and once with every tool placed on a function of its own (the tool functions
local functions with their own execution environments, invoked through `mcp_lambda.placement` as Lambda would be).
Every reply (status, content, structured output, tool errors, validation errors, unknown tools, sign-in refusals
and what a signed-in caller's tools see of the claims) must be the same, once what is bound to the run is taken
out: the local server's URL (its port), timestamps, and a token's own times and id.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import ToolPlacement
from mcp_servers import MESSAGING, SECURE_MESSAGING
from tests.placement.conftest import call, placed, request

MESSAGING_CORPUS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("messaging", "tools/list", None),
    ("messaging", "post_message", {"text": "the first post"}),
    ("messaging", "post_message", {"text": "with a key", "idempotency_key": "key-1"}),
    ("messaging", "post_message", {"text": "with a key", "idempotency_key": "key-1"}),
    ("messaging", "post_message", {"text": "another text", "idempotency_key": "key-1"}),
    ("messaging", "post_message", {"text": "   "}),
    ("messaging", "post_message", {"text": "x" * 4001}),
    ("messaging", "post_message", {}),
    ("messaging", "post_message", {"text": 7}),
    ("messaging", "get_messages", {"limit": 2}),
    ("messaging", "get_messages", {}),
    ("messaging", "get_messages", {"limit": 0}),
    ("messaging", "no_such_tool", {}),
]
# (server, tool, arguments, who calls): an anonymous caller, a signed-in one without messages:write, one with it.
SECURE_CORPUS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("secure-messaging", "tools/list", None, "writer"),
    ("secure-messaging", "post_message", {"text": "anonymous"}, "anonymous"),
    ("secure-messaging", "post_message", {"text": "no scope"}, "reader"),
    ("secure-messaging", "post_message", {"text": "signed post"}, "writer"),
    ("secure-messaging", "post_message", {"text": ""}, "writer"),
    ("secure-messaging", "get_messages", {"limit": 3}, "anonymous"),
    ("secure-messaging", "get_messages", {"limit": 3}, "reader"),
    ("secure-messaging", "whoami", {}, "writer"),
]
PLACED = (
    placed(MESSAGING, ToolPlacement("post_message"), ToolPlacement("get_messages", memory_size=256)),
    placed(SECURE_MESSAGING, ToolPlacement("post_message", name="writes"), ToolPlacement("get_messages"),
           ToolPlacement("whoami", database=False)),
)
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_TOKEN_CLAIMS = ("exp", "iat", "nbf", "jti", "auth_time")


def replies(server: LocalServer) -> list[tuple[int, Any]]:
    """The corpus through `server`'s functions, normalised."""
    tokens = {"anonymous": None,
              "reader": server.issuer.mint("reader@company.com", scopes=("openid",)),
              "writer": server.issuer.mint("writer@company.com", scopes=("openid", "messages:write"))}
    answers: list[tuple[int, Any]] = []
    for name, tool, arguments in MESSAGING_CORPUS:
        answers.append(_send(server, name, tool, arguments, None))
    for name, tool, arguments, who in SECURE_CORPUS:
        answers.append(_send(server, name, tool, arguments, tokens[who]))
    return [_normal(answer, server.base_url) for answer in answers]


def _send(server: LocalServer, name: str, tool: str, arguments: dict[str, Any] | None,
          token: str | None) -> tuple[int, Any]:
    invoke = server.functions[name].invoke
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if arguments is None:
        return request(invoke, tool, {}, headers)
    return call(invoke, tool, arguments, headers)


def _normal(answer: tuple[int, Any], base_url: str) -> tuple[int, Any]:
    status, body = answer
    text = _TIMESTAMP.sub("<time>", json.dumps(body, sort_keys=True).replace(base_url, "<base>"))
    for claim in _TOKEN_CLAIMS:
        text = re.sub(rf'(\\?"{claim}\\?": )[^,}}]+', r"\1<claim>", text)
    return status, json.loads(text)


def test_placed_servers_answer_as_unplaced_ones(fresh_database):
    fresh_database()
    with LocalServer(port=0, servers=[MESSAGING, SECURE_MESSAGING]) as unplaced:
        expected = replies(unplaced)
    fresh_database()
    with LocalServer(port=0, servers=list(PLACED)) as placed_server:
        actual = replies(placed_server)
        # Every tool function served: the calls were forwarded, not run in the front.
        assert sorted(placed_server.tool_functions) == ["messaging-get-messages", "messaging-post-message",
                                                        "secure-messaging-get-messages", "secure-messaging-whoami",
                                                        "secure-messaging-writes"]
        assert all(function.handler.started for function in placed_server.tool_functions.values())
    assert actual == expected
    # The corpus means something: posts, duplicates, tool and validation errors and sign-in refusals are in it.
    statuses = [status for status, _ in expected]
    assert 401 in statuses and 403 in statuses
    results = [body.get("result", {}) for _, body in expected if isinstance(body, dict)]
    assert any(r.get("isError") for r in results) and any(r.get("structuredContent") for r in results)
    assert any((r.get("structuredContent") or {}).get("duplicate") is True for r in results)


def test_an_unplaced_server_runs_no_tool_function(fresh_database):
    """The opposite, so that the test above can fail: without placements nothing is forwarded."""
    fresh_database()
    with LocalServer(port=0, servers=[MESSAGING]) as unplaced:
        assert unplaced.tool_functions == {}
        status, body = call(unplaced.functions["messaging"].invoke, "post_message", {"text": "here"})
        assert status == 200 and body["result"]["isError"] is False
