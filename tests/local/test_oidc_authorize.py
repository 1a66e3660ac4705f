"""The development issuer's authorization server over real HTTP: registration, the sign-in page, codes,
tokens and refresh, as a client such as the proxy meets them (mcp_lambda/local/oidc_authorize.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
from mcp.shared.auth import OAuthMetadata

from mcp_lambda.local.oidc_issuer import DEV_AUDIENCE, DevIssuer, serve_issuer

REDIRECT = "http://127.0.0.1:53682/callback"
RESOURCE = "http://127.0.0.1:8080/secure-messaging/mcp"


@pytest.fixture(scope="module")
def issuer():
    with serve_issuer() as running:
        yield running


@pytest.fixture
def http():
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def query(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


@dataclass
class SignIn:
    """One client's way through the flow, step by step, so each test can stop or stray where it wants."""

    issuer: DevIssuer
    http: httpx.Client
    client_id: str = ""
    verifier: str = ""

    def register(self, *redirect_uris: str) -> httpx.Response:
        answer = self.http.post(f"{self.issuer.issuer}/register",
                                json={"redirect_uris": list(redirect_uris or [REDIRECT]), "client_name": "test"})
        if answer.status_code == 201:
            self.client_id = answer.json()["client_id"]
        return answer

    def page(self, **overrides: str | None) -> httpx.Response:
        self.verifier = secrets.token_urlsafe(48)
        params = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT, "state": "st-123",
            "code_challenge": challenge(self.verifier), "code_challenge_method": "S256", "resource": RESOURCE,
            "scope": "messages:write", **overrides,
        }
        return self.http.get(f"{self.issuer.issuer}/authorize",
                             params={k: v for k, v in params.items() if v is not None})

    def submit(self, page: httpx.Response, email: str = "bob@company.com", action: str = "sign-in") -> httpx.Response:
        form = re.search(r'<form method="post" action="([^"]+)">', page.text)
        request = re.search(r'name="request" value="([^"]+)"', page.text)
        return self.http.post(form[1], data={"request": request[1], "email": email, "action": action})

    def code(self, **overrides: str | None) -> str:
        answer = self.submit(self.page(**overrides))
        assert answer.status_code == 302, answer.text
        return query(answer.headers["location"])["code"]

    def token(self, **form: str) -> httpx.Response:
        return self.http.post(f"{self.issuer.issuer}/token", data={"client_id": self.client_id, **form})

    def exchange(self, code: str, **overrides: str) -> httpx.Response:
        return self.token(**{"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                             "code_verifier": self.verifier, "resource": RESOURCE, **overrides})


@pytest.fixture
def flow(issuer, http) -> SignIn:
    flow = SignIn(issuer, http)
    assert flow.register().status_code == 201
    return flow


def assert_token_error(answer: httpx.Response, error: str, status: int = 400) -> None:
    assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text
    assert answer.headers["cache-control"] == "no-store"


# -- metadata and registration ---------------------------------------------------------------------------


def test_metadata_names_the_endpoints_at_both_well_known_urls(issuer, http):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        document = http.get(issuer.issuer + path).json()
        metadata = OAuthMetadata.model_validate(document)
        assert str(metadata.issuer) == issuer.issuer
        assert document["authorization_endpoint"] == f"{issuer.issuer}/authorize"
        assert document["token_endpoint"] == f"{issuer.issuer}/token"
        assert document["registration_endpoint"] == f"{issuer.issuer}/register"
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert document["grant_types_supported"] == ["authorization_code", "refresh_token"]
        assert document["response_types_supported"] == ["code"]
        assert document["token_endpoint_auth_methods_supported"] == ["none"]
        assert document["scopes_supported"] == ["messages:write"]
        assert document["jwks_uri"] == f"{issuer.issuer}/jwks.json"


def test_registration_of_a_public_loopback_client(issuer, http):
    answer = SignIn(issuer, http).register("http://127.0.0.1:53682/callback", "http://[::1]:8976/cb",
                                           "http://localhost:6274/oauth/callback")
    assert answer.status_code == 201
    client = answer.json()
    assert client["client_id"] and "client_secret" not in client
    assert client["token_endpoint_auth_method"] == "none"
    assert client["redirect_uris"] == ["http://127.0.0.1:53682/callback", "http://[::1]:8976/cb",
                                       "http://localhost:6274/oauth/callback"]
    assert client["grant_types"] == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize("redirect_uri", [
    "https://app.example.com/callback",
    "http://app.example.com/callback",
    "https://127.0.0.1:8976/callback",
    "http://127.0.0.1.example.com/callback",
    "http://evil@127.0.0.1:8976/callback",
    "http://127.0.0.1:8976/callback#fragment",
    "com.example.app:/callback",
    "http://127.0.0.1:99999/callback",
])
def test_registration_refuses_a_redirect_uri_off_loopback(issuer, http, redirect_uri):
    answer = SignIn(issuer, http).register(REDIRECT, redirect_uri)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_redirect_uri")


@pytest.mark.parametrize("body", [{}, {"redirect_uris": []}, {"redirect_uris": "http://127.0.0.1/cb"}])
def test_registration_needs_redirect_uris(issuer, http, body):
    answer = http.post(f"{issuer.issuer}/register", json=body)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_redirect_uri")


def test_registration_needs_json(issuer, http):
    answer = http.post(f"{issuer.issuer}/register", data={"redirect_uris": REDIRECT})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_client_metadata")


def test_a_client_id_outlives_a_restart_of_the_issuer(tmp_path, http):
    with serve_issuer(tmp_path) as first:
        flow = SignIn(first, http)
        flow.register()
    with serve_issuer(tmp_path) as second:
        flow.issuer = second
        assert flow.page().status_code == 200
    with serve_issuer() as other_keys:
        flow.issuer = other_keys
        assert flow.page().status_code == 400


# -- the authorization endpoint --------------------------------------------------------------------------


def test_the_sign_in_page(flow):
    page = flow.page(resource="http://127.0.0.1:8080/<b>mcp</b>")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert re.search(r'<input type="email" name="email" value="alice@company\.com"', page.text)
    assert re.search(r'<button name="action" value="sign-in">Sign in</button>', page.text)
    assert f'action="{flow.issuer.issuer}/authorize"' in page.text
    assert "&lt;b&gt;mcp&lt;/b&gt;" in page.text and "<b>mcp" not in page.text


def test_signing_in_redirects_with_code_state_and_issuer(flow):
    answer = flow.submit(flow.page())
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    params = query(location)
    assert params["state"] == "st-123" and params["iss"] == flow.issuer.issuer
    assert len(params["code"]) >= 32


def test_a_page_answers_once(flow):
    page = flow.page()
    assert flow.submit(page).status_code == 302
    again = flow.submit(page)
    assert again.status_code == 400 and "expired or was already used" in again.text


def test_an_email_is_required(flow):
    page = flow.page()
    answer = flow.submit(page, email="not an email <script>")
    assert answer.status_code == 400 and "Enter an email address" in answer.text
    assert "<script>" not in answer.text and "&lt;script&gt;" in answer.text
    assert flow.submit(answer).status_code == 302, "the page shown again signs in"


def test_cancel_redirects_with_access_denied(flow):
    answer = flow.submit(flow.page(), action="deny")
    params = query(answer.headers["location"])
    assert (params["error"], params["state"]) == ("access_denied", "st-123")
    assert "code" not in params


@pytest.mark.parametrize(("overrides", "error"), [
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"scope": "admin"}, "invalid_scope"),
    ({"resource": "relative/mcp"}, "invalid_target"),
])
def test_a_bad_request_is_sent_back_to_the_client(flow, overrides, error):
    answer = flow.page(**overrides)
    assert answer.status_code == 302
    params = query(answer.headers["location"])
    assert answer.headers["location"].startswith(REDIRECT + "?")
    assert (params["error"], params["state"]) == (error, "st-123")


@pytest.mark.parametrize("redirect_uri", [
    "http://127.0.0.1:53682/other",
    "http://localhost:53682/callback",
    "http://app.example.com/callback",
    None,
])
def test_an_unregistered_redirect_uri_is_shown_not_followed(flow, redirect_uri):
    answer = flow.page(redirect_uri=redirect_uri)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "redirect_uri" in answer.text


def test_a_loopback_ip_redirect_may_use_another_port(flow):
    """RFC 8252 §7.3: a native client's port is chosen when it starts."""
    page = flow.page(redirect_uri="http://127.0.0.1:40000/callback")
    assert page.status_code == 200
    assert flow.submit(page).headers["location"].startswith("http://127.0.0.1:40000/callback?")


@pytest.mark.parametrize("client_id", [None, "unknown", "e30.AAAAAAAAAAAAAAAAAAAAAA"])
def test_an_unknown_client_is_shown_not_followed(flow, client_id):
    answer = flow.page(client_id=client_id)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "unknown client_id" in answer.text


def test_a_forged_client_id_is_refused(flow):
    _, _, signature = flow.client_id.partition(".")
    forged = base64.urlsafe_b64encode(b'{"n":"x","r":["http://127.0.0.1:1/evil"]}').decode().rstrip("=")
    assert flow.page(client_id=f"{forged}.{signature}").status_code == 400


# -- the token endpoint ----------------------------------------------------------------------------------


def test_the_code_is_exchanged_for_a_verifiable_access_token_and_a_refresh_token(flow):
    answer = flow.exchange(flow.code())
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "messages:write" and body["refresh_token"]

    keys = jwt.PyJWKClient(f"{flow.issuer.issuer}/jwks.json")
    token = body["access_token"]
    key = keys.get_signing_key_from_jwt(token).key
    for audience in (RESOURCE, DEV_AUDIENCE):
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=flow.issuer.issuer,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"]})
    assert claims["email"] == "bob@company.com" and claims["sub"] == "dev|bob@company.com"
    assert claims["scope"] == "messages:write" and claims["client_id"] == flow.client_id
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_without_a_resource_the_token_is_for_the_dev_audience(flow):
    claims = jwt.decode(flow.exchange(flow.code(resource=None), resource=None).json()["access_token"],
                        options={"verify_signature": False})
    assert claims["aud"] == DEV_AUDIENCE


def test_a_wrong_verifier_is_refused_and_burns_the_code(flow):
    code = flow.code()
    assert_token_error(flow.exchange(code, code_verifier=secrets.token_urlsafe(48)), "invalid_grant")
    assert_token_error(flow.exchange(code), "invalid_grant")


def test_a_code_is_used_once(flow):
    code = flow.code()
    assert flow.exchange(code).status_code == 200
    assert_token_error(flow.exchange(code), "invalid_grant")


def test_a_code_is_used_once_under_concurrency(flow):
    code = flow.code()
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(flow.exchange(code).status_code)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [400] * 7


def test_a_code_expires(flow, monkeypatch):
    monkeypatch.setattr(flow.issuer.authorization, "code_lifetime", 0)
    assert_token_error(flow.exchange(flow.code()), "invalid_grant")


def test_the_code_is_bound_to_its_redirect_uri(flow):
    assert_token_error(flow.exchange(flow.code(), redirect_uri="http://127.0.0.1:53682/other"), "invalid_grant")


def test_the_code_is_bound_to_its_client(flow, issuer, http):
    code = flow.code()
    other = SignIn(issuer, http, verifier=flow.verifier)
    other.register()
    assert_token_error(other.exchange(code), "invalid_grant")


def test_the_code_is_bound_to_its_resource(flow):
    assert_token_error(flow.exchange(flow.code(), resource="http://127.0.0.1:8080/other/mcp"), "invalid_target")


@pytest.mark.parametrize(("form", "error", "status"), [
    ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type", 400),
    ({}, "invalid_request", 400),
    ({"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}, "invalid_request", 400),
    ({"grant_type": "refresh_token"}, "invalid_request", 400),
    ({"grant_type": "authorization_code", "client_id": "unknown"}, "invalid_client", 401),
    ({"grant_type": "refresh_token", "refresh_token": "x", "client_secret": "s"}, "invalid_client", 401),
])
def test_token_errors(flow, form, error, status):
    assert_token_error(flow.token(**form), error, status)


def test_token_requests_are_form_encoded(flow):
    answer = flow.http.post(f"{flow.issuer.issuer}/token", json={"grant_type": "refresh_token"})
    assert_token_error(answer, "invalid_request")


def test_client_authentication_is_refused_with_its_scheme(flow):
    answer = flow.http.post(f"{flow.issuer.issuer}/token", auth=(flow.client_id, "secret"),
                            data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert_token_error(answer, "invalid_client", 401)
    assert answer.headers["www-authenticate"].startswith("Basic")


def test_refresh_rotates_the_refresh_token(flow):
    first = flow.exchange(flow.code()).json()
    second = flow.token(grant_type="refresh_token", refresh_token=first["refresh_token"], resource=RESOURCE)
    assert second.status_code == 200, second.text
    assert second.headers["cache-control"] == "no-store"
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"] and body["access_token"] != first["access_token"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["email"] == "bob@company.com" and RESOURCE in claims["aud"]

    assert_token_error(flow.token(grant_type="refresh_token", refresh_token=first["refresh_token"]), "invalid_grant")
    third = flow.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert third.status_code == 200


def test_a_refused_refresh_leaves_the_refresh_token_usable(flow, issuer, http):
    refresh_token = flow.exchange(flow.code()).json()["refresh_token"]
    other = SignIn(issuer, http)
    other.register()
    assert_token_error(other.token(grant_type="refresh_token", refresh_token=refresh_token), "invalid_grant")
    assert_token_error(flow.token(grant_type="refresh_token", refresh_token=refresh_token,
                                  resource="http://127.0.0.1:8080/other/mcp"), "invalid_target")
    assert_token_error(flow.token(grant_type="refresh_token", refresh_token=refresh_token, scope="admin"),
                       "invalid_scope")
    assert flow.token(grant_type="refresh_token", refresh_token=refresh_token).status_code == 200


def test_unknown_paths_and_methods(issuer, http):
    assert http.get(f"{issuer.issuer}/nothing").status_code == 404
    answer = http.get(f"{issuer.issuer}/token")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert http.post(f"{issuer.issuer}/jwks.json").status_code == 405
