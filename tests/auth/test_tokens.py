"""The attack table: every bad token is refused with 401 invalid_token, logged, and no tool body runs."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.auth.conftest import AUDIENCE, RESOURCE
from tests.runtime.lambda_events import FakeContext, response_headers, response_json, v1_event, v2_event

LEGACY = {"mcp-protocol-version": "2025-11-25"}
POST = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "post_message", "arguments": {"text": "attack"}}}


def call(handler, token: str | None, body=POST, make=v2_event):
    headers = dict(LEGACY)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return handler(make(body, headers=headers), FakeContext())


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "mallory@company.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def unsigned(issuer) -> str:
    claims = jwt.decode(issuer.mint(audience=AUDIENCE), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none")


def hmac_with_public_key(issuer) -> str:
    """The classic key-confusion attack: HS256 keyed with the issuer's published RSA public key."""
    public = issuer.rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = jwt.decode(issuer.mint(audience=AUDIENCE), options={"verify_signature": False})
    import hmac, hashlib  # noqa: E401 (pyjwt refuses to use a PEM key as an HMAC secret; sign by hand)

    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "dev-rsa-1"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    signature = base64.urlsafe_b64encode(hmac.new(public, header + b"." + payload, hashlib.sha256).digest()).rstrip(b"=")
    return b".".join([header, payload, signature]).decode()


# name: (token factory(issuer, second_issuer), reason code in the AUTH_FAILURE line)
ATTACKS = {
    "malformed": (lambda i, s: "not.a.jwt", "malformed"),
    "garbage": (lambda i, s: "x" * 40, "malformed"),
    "alg none": (lambda i, s: unsigned(i), "alg_not_allowed"),
    "HS256 keyed with the public key": (lambda i, s: hmac_with_public_key(i), "alg_not_allowed"),
    "expired": (lambda i, s: i.mint(audience=AUDIENCE, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), "expired"),
    "not yet valid": (lambda i, s: i.mint(audience=AUDIENCE, nbf=int(time.time()) + 3600), "not_yet_valid"),
    "issued in the future": (lambda i, s: i.mint(audience=AUDIENCE, iat=int(time.time()) + 3600, nbf=None), "not_yet_valid"),
    "wrong issuer": (lambda i, s: i.mint(audience=AUDIENCE, iss="https://evil.example"), "unknown_issuer"),
    "wrong audience": (lambda i, s: i.mint(audience="someone-else"), "wrong_audience"),
    "other issuer's client as audience": (lambda i, s: i.mint(audience="second-client"), "wrong_audience"),
    "no audience": (lambda i, s: i.mint(audience=None), "invalid_claims"),
    "unknown kid": (lambda i, s: i.mint(audience=AUDIENCE, headers={"kid": "no-such-key"}), "unknown_kid"),
    "signed by another issuer's key": (lambda i, s: s.mint(audience=AUDIENCE, iss=i.issuer), "bad_signature"),
    "tampered payload": (lambda i, s: tamper(i.mint(audience=AUDIENCE)), "bad_signature"),
    "unverified email": (lambda i, s: i.mint(audience=AUDIENCE, email_verified=False), "email_not_verified"),
    "foreign domain": (lambda i, s: i.mint("eve@gmail.com", audience=AUDIENCE), "domain_not_allowed"),
    "oversized": (lambda i, s: i.mint(audience=AUDIENCE, padding="x" * 9000), "token_too_large"),
    # Access tokens only (RFC 9068, RFC 8725 3.11): an ID token or a refresh token is not a bearer token here
    "OIDC ID token (typ JWT)": (lambda i, s: i.mint(audience=AUDIENCE, headers={"typ": "JWT"}), "wrong_token_type"),
    "ID token without typ": (lambda i, s: i.mint(audience=AUDIENCE, headers={"typ": None}), "wrong_token_type"),
    "refresh-shaped JWT": (lambda i, s: i.mint(audience=AUDIENCE, headers={"typ": "refresh+jwt"}, token_use="refresh"),
                           "wrong_token_type"),
    "access typ with token_use refresh": (lambda i, s: i.mint(audience=AUDIENCE, token_use="refresh"),
                                          "wrong_token_type"),
    "access typ with token_use id": (lambda i, s: i.mint(audience=AUDIENCE, token_use="id"), "wrong_token_type"),
    # Registered claims of the wrong type
    "iat as a string": (lambda i, s: i.mint(audience=AUDIENCE, iat=str(int(time.time()))), "invalid_claims"),
    "exp as a string": (lambda i, s: i.mint(audience=AUDIENCE, exp=str(int(time.time()) + 3600)), "invalid_claims"),
    "nbf as a string": (lambda i, s: i.mint(audience=AUDIENCE, nbf=str(int(time.time()))), "invalid_claims"),
    "exp as a boolean": (lambda i, s: i.mint(audience=AUDIENCE, exp=True), "invalid_claims"),
    "email_verified 1": (lambda i, s: i.mint(audience=AUDIENCE, email_verified=1), "invalid_claims"),
    "email_verified 'true'": (lambda i, s: i.mint(audience=AUDIENCE, email_verified="true"), "invalid_claims"),
    "aud a number": (lambda i, s: i.mint(audience=7), "invalid_claims"),
    "sub an object": (lambda i, s: i.mint(audience=AUDIENCE, sub={"id": 1}), "invalid_claims"),
    "scope a list": (lambda i, s: i.mint(audience=AUDIENCE, scope=["messages:write"]), "invalid_claims"),
}


def count(admin) -> int:
    return admin.run("SELECT count(*) FROM messages")[0][0]


@pytest.mark.parametrize("attack", ATTACKS)
def test_bad_tokens_are_refused_before_any_tool_runs(secure, issuer, second_issuer, admin, auth_log, attack):
    make_token, reason = ATTACKS[attack]
    before = count(admin)
    response = call(secure, make_token(issuer, second_issuer))
    assert response["statusCode"] == 401
    challenge = response_headers(response)["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="https://secure.example/.well-known/oauth-protected-resource/mcp"' in challenge
    body = response_json(response)
    assert body["id"] == 9 and body["error"]["code"] == -32001
    assert count(admin) == before, "the tool did not run"
    failures = auth_log.failures()
    assert [f["reason"] for f in failures] == [reason]
    token = make_token(issuer, second_issuer)
    assert token not in json.dumps([str(r.__dict__) for r in auth_log.records]), "the token is never logged"


def test_a_bad_token_is_refused_even_for_a_public_tool(secure, issuer):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_messages", "arguments": {}}}
    assert call(secure, "garbage-token", body)["statusCode"] == 401
    assert call(secure, None, body)["statusCode"] == 200


def test_missing_token_names_the_metadata_but_no_error_code(secure, auth_log):
    response = call(secure, None)
    assert response["statusCode"] == 401
    challenge = response_headers(response)["www-authenticate"]
    assert 'resource_metadata="https://secure.example/.well-known/oauth-protected-resource/mcp"' in challenge
    assert "error=" not in challenge, "RFC 6750 3.1: no error code when no credentials were sent"
    assert 'scope="messages:write"' in challenge
    assert response_json(response)["error"]["data"]["resource_metadata"].endswith("/oauth-protected-resource/mcp")
    assert [f["reason"] for f in auth_log.failures()] == ["missing_token"]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_valid_tokens_in_both_algorithms_post_as_the_verified_author(secure, issuer, admin, algorithm):
    token = issuer.mint("bob@company.com", audience=AUDIENCE, algorithm=algorithm)
    response = call(secure, token, {**POST, "params": {"name": "post_message", "arguments": {"text": f"by {algorithm}"}}})
    result = response_json(response)["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["author"] == "bob@company.com"
    assert admin.run("SELECT author FROM messages WHERE content = :t", t=f"by {algorithm}") == [["bob@company.com"]]


def test_the_resource_itself_is_an_accepted_audience(secure, issuer):
    token = issuer.mint(audience=RESOURCE)
    assert response_json(call(secure, token))["result"]["isError"] is False


def test_two_issuers_at_once(secure, issuer, second_issuer):
    first = call(secure, issuer.mint("ann@company.com", audience=AUDIENCE))
    second = call(secure, second_issuer.mint("zed@partner.example", audience="second-client"))
    assert response_json(first)["result"]["structuredContent"]["author"] == "ann@company.com"
    assert response_json(second)["result"]["structuredContent"]["author"] == "zed@partner.example"


def test_unknown_kids_cannot_hammer_the_issuer(secure, issuer):
    call(secure, issuer.mint(audience=AUDIENCE))  # keys fetched once
    fetches_before = sum(1 for p in issuer.requests if p == "/jwks.json")
    for n in range(20):
        assert call(secure, issuer.mint(audience=AUDIENCE, headers={"kid": f"garbage-{n}"}))["statusCode"] == 401
    fetches = sum(1 for p in issuer.requests if p == "/jwks.json") - fetches_before
    assert fetches <= 1, f"{fetches} JWKS fetches for 20 unknown kids"


def test_rest_api_events_get_the_challenge_header_too(secure):
    response = call(secure, None, make=v1_event)
    assert response["statusCode"] == 401
    assert response["multiValueHeaders"]["www-authenticate"][0].startswith("Bearer resource_metadata=")


def test_protected_resource_metadata(secure, issuer, second_issuer):
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        response = secure(v2_event(None, method="GET", path=path, headers={}), FakeContext())
        assert response["statusCode"] == 200
        document = response_json(response)
        assert document["resource"] == RESOURCE
        assert document["authorization_servers"] == [issuer.issuer, second_issuer.issuer]
        assert document["scopes_supported"] == ["messages:write"]
        assert document["bearer_methods_supported"] == ["header"]


@pytest.mark.parametrize("names", [("Authorization", "Authorization"), ("Authorization", "authorization")],
                         ids=["repeated", "two-spellings"])
def test_two_authorization_values_are_a_bad_request_whichever_is_valid(secure, issuer, auth_log, names):
    """A REST API event keeps repeated headers apart; taking the first would let a proxy and a client
    disagree on who is calling. RFC 6750 §3.1: invalid_request."""
    token = issuer.mint(audience=AUDIENCE)
    event = v1_event(POST, headers=LEGACY)
    event["multiValueHeaders"][names[0]] = [f"Bearer {token}"]
    event["multiValueHeaders"][names[1]] = event["multiValueHeaders"].get(names[1], []) + ["Bearer forged"]
    response = secure(event, FakeContext())
    assert response["statusCode"] == 400
    assert 'error="invalid_request"' in response_headers(response)["www-authenticate"]
    assert response_json(response)["error"]["data"]["error"] == "invalid_request"
    assert [f["reason"] for f in auth_log.failures()] == ["duplicate_authorization"]
