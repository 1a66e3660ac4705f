"""The scope matrix: each tool for each kind of caller, and tools/list showing only what may be called."""

from __future__ import annotations

import pytest

from tests.auth.conftest import AUDIENCE
from tests.runtime.lambda_events import FakeContext, response_json, v2_event

LEGACY = {"mcp-protocol-version": "2025-11-25"}
ARGUMENTS = {"post_message": {"text": "matrix"}, "get_messages": {"limit": 1}, "whoami": {}}

CALLERS = {
    "anonymous": lambda issuer: None,
    "signed in, no scope": lambda issuer: issuer.mint("carol@company.com", audience=AUDIENCE, scopes=()),
    "signed in, write scope": lambda issuer: issuer.mint("dave@company.com", audience=AUDIENCE,
                                                         scopes=("messages:write",)),
    "write via a group": lambda issuer: issuer.mint("erin@company.com", audience=AUDIENCE, scopes=(),
                                                    groups=["messages:write"]),
}
# caller -> tool -> expected HTTP status
MATRIX = {
    "anonymous": {"post_message": 401, "get_messages": 200, "whoami": 401},
    "signed in, no scope": {"post_message": 403, "get_messages": 200, "whoami": 200},
    "signed in, write scope": {"post_message": 200, "get_messages": 200, "whoami": 200},
    "write via a group": {"post_message": 200, "get_messages": 200, "whoami": 200},
}
VISIBLE = {
    "anonymous": ["get_messages"],
    "signed in, no scope": ["get_messages", "whoami"],
    "signed in, write scope": ["get_messages", "post_message", "whoami"],
    "write via a group": ["get_messages", "post_message", "whoami"],
}


def request(handler, token, body, headers=LEGACY):
    headers = dict(headers)
    if token:
        headers["authorization"] = f"Bearer {token}"
    return handler(v2_event(body, headers=headers), FakeContext())


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("tool", ["post_message", "get_messages", "whoami"])
def test_scope_matrix(secure, issuer, admin, caller, tool):
    before = admin.run("SELECT count(*) FROM messages")[0][0]
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": ARGUMENTS[tool]}}
    response = request(secure, CALLERS[caller](issuer), body)
    expected = MATRIX[caller][tool]
    assert response["statusCode"] == expected
    wrote = admin.run("SELECT count(*) FROM messages")[0][0] - before
    assert wrote == (1 if tool == "post_message" and expected == 200 else 0)
    if expected == 403:
        challenge = response["headers"]["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge and 'scope="messages:write"' in challenge


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("revision", ["2025-11-25", "2026-07-28"])
def test_tools_list_shows_each_caller_what_it_may_call(secure, issuer, caller, revision):
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    headers = {"mcp-protocol-version": revision}
    if revision == "2026-07-28":
        body["params"] = {"_meta": {"io.modelcontextprotocol/protocolVersion": revision,
                                    "io.modelcontextprotocol/clientCapabilities": {}}}
        headers["mcp-method"] = "tools/list"
    response = request(secure, CALLERS[caller](issuer), body, headers)
    assert response["statusCode"] == 200
    assert sorted(t["name"] for t in response_json(response)["result"]["tools"]) == VISIBLE[caller]


def test_whoami_returns_the_verified_claims(secure, issuer):
    token = issuer.mint("frank@company.com", audience=AUDIENCE, name="Frank")
    body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    claims = response_json(request(secure, token, body))["result"]["structuredContent"]
    assert claims == {"email": "frank@company.com", "sub": "dev|frank@company.com", "name": "Frank",
                      "iss": issuer.issuer}


def test_the_author_comes_from_the_token_not_the_arguments(secure, issuer, admin):
    token = issuer.mint("grace@company.com", audience=AUDIENCE)
    body = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "post_message", "arguments": {"text": "spoof?", "author": "ceo@company.com"}}}
    result = response_json(request(secure, token, body))["result"]
    assert admin.run("SELECT author FROM messages WHERE content = 'spoof?'") in ([["grace@company.com"]], [])
    if not result["isError"]:
        assert result["structuredContent"]["author"] == "grace@company.com"
