"""The authorization server end to end, in-process through its Lambda handler, in front of a real upstream
provider (the development issuer on loopback, signing people in for this server's one registered client).

Every request is a Function URL event; the browser's part (cookies, the upstream sign-in page, the consent
form) is played step by step, so each rule can be broken on purpose. Each refusal is a row: what is done
wrong, and the RFC's answer (an error page when the client or its redirect URI cannot be trusted, RFC 6749
§4.1.2.1; otherwise the error at the client's redirect URI, or the token endpoint's JSON error).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from mcp_lambda.authorization.cimd import MemoryCache, MetadataFetcher
from mcp_lambda.authorization.config import AuthorizationConfig
from mcp_lambda.authorization.handler import AuthorizationFunction, callback_url
from mcp_lambda.authorization.service import AuthorizationService
from mcp_lambda.authorization.signing import PemSigner
from mcp_lambda.authorization.store import MemoryStore
from mcp_lambda.authorization.upstream import UpstreamProvider
from mcp_lambda.local.events import function_url_event, response_parts
from mcp_lambda.local.oidc_issuer import serve_issuer
from mcp_lambda.local.oidc_sign_in import RegisteredClient
from tests.authorization.https_documents import certificate, serve_documents
from tests.proxy.form_browser import Form

ISSUER = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"
OTHER_RESOURCE = "https://reports.example.com/mcp"
REDIRECT = "http://127.0.0.1:7777/callback"
UPSTREAM_SECRET = "upstream-secret"
WRITE = "messages:write"


@pytest.fixture(scope="module")
def upstream():
    client = RegisteredClient("as-client", UPSTREAM_SECRET, f"{ISSUER}/callback")
    with serve_issuer(client=client) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def tls():
    return certificate()


@pytest.fixture(scope="module")
def documents(tls, tmp_path_factory):
    with serve_documents(*tls, tmp_path_factory.mktemp("cimd")) as server:
        yield server


def make_service(upstream, tls, *, allow_private: bool = True) -> AuthorizationFunction:
    import ssl

    config = AuthorizationConfig.parse(json.dumps({
        "issuer": ISSUER, "resources": [RESOURCE, OTHER_RESOURCE],
        "upstream": {"issuer": upstream.issuer, "client_id": "as-client"},
        "scope_rules": [{"scope": WRITE, "groups": [WRITE]}, {"scope": "messages:read", "everyone": True}],
    }))
    store = MemoryStore()
    fetcher = MetadataFetcher(cache=MemoryCache(), allow_private_addresses=allow_private,
                              ssl_context=ssl.create_default_context(cadata=tls[0]))
    provider = UpstreamProvider(config.upstream, callback_url(config), client_secret=UPSTREAM_SECRET)
    signer = PemSigner.from_pem(_rsa_pem())
    service = AuthorizationService(config, store=store, signer=signer, upstream=provider, fetcher=fetcher)
    return AuthorizationFunction(lambda: service)


_PEM: list[bytes] = []


def _rsa_pem() -> bytes:
    if not _PEM:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _PEM.append(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return _PEM[0]


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def redirect_query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.header("location") or "").query).items()}


@dataclass
class Browser:
    """One person's browser: it keeps the authorization server's cookies."""

    handler: AuthorizationFunction
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, cookies: bool = True) -> Reply:
        sent = dict(headers or {})
        if form is not None:
            sent["content-type"] = "application/x-www-form-urlencoded"
        if cookies and self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        event = function_url_event(method, path, query=urlencode(query or {}), headers=sent,
                                   body=urlencode(form).encode() if form is not None else None,
                                   domain_name="auth.example.com")
        status, reply_headers, body = response_parts(self.handler(event))
        for name, value in reply_headers:
            if name.lower() == "set-cookie":
                jar = SimpleCookie()
                jar.load(value)
                for key, morsel in jar.items():
                    self.cookies[key] = morsel.value
        return Reply(status, reply_headers, body)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def register(browser: Browser, **metadata: Any) -> dict[str, Any]:
    body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "client_name": "Test Client", **metadata}
    event = function_url_event("POST", "/register", headers={"content-type": "application/json"},
                               body=json.dumps(body).encode(), domain_name="auth.example.com")
    status, _, reply = response_parts(browser.handler(event))
    assert status == 201, reply
    return json.loads(reply)


def authorize_params(client_id: str, challenge: str, **overrides: str | None) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "code_challenge": challenge,
              "code_challenge_method": "S256", "state": "client-state", "resource": RESOURCE, "scope": WRITE}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def sign_in_upstream(location: str, *, email: str = "dana@company.com", groups: str = WRITE) -> str:
    """The person at the upstream sign-in page; the URL it sends the browser back to (our /callback)."""
    with httpx.Client(timeout=10) as http:
        page = http.get(location)
        form = Form()
        form.feed(page.text)
        answer = http.post(form.action, data={**form.fields, "email": email, "groups": groups, "action": "sign-in"})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def consent_form(reply: Reply) -> dict[str, str]:
    form = Form()
    form.feed(reply.body.decode())
    return dict(form.fields)


def callback(browser: Browser, back: str, **kwargs: Any) -> Reply:
    assert back.startswith(f"{ISSUER}/callback?")
    return browser.request("GET", "/callback", query={k: v[0] for k, v in parse_qs(urlsplit(back).query).items()},
                           **kwargs)


def code_for(browser: Browser, client_id: str, challenge: str, *, groups: str = WRITE, **overrides: str | None) -> str:
    started = browser.request("GET", "/authorize", query=authorize_params(client_id, challenge, **overrides))
    assert started.status == 302, started.body
    page = callback(browser, sign_in_upstream(started.header("location"), groups=groups))
    assert page.status == 200, page.body
    answered = browser.request("POST", "/consent", form={**consent_form(page), "decision": "allow"})
    assert answered.status == 302
    query = answered.redirect_query
    assert query["state"] == "client-state" and query["iss"] == ISSUER
    return query["code"]


def token(browser: Browser, **form: str) -> Reply:
    return browser.request("POST", "/token", form=form)


@pytest.fixture
def handler(upstream, tls):
    return make_service(upstream, tls)


@pytest.fixture
def browser(handler):
    return Browser(handler)


# --- the whole flow ------------------------------------------------------------------------------------


def test_a_registered_client_gets_an_access_token_for_the_resource_with_the_persons_scopes(browser):
    client = register(browser)
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge)
    reply = token(browser, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                  client_id=client["client_id"], code_verifier=verifier, resource=RESOURCE)
    assert reply.status == 200, reply.body
    issued = reply.json()
    assert issued["token_type"] == "Bearer" and issued["scope"] == WRITE and issued["refresh_token"]
    keys = browser.request("GET", "/jwks.json").json()["keys"]
    header = jwt.get_unverified_header(issued["access_token"])
    assert header["typ"] == "at+jwt"
    key = next(jwt.PyJWK(k) for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(issued["access_token"], key, algorithms=[header["alg"]], audience=RESOURCE, issuer=ISSUER)
    assert claims["client_id"] == client["client_id"] and claims["scope"] == WRITE
    assert claims["email"] == "dana@company.com" and claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == 3600


def test_scopes_follow_the_persons_upstream_groups(browser):
    client = register(browser)
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge, groups="", scope=f"{WRITE} messages:read")
    reply = token(browser, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                  client_id=client["client_id"], code_verifier=verifier)
    assert reply.json()["scope"] == "messages:read", "not in the writers' group: no messages:write"


def test_the_token_is_for_the_resource_named_at_authorization(browser):
    client = register(browser)
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge, resource=OTHER_RESOURCE)
    issued = token(browser, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                   client_id=client["client_id"], code_verifier=verifier).json()
    assert jwt.decode(issued["access_token"], options={"verify_signature": False})["aud"] == OTHER_RESOURCE


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(browser):
    client = register(browser)
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge)
    first = token(browser, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                  client_id=client["client_id"], code_verifier=verifier).json()
    second = token(browser, grant_type="refresh_token", refresh_token=first["refresh_token"],
                   client_id=client["client_id"])
    assert second.status == 200 and second.json()["refresh_token"] != first["refresh_token"]
    reused = token(browser, grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=client["client_id"])
    assert (reused.status, reused.json()["error"]) == (400, "invalid_grant")
    after = token(browser, grant_type="refresh_token", refresh_token=second.json()["refresh_token"],
                  client_id=client["client_id"])
    assert (after.status, after.json()["error"]) == (400, "invalid_grant"), "the whole family is revoked"


def test_a_reused_code_is_refused_and_revokes_what_it_gave(browser):
    client = register(browser)
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge)
    form = dict(grant_type="authorization_code", code=code, redirect_uri=REDIRECT, client_id=client["client_id"],
                code_verifier=verifier)
    issued = token(browser, **form).json()
    again = token(browser, **form)
    assert (again.status, again.json()["error"]) == (400, "invalid_grant")
    refreshed = token(browser, grant_type="refresh_token", refresh_token=issued["refresh_token"], client_id=client["client_id"])
    assert refreshed.json()["error"] == "invalid_grant", "RFC 6749 §4.1.2: tokens from a reused code are revoked"


def test_revocation_ends_the_refresh_token(browser):
    client = register(browser)
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge)
    issued = token(browser, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                   client_id=client["client_id"], code_verifier=verifier).json()
    revoked = browser.request("POST", "/revoke", form={"token": issued["refresh_token"], "client_id": client["client_id"],
                                                       "token_type_hint": "refresh_token"})
    assert revoked.status == 200
    assert token(browser, grant_type="refresh_token", refresh_token=issued["refresh_token"],
                 client_id=client["client_id"]).json()["error"] == "invalid_grant"
    unknown = browser.request("POST", "/revoke", form={"token": "nonsense", "client_id": client["client_id"]})
    assert unknown.status == 200, "RFC 7009 §2.2: an unknown token is not an error"


def test_a_confidential_client_must_authenticate(browser):
    client = register(browser, token_endpoint_auth_method="client_secret_basic")
    assert client["client_secret"]
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge)
    wrong = base64.b64encode(f"{client['client_id']}:not-the-secret".encode()).decode()
    refused = browser.request("POST", "/token", form={"grant_type": "authorization_code", "code": code,
                                                      "redirect_uri": REDIRECT, "code_verifier": verifier},
                              headers={"authorization": f"Basic {wrong}"})
    assert (refused.status, refused.json()["error"]) == (401, "invalid_client")


def test_a_client_id_metadata_document_client_signs_in(browser, documents):
    url = f"https://127.0.0.1:{documents.server_address[1]}/clients/good.json"
    documents.routes["/clients/good.json"] = (200, [("Content-Type", "application/json")], json.dumps({
        "client_id": url, "client_name": "Metadata Client", "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"}).encode())
    verifier, challenge = pkce()
    started = browser.request("GET", "/authorize", query=authorize_params(url, challenge))
    page = callback(browser, sign_in_upstream(started.header("location")))
    assert b"Metadata Client" in page.body and b"127.0.0.1" in page.body, "named, and vouched for by its host"
    answered = browser.request("POST", "/consent", form={**consent_form(page), "decision": "allow"})
    issued = token(browser, grant_type="authorization_code", code=answered.redirect_query["code"],
                   redirect_uri=REDIRECT, client_id=url, code_verifier=verifier)
    assert issued.status == 200 and issued.json()["access_token"]


def test_metadata_names_every_endpoint_and_capability(browser):
    metadata = browser.request("GET", "/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == ISSUER
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert metadata["scopes_supported"] == ["messages:read", WRITE]


# --- refusals at the authorization endpoint ------------------------------------------------------------

AUTHORIZE_REFUSALS = [
    # (case, overrides, "page" or the error at the redirect URI)
    ("unknown client", {"client_id": "mcp-nobody"}, "page"),
    ("unregistered redirect URI", {"redirect_uri": "http://127.0.0.1:7777/elsewhere"}, "page"),
    ("redirect URI on another host", {"redirect_uri": "https://evil.example/callback"}, "page"),
    ("no PKCE", {"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ("PKCE plain", {"code_challenge_method": "plain"}, "invalid_request"),
    ("response_type token", {"response_type": "token"}, "unsupported_response_type"),
    ("a resource it does not serve", {"resource": "https://other.example/mcp"}, "invalid_target"),
]


@pytest.mark.parametrize("case, overrides, expected", AUTHORIZE_REFUSALS, ids=[row[0] for row in AUTHORIZE_REFUSALS])
def test_the_authorization_endpoint_refuses(browser, case, overrides, expected):
    client = register(browser)
    _, challenge = pkce()
    params = {**authorize_params(client["client_id"], challenge), **overrides}
    reply = browser.request("GET", "/authorize", query={k: v for k, v in params.items() if v is not None})
    if expected == "page":
        assert reply.status == 400 and reply.header("location") is None
        assert reply.header("content-type").startswith("text/html")
    else:
        assert reply.status == 302 and reply.header("location").startswith(REDIRECT)
        assert reply.redirect_query["error"] == expected and reply.redirect_query["iss"] == ISSUER
        assert reply.redirect_query["state"] == "client-state"
    assert not browser.cookies, "no sign-in started"


def _document(url: str, **fields: Any) -> bytes:
    return json.dumps({"client_id": url, "client_name": "x", "redirect_uris": [REDIRECT], **fields}).encode()


CIMD_REFUSALS = [
    ("client_id in the document differs", lambda url: (200, _document(url + "-other")), "client_id"),
    ("document larger than allowed", lambda url: (200, b" " * 20000 + _document(url)), "larger than"),
    ("redirect URI not in the document", lambda url: (200, _document(url, redirect_uris=["http://127.0.0.1:1/x"])), "page"),
    ("document carries a secret", lambda url: (200, _document(url, client_secret="s")), "secret"),
    ("document not found", lambda url: (404, b"{}"), "404"),
]


@pytest.mark.parametrize("case, serve, words", CIMD_REFUSALS, ids=[row[0] for row in CIMD_REFUSALS])
def test_unusable_client_metadata_documents_are_refused_on_a_page(browser, documents, case, serve, words):
    path = f"/clients/{secrets.token_hex(4)}.json"
    url = f"https://127.0.0.1:{documents.server_address[1]}{path}"
    status, body = serve(url)
    documents.routes[path] = (status, [("Content-Type", "application/json")], body)
    _, challenge = pkce()
    reply = browser.request("GET", "/authorize", query=authorize_params(url, challenge))
    assert reply.status == 400 and reply.header("location") is None
    if words != "page":
        assert words.encode() in reply.body.lower() or words.encode() in reply.body


def test_metadata_urls_on_private_addresses_are_never_fetched(upstream, tls, documents):
    browser = Browser(make_service(upstream, tls, allow_private=False))
    seen = len(documents.requests)
    _, challenge = pkce()
    url = f"https://127.0.0.1:{documents.server_address[1]}/clients/private.json"
    reply = browser.request("GET", "/authorize", query=authorize_params(url, challenge))
    assert reply.status == 400 and b"publicly routable" in reply.body
    assert len(documents.requests) == seen, "no request reached the address"


# --- refusals in the browser's steps -------------------------------------------------------------------


def started_sign_in(browser: Browser) -> tuple[dict[str, Any], str, Reply]:
    client = register(browser)
    verifier, challenge = pkce()
    started = browser.request("GET", "/authorize", query=authorize_params(client["client_id"], challenge))
    return client, verifier, started


def test_a_sign_in_finished_in_another_browser_is_refused(browser, handler):
    _, _, started = started_sign_in(browser)
    back = sign_in_upstream(started.header("location"))
    victim = Browser(handler)  # the attacker started the flow; the victim's browser comes back with no cookie
    reply = callback(victim, back)
    assert reply.status == 400 and b"started elsewhere" in reply.body


def test_the_consent_form_needs_its_secret_and_is_answered_once(browser):
    _, _, started = started_sign_in(browser)
    page = callback(browser, sign_in_upstream(started.header("location")))
    form = consent_form(page)
    forged = browser.request("POST", "/consent", form={**form, "csrf": "guessed", "decision": "allow"})
    assert forged.status == 400 and forged.header("location") is None
    assert browser.request("POST", "/consent", form={**form, "decision": "allow"}).status == 302
    again = browser.request("POST", "/consent", form={**form, "decision": "allow"})
    assert again.status == 400, "one consent, one code"


def test_denying_consent_sends_access_denied_and_no_code(browser):
    _, _, started = started_sign_in(browser)
    page = callback(browser, sign_in_upstream(started.header("location")))
    denied = browser.request("POST", "/consent", form={**consent_form(page), "decision": "deny"})
    assert denied.status == 302 and denied.redirect_query["error"] == "access_denied" and "code" not in denied.redirect_query


def test_the_consent_page_names_client_server_account_scopes_and_destination(browser):
    _, _, started = started_sign_in(browser)
    page = callback(browser, sign_in_upstream(started.header("location")))
    text = page.body.decode()
    for expected in ("Test Client", "mcp.example.com/mcp", "dana@company.com", WRITE, "127.0.0.1:7777",
                     "registered itself"):
        assert expected in text
    assert page.header("x-frame-options") == "DENY" and "frame-ancestors 'none'" in page.header("content-security-policy")
    assert any(v.startswith("__Host-mcp_as_flow=") and "Secure" in v and "HttpOnly" in v
               for k, v in started.headers if k == "set-cookie")


# --- refusals at the token endpoint --------------------------------------------------------------------

TOKEN_REFUSALS = [
    ("wrong code_verifier", lambda c, v, code: {"code_verifier": pkce()[0]}, 400, "invalid_grant"),
    ("no code_verifier", lambda c, v, code: {"code_verifier": None}, 400, "invalid_request"),
    ("another redirect_uri", lambda c, v, code: {"redirect_uri": "http://127.0.0.1:7777/other"}, 400, "invalid_grant"),
    ("another resource", lambda c, v, code: {"resource": OTHER_RESOURCE}, 400, "invalid_target"),
    ("unknown code", lambda c, v, code: {"code": "forged"}, 400, "invalid_grant"),
    ("unsupported grant type", lambda c, v, code: {"grant_type": "password"}, 400, "unsupported_grant_type"),
]


@pytest.mark.parametrize("case, change, status, error", TOKEN_REFUSALS, ids=[row[0] for row in TOKEN_REFUSALS])
def test_the_token_endpoint_refuses(browser, case, change, status, error):
    client = register(browser)
    verifier, challenge = pkce()
    code = code_for(browser, client["client_id"], challenge)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": client["client_id"], "code_verifier": verifier}
    form.update(change(client, verifier, code))
    reply = token(browser, **{k: v for k, v in form.items() if v is not None})
    assert (reply.status, reply.json()["error"]) == (status, error)
    assert reply.header("cache-control") == "no-store"


REGISTRATION_REFUSALS = [
    ("plain http redirect to a remote host", {"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
    ("redirect with a fragment", {"redirect_uris": ["https://app.example/cb#x"]}, "invalid_redirect_uri"),
    ("no redirect URIs", {"redirect_uris": []}, "invalid_redirect_uri"),
    ("implicit grant", {"grant_types": ["implicit"]}, "invalid_client_metadata"),
    ("token response type", {"response_types": ["token"]}, "invalid_client_metadata"),
    ("unknown auth method", {"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
]


@pytest.mark.parametrize("case, metadata, error", REGISTRATION_REFUSALS, ids=[row[0] for row in REGISTRATION_REFUSALS])
def test_registration_refuses(browser, case, metadata, error):
    body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", **metadata}
    event = function_url_event("POST", "/register", headers={"content-type": "application/json"},
                               body=json.dumps(body).encode(), domain_name="auth.example.com")
    status, _, reply = response_parts(browser.handler(event))
    assert (status, json.loads(reply)["error"]) == (400, error)
