"""The development issuer's sign-in: an OpenID Connect provider for one pre-registered client, as Cognito or
Google are for the authorization server (mcp_lambda.authorization) that `make serve` runs in front of it.

What a provider without registration offers, and no more: the authorization code flow for the one client it
knows (its id, secret and exact redirect URI given at start), PKCE S256, `state`, `nonce`, and an ID token
(with `email`, `email_verified` and `groups`) from the token endpoint, for client_secret_basic. The sign-in
page asks for an email and groups and believes them: anyone who can reach it can sign in as anyone, hence
loopback only. Pages and codes live in memory, under a lock, and die with the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

from mcp_lambda.local.oidc_http import NO_STORE, IssuerRequest, Reply, html_reply, json_reply, parameters, redirect

DEFAULT_EMAIL = "alice@company.com"
PAGE_LIFETIME = 600
CODE_LIFETIME = 60
ID_TOKEN_LIFETIME = 300
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[^@\s<>\"]{1,190}")
_GROUP = re.compile(r"[\w:.\-/]{1,64}")


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """The one client this provider serves (the authorization server), registered beforehand."""

    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class _Page:
    redirect_uri: str
    state: str | None
    nonce: str | None
    code_challenge: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Code:
    email: str
    groups: tuple[str, ...]
    nonce: str | None
    code_challenge: str
    expires_at: float


class SignIn:
    """`/authorize` (the page and its form) and `/token` of one issuer, for `client`.

    `mint(email, audience=..., lifetime=..., headers=..., **claims)` signs tokens (DevIssuer.mint).
    """

    def __init__(self, issuer: str, mint: Callable[..., str], client: RegisteredClient, *,
                 default_groups: tuple[str, ...] = ()) -> None:
        self.issuer = issuer
        self.mint = mint
        self.client = client
        self.default_groups = default_groups
        self._lock = threading.Lock()
        self._pages: dict[str, _Page] = {}
        self._codes: dict[str, _Code] = {}

    def metadata(self) -> dict[str, object]:
        return {
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "email", "email_verified", "name", "groups", "nonce"],
        }

    def handle(self, request: IssuerRequest) -> Reply:
        routes = {("GET", "/authorize"): self._page_request, ("POST", "/authorize"): self._answer,
                  ("POST", "/token"): self._token}
        route = routes.get((request.method, request.path))
        if route is not None:
            return route(request)
        allowed = [method for method, path in routes if path == request.path]
        if allowed:
            return json_reply(405, {"error": "method_not_allowed"}, ("allow", ", ".join(allowed)))
        return json_reply(404, {"error": "not_found"})

    # -- the authorization endpoint ----------------------------------------------------------------------
    def _page_request(self, request: IssuerRequest) -> Reply:
        try:
            values, repeated = parameters(request.query)
        except ValueError:
            return _error_page("The sign-in request is not valid UTF-8.")
        # RFC 6749 §4.1.2.1: a wrong client or redirect URI is shown, never followed.
        if values.get("client_id") != self.client.client_id or values.get("redirect_uri") != self.client.redirect_uri:
            return _error_page("Only the local authorization server signs in here (unknown client_id or redirect_uri).")
        state = values.get("state")
        if repeated or values.get("response_type") != "code":
            return self._back(state, error="invalid_request", error_description="response_type=code, each parameter once")
        if not _S256_CHALLENGE.fullmatch(values.get("code_challenge", "")) or values.get("code_challenge_method") != "S256":
            return self._back(state, error="invalid_request", error_description="PKCE with S256 is required")
        if "openid" not in values.get("scope", "").split():
            return self._back(state, error="invalid_scope", error_description="scope must include openid")
        page = _Page(self.client.redirect_uri, state, values.get("nonce"), values["code_challenge"],
                     time.time() + PAGE_LIFETIME)
        return self._page(200, page, DEFAULT_EMAIL, " ".join(self.default_groups))

    def _answer(self, request: IssuerRequest) -> Reply:
        try:
            values, _ = parameters(request.body)
        except ValueError:
            values = {}
        with self._lock:
            page = self._pages.pop(values.get("request", ""), None)  # one answer per page
        if page is None or page.expires_at <= time.time():
            return _error_page("This sign-in page has expired or was already used. Start again from the application.")
        if values.get("action") == "deny":
            return self._back(page.state, error="access_denied", error_description="The user cancelled the sign-in")
        email = values.get("email", "").strip()
        groups = tuple(values.get("groups", "").split())
        if not _EMAIL.fullmatch(email) or not all(_GROUP.fullmatch(g) for g in groups):
            return self._page(400, page, email, " ".join(groups), problem="Enter an email address (and group names).")
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes = {k: v for k, v in self._codes.items() if v.expires_at > time.time()}
            self._codes[code] = _Code(email, groups, page.nonce, page.code_challenge, time.time() + CODE_LIFETIME)
        return self._back(page.state, code=code)

    def _back(self, state: str | None, **answer: str) -> Reply:
        answer = {**answer, **({"state": state} if state is not None else {}), "iss": self.issuer}
        parts = urlsplit(self.client.redirect_uri)
        query = "&".join(q for q in (parts.query, urlencode(answer)) if q)
        return redirect(urlunsplit(parts._replace(query=query)))

    def _page(self, status: int, page: _Page, email: str, groups: str, problem: str = "") -> Reply:
        """The page, under an id of its own that its form sends back (nothing in the form to tamper with)."""
        page_id = secrets.token_urlsafe(24)
        with self._lock:
            self._pages = {k: v for k, v in self._pages.items() if v.expires_at > time.time()}
            self._pages[page_id] = page
        e = html.escape
        return html_reply(status, _PAGE.format(
            action=e(f"{self.issuer}/authorize"), page_id=e(page_id), email=e(email), groups=e(groups),
            problem=f'<p style="color: #b00">{e(problem)}</p>' if problem else ""))

    # -- the token endpoint ------------------------------------------------------------------------------
    def _token(self, request: IssuerRequest) -> Reply:
        if not self._authenticated(request.authorization):
            return json_reply(401, {"error": "invalid_client"}, ("www-authenticate", 'Basic realm="dev-oidc"'), *NO_STORE)
        try:
            values, repeated = parameters(request.body)
        except ValueError:
            values, repeated = {}, {"body"}
        if repeated or values.get("grant_type") != "authorization_code":
            return json_reply(400, {"error": "unsupported_grant_type" if not repeated else "invalid_request"}, *NO_STORE)
        with self._lock:
            code = self._codes.pop(values.get("code", ""), None)  # single use, even when what follows fails
        if (code is None or code.expires_at <= time.time() or values.get("redirect_uri") != self.client.redirect_uri
                or not hmac.compare_digest(_s256(values.get("code_verifier", "")), code.code_challenge)):
            return json_reply(400, {"error": "invalid_grant"}, *NO_STORE)
        id_token = self.mint(code.email, audience=self.client.client_id, lifetime=ID_TOKEN_LIFETIME,
                             headers={"typ": "JWT"}, scope=None, nonce=code.nonce, groups=list(code.groups),
                             auth_time=int(time.time()))
        return json_reply(200, {"id_token": id_token, "access_token": secrets.token_urlsafe(32),
                                "token_type": "Bearer", "expires_in": ID_TOKEN_LIFETIME}, *NO_STORE)

    def _authenticated(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return unquote(client_id) == self.client.client_id and hmac.compare_digest(unquote(secret), self.client.client_secret)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _error_page(message: str) -> Reply:
    return html_reply(400, _ERROR_PAGE.format(message=html.escape(message)))


_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Sign in: development issuer</title>
<body style="font-family: system-ui, sans-serif; margin: 3em; max-width: 40em">
<h2>Sign in</h2>
{problem}<form method="post" action="{action}">
<input type="hidden" name="request" value="{page_id}">
<p><label>Email <input type="email" name="email" value="{email}" size="32" required autofocus></label></p>
<p><label>Groups <input type="text" name="groups" value="{groups}" size="32"></label>
<small>(space-separated, as Cognito groups)</small></p>
<p><button name="action" value="sign-in">Sign in</button>
<button name="action" value="deny" formnovalidate>Cancel</button></p>
</form>
<p><small>Development issuer of <code>make serve</code>: any email is accepted and nothing is checked.</small></p>
</body></html>"""

_ERROR_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Sign-in failed: development issuer</title>
<body style="font-family: system-ui, sans-serif; margin: 3em; max-width: 40em">
<h2>Sign-in failed</h2><p>{message}</p></body></html>"""
