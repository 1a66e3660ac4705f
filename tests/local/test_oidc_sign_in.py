"""The development issuer as an upstream provider (mcp_lambda/local/oidc_sign_in.py): the authorization code
flow for its one registered client, as Cognito offers it, over real HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from mcp_lambda.local.oidc_issuer import serve_issuer
from mcp_lambda.local.oidc_sign_in import RegisteredClient
from tests.proxy.form_browser import Form

CLIENT = RegisteredClient("as-client", "s3cret", "https://as.example/callback")


@pytest.fixture(scope="module")
def issuer():
    with serve_issuer(client=CLIENT) as running:
        yield running


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def params(challenge: str, **overrides: str | None) -> dict[str, str]:
    values = {"response_type": "code", "client_id": CLIENT.client_id, "redirect_uri": CLIENT.redirect_uri,
              "scope": "openid email", "state": "st", "nonce": "n-1", "code_challenge": challenge,
              "code_challenge_method": "S256", **overrides}
    return {k: v for k, v in values.items() if v is not None}


def sign_in(issuer, challenge: str, *, email: str = "kim@company.com", groups: str = "a b") -> dict[str, str]:
    with httpx.Client(timeout=10) as http:
        page = http.get(f"{issuer.issuer}/authorize", params=params(challenge))
        form = Form()
        form.feed(page.text)
        answer = http.post(form.action, data={**form.fields, "email": email, "groups": groups, "action": "sign-in"})
    assert answer.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def exchange(issuer, code: str, verifier: str, *, secret: str = CLIENT.client_secret) -> httpx.Response:
    return httpx.post(f"{issuer.issuer}/token", auth=(CLIENT.client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CLIENT.redirect_uri, "code_verifier": verifier})


def test_the_id_token_names_the_person_for_the_client(issuer):
    verifier, challenge = pkce()
    answer = sign_in(issuer, challenge)
    assert answer["state"] == "st" and answer["iss"] == issuer.issuer
    reply = exchange(issuer, answer["code"], verifier)
    assert reply.status_code == 200 and reply.headers["cache-control"] == "no-store"
    id_token = reply.json()["id_token"]
    assert jwt.get_unverified_header(id_token)["typ"] == "JWT"
    claims = jwt.decode(id_token, options={"verify_signature": False})
    assert (claims["aud"], claims["nonce"], claims["email"], claims["groups"]) == ("as-client", "n-1", "kim@company.com",
                                                                                    ["a", "b"])
    assert "scope" not in claims


@pytest.mark.parametrize("overrides", [{"client_id": "someone-else"}, {"redirect_uri": "https://evil.example/cb"}])
def test_another_client_or_redirect_gets_a_page_not_a_redirect(issuer, overrides):
    _, challenge = pkce()
    reply = httpx.get(f"{issuer.issuer}/authorize", params=params(challenge, **overrides))
    assert reply.status_code == 400 and "location" not in reply.headers


@pytest.mark.parametrize("overrides, error", [
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"scope": "email"}, "invalid_scope"),
    ({"response_type": "token"}, "invalid_request"),
])
def test_bad_requests_go_back_with_the_error(issuer, overrides, error):
    _, challenge = pkce()
    reply = httpx.get(f"{issuer.issuer}/authorize", params=params(challenge, **overrides))
    assert reply.status_code == 302 and reply.headers["location"].startswith(CLIENT.redirect_uri)
    assert parse_qs(urlsplit(reply.headers["location"]).query)["error"] == [error]


def test_the_token_endpoint_wants_the_secret_the_verifier_and_a_fresh_code(issuer):
    verifier, challenge = pkce()
    code = sign_in(issuer, challenge)["code"]
    assert exchange(issuer, code, verifier, secret="wrong").status_code == 401
    assert exchange(issuer, code, pkce()[0]).json() == {"error": "invalid_grant"}, "wrong verifier (and the code is spent)"
    verifier, challenge = pkce()
    code = sign_in(issuer, challenge)["code"]
    assert exchange(issuer, code, verifier).status_code == 200
    assert exchange(issuer, code, verifier).json() == {"error": "invalid_grant"}, "a code is used once"
