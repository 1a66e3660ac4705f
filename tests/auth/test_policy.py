"""The access policy, table by table: each tool for each kind of caller; discovery challenged at connect (or
open, with anonymous browsing); tools/list showing every tool, marked where the caller cannot call it yet;
authors hidden from anonymous readers."""

from __future__ import annotations

import dataclasses

import pytest

from mcp_lambda.auth import PUBLIC, Access
from mcp_lambda.auth.visibility import ACCESS_META_KEY
from tests.auth.conftest import AUDIENCE
from tests.runtime.lambda_events import FakeContext, response_json, v2_event

LEGACY = {"mcp-protocol-version": "2025-11-25"}
MODERN = "2026-07-28"
ARGUMENTS = {"post_message": {"text": "matrix"}, "get_messages": {"limit": 1}, "whoami": {}}

CALLERS = {
    "anonymous": lambda issuer, second: None,
    "signed in, no scope": lambda issuer, second: issuer.mint("carol@company.com", audience=AUDIENCE, scopes=()),
    "signed in, write scope": lambda issuer, second: issuer.mint("dave@company.com", audience=AUDIENCE,
                                                         scopes=("messages:write",)),
    "write via a group": lambda issuer, second: issuer.mint("erin@company.com", audience=AUDIENCE, scopes=(),
                                                    groups=["messages:write"]),
    # client credentials: no person, no email; the client is the subject (from an issuer whose provider has no
    # allowed_domains: that rule admits only people of those domains)
    "machine client": lambda issuer, second: second.mint(None, audience="second-client", sub="reporting-job",
                                                         scopes=("messages:write",)),
}
# caller -> tool -> expected HTTP status
MATRIX = {
    "anonymous": {"post_message": 401, "get_messages": 200, "whoami": 401},
    "signed in, no scope": {"post_message": 403, "get_messages": 200, "whoami": 200},
    "signed in, write scope": {"post_message": 200, "get_messages": 200, "whoami": 200},
    "write via a group": {"post_message": 200, "get_messages": 200, "whoami": 200},
    "machine client": {"post_message": 200, "get_messages": 200, "whoami": 200},
}
# caller -> the tools listed with what they still need (every tool is listed)
MARKED = {
    "anonymous": {"post_message": ["messages:write"], "whoami": []},
    "signed in, no scope": {"post_message": ["messages:write"]},
    "signed in, write scope": {},
    "write via a group": {},
    "machine client": {},
}
SENTENCES = {(): "Requires sign-in.", ("messages:write",): "Requires sign-in with the messages:write scope."}


def request(handler, token, body, headers=LEGACY):
    headers = dict(headers)
    if token:
        headers["authorization"] = f"Bearer {token}"
    return handler(v2_event(body, headers=headers), FakeContext())


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("tool", ["post_message", "get_messages", "whoami"])
def test_scope_matrix(secure, issuer, second_issuer, admin, caller, tool):
    before = admin.run("SELECT count(*) FROM messages")[0][0]
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": ARGUMENTS[tool]}}
    response = request(secure, CALLERS[caller](issuer, second_issuer), body)
    expected = MATRIX[caller][tool]
    assert response["statusCode"] == expected
    wrote = admin.run("SELECT count(*) FROM messages")[0][0] - before
    assert wrote == (1 if tool == "post_message" and expected == 200 else 0)
    if expected == 403:
        challenge = response["headers"]["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge and 'scope="messages:write"' in challenge


def discovery(method: str, revision: str) -> tuple[dict, dict]:
    body = {"jsonrpc": "2.0", "id": 2, "method": method}
    headers = {"mcp-protocol-version": revision}
    if method == "initialize":
        body["params"] = {"protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    elif revision == MODERN:
        body["params"] = {"_meta": {"io.modelcontextprotocol/protocolVersion": revision,
                                    "io.modelcontextprotocol/clientCapabilities": {}}}
        headers["mcp-method"] = method
    return body, headers


DISCOVERY = [("initialize", "2025-11-25"), ("tools/list", "2025-11-25"), ("ping", "2025-11-25"),
             ("resources/list", "2025-11-25"), ("server/discover", MODERN), ("tools/list", MODERN)]


@pytest.fixture
def browsing(secure):
    """The same server with anonymous browsing: discovery open, protected tools listed and marked."""
    from mcp_lambda import McpLambdaRuntime
    from secure_messaging.server import ACCESS, mcp

    runtime = McpLambdaRuntime(mcp, access=dataclasses.replace(ACCESS, anonymous_browsing=True))
    yield runtime
    runtime.close()


@pytest.mark.parametrize("method, revision", DISCOVERY)
def test_an_anonymous_connect_is_challenged_so_clients_sign_in(secure, auth_log, method, revision):
    body, headers = discovery(method, revision)
    response = request(secure, None, body, headers)
    assert response["statusCode"] == 401
    challenge = response["headers"]["www-authenticate"]
    assert challenge.startswith('Bearer resource_metadata="https://secure.example/.well-known/oauth-protected-resource/mcp"')
    assert "error=" not in challenge, "no token is not an invalid token (RFC 6750 section 3.1)"
    assert [f["reason"] for f in auth_log.failures()] == ["missing_token"]


@pytest.mark.parametrize("method, revision", DISCOVERY)
def test_signed_in_callers_and_anonymous_browsers_discover(secure, browsing, issuer, second_issuer, method, revision):
    body, headers = discovery(method, revision)
    assert request(secure, CALLERS["signed in, no scope"](issuer, second_issuer), body, headers)["statusCode"] == 200
    assert request(browsing, None, body, headers)["statusCode"] == 200


def test_a_policy_that_protects_nothing_never_challenges(secure, database_url):
    from mcp_lambda import McpLambdaRuntime
    from secure_messaging.server import mcp

    open_runtime = McpLambdaRuntime(mcp, access=Access(default=PUBLIC))
    try:
        body, headers = discovery("tools/list", "2025-11-25")
        response = request(open_runtime, None, body, headers)
        assert response["statusCode"] == 200
        assert all(ACCESS_META_KEY not in (t.get("_meta") or {}) for t in response_json(response)["result"]["tools"])
    finally:
        open_runtime.close()


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("revision", ["2025-11-25", MODERN])
def test_tools_list_shows_every_tool_marked_with_what_the_caller_lacks(secure, browsing, issuer, second_issuer, caller,
                                                                      revision):
    runtime = browsing if caller == "anonymous" else secure
    body, headers = discovery("tools/list", revision)
    response = request(runtime, CALLERS[caller](issuer, second_issuer), body, headers)
    assert response["statusCode"] == 200
    tools = {t["name"]: t for t in response_json(response)["result"]["tools"]}
    assert sorted(tools) == ["get_messages", "post_message", "whoami"]
    marked = {name: t["_meta"][ACCESS_META_KEY]["scopes"] for name, t in tools.items()
              if ACCESS_META_KEY in (t.get("_meta") or {})}
    assert marked == MARKED[caller]
    for name, scopes in marked.items():
        assert tools[name]["_meta"][ACCESS_META_KEY]["signIn"] is True
        assert tools[name]["description"].endswith(SENTENCES[tuple(scopes)])
    assert "Requires sign-in" not in tools["get_messages"]["description"], "a public tool is not marked"


def test_anonymous_browsers_calling_a_protected_tool_get_the_challenge(browsing):
    body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "post_message", "arguments": {"text": "x"}}}
    response = request(browsing, None, body)
    assert response["statusCode"] == 401 and "resource_metadata=" in response["headers"]["www-authenticate"]


@pytest.mark.parametrize("caller, sees_authors", [("anonymous", False), ("signed in, no scope", True)])
def test_authors_are_shown_to_signed_in_readers_only(secure, issuer, second_issuer, admin, caller, sees_authors):
    poster = CALLERS["signed in, write scope"](issuer, second_issuer)
    post = {"jsonrpc": "2.0", "id": 6, "method": "tools/call",
            "params": {"name": "post_message", "arguments": {"text": "who wrote this?"}}}
    assert request(secure, poster, post)["statusCode"] == 200
    read = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "get_messages", "arguments": {"limit": 1}}}
    response = request(secure, CALLERS[caller](issuer, second_issuer), read)
    assert response["statusCode"] == 200
    [latest] = response_json(response)["result"]["structuredContent"]["result"]
    assert latest["text"] == "who wrote this?"
    assert latest.get("author") == ("dave@company.com" if sees_authors else None)
    assert "dave@company.com" not in str(response["body"]) or sees_authors


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
