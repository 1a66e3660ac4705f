"""The development issuer's OAuth 2.1 authorization server: browser sign-in with any email, on loopback.

What a native client such as the proxy needs to sign in, and no more: dynamic registration of public
clients with loopback redirect URIs (oidc_clients.py), the authorization code grant with PKCE
S256 (RFC 7636), the `resource` indicator (RFC 8707, it becomes an audience of the token), `iss` in the
authorization response (RFC 9207) and refresh tokens that rotate. The sign-in page asks for an email
and believes it: anyone who can reach the issuer can get a token for anyone, hence loopback only.

Sign-in pages, codes and refresh tokens live in memory, under a lock (the dev server is one threaded
process), and die with the process.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from mcp_lambda.local.oidc_clients import GRANT_TYPES, Clients, b64url, redirect_matches
from mcp_lambda.local.oidc_http import NO_STORE, IssuerRequest, Reply, html_reply, json_reply, parameters, redirect

DEFAULT_EMAIL = "alice@company.com"
PAGE_LIFETIME = 600  # how long a sign-in page may wait for its button
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[^@\s<>\"]{1,190}")


class OAuthError(Exception):
    """An RFC 6749 error: its code, a description safe to show, and the HTTP status of a JSON answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True, slots=True)
class Grant:
    """What the user approved: for which client, as whom, which scopes, for which resource."""

    client_id: str
    email: str
    scope: tuple[str, ...]
    resource: str | None


@dataclass(frozen=True, slots=True)
class SignIn:
    """A validated authorization request, waiting on its page for the user."""

    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    scope: tuple[str, ...]
    resource: str | None
    expires_at: float


@dataclass(frozen=True, slots=True)
class Code:
    grant: Grant
    redirect_uri: str
    code_challenge: str
    expires_at: float


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


class AuthorizationServer:
    """The endpoints `/register`, `/authorize` (the page, and its form) and `/token` of one issuer.

    `mint(email, audience=..., scopes=..., lifetime=..., headers=..., **claims)` signs access tokens
    (DevIssuer.mint); `audience` is the audience every token carries; `client_key` signs client IDs.
    """

    def __init__(self, issuer: str, mint: Callable[..., str], *, audience: str, scopes: tuple[str, ...],
                 client_key: bytes, access_lifetime: int = 3600, code_lifetime: int = 60) -> None:
        self.issuer = issuer
        self.mint = mint
        self.audience = audience
        self.scopes = scopes
        self.clients = Clients(client_key)
        self.access_lifetime = access_lifetime
        self.code_lifetime = code_lifetime
        self._lock = threading.Lock()
        self._sign_ins: dict[str, SignIn] = {}
        self._codes: dict[str, Code] = {}
        self._refresh_tokens: dict[str, Grant] = {}

    def metadata(self) -> dict[str, object]:
        """The RFC 8414 fields of the discovery document."""
        return {
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "registration_endpoint": f"{self.issuer}/register",
            "scopes_supported": list(self.scopes),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": GRANT_TYPES,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": True,
        }

    def handle(self, request: IssuerRequest) -> Reply:
        routes = {
            ("GET", "/authorize"): self._authorization_page,
            ("POST", "/authorize"): self._sign_in,
            ("POST", "/token"): self._token,
            ("POST", "/register"): self.clients.register,
        }
        route = routes.get((request.method, request.path))
        if route is not None:
            return route(request)
        allowed = [method for method, path in routes if path == request.path]
        if allowed:
            return json_reply(405, {"error": "method_not_allowed"}, ("allow", ", ".join(allowed)))
        return json_reply(404, {"error": "not_found"})

    # -- the authorization endpoint ----------------------------------------------------------------------

    def _authorization_page(self, request: IssuerRequest) -> Reply:
        """Validate the request (RFC 6749 §4.1.2.1: a bad client or redirect URI is shown, never
        followed; any other error goes back to the client), then show the sign-in page."""
        try:
            values, repeated = parameters(request.query)
        except ValueError:
            return self._error_page("The sign-in request is not valid UTF-8.")
        redirect_uri = values.get("redirect_uri")
        registered = self.clients.redirect_uris(values.get("client_id"))
        if {"client_id", "redirect_uri"} & repeated or registered is None:
            return self._error_page("The application that sent you here is not registered with this issuer "
                                    "(unknown client_id). Start the sign-in again from the application.")
        if not redirect_uri or not any(redirect_matches(r, redirect_uri) for r in registered):
            return self._error_page("The redirect_uri of this sign-in request is not one the application "
                                    "registered.")
        state = values.get("state") if "state" not in repeated else None
        try:
            sign_in = self._validate(values, repeated, redirect_uri)
        except OAuthError as error:
            return self._back(redirect_uri, state, error=error.error, error_description=error.description)
        return self._page(200, sign_in, DEFAULT_EMAIL)

    def _validate(self, values: dict[str, str], repeated: set[str], redirect_uri: str) -> SignIn:
        if repeated:
            raise OAuthError("invalid_request", f"repeated parameter: {', '.join(sorted(repeated))}")
        if "response_type" not in values:
            raise OAuthError("invalid_request", "response_type is required")
        if values["response_type"] != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        if not _S256_CHALLENGE.fullmatch(values.get("code_challenge", "")):
            raise OAuthError("invalid_request", "a PKCE code_challenge (S256) is required")
        if values.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        resource = values.get("resource")
        if resource is not None and (not urlsplit(resource).scheme or "#" in resource):
            raise OAuthError("invalid_target", "resource must be an absolute URI without a fragment")
        requested = values.get("scope", "").split()
        scope = tuple(s for s in requested if s in self.scopes) if requested else self.scopes
        if not scope:
            raise OAuthError("invalid_scope", f"supported scopes: {' '.join(self.scopes)}")
        return SignIn(values["client_id"], redirect_uri, values.get("state"), values["code_challenge"], scope,
                      resource, time.time() + PAGE_LIFETIME)

    def _sign_in(self, request: IssuerRequest) -> Reply:
        """The page's form: `request` (the page), `email`, and `action` (sign-in, or deny)."""
        try:
            values, _ = parameters(request.body)
        except ValueError:
            values = {}
        with self._lock:
            sign_in = self._sign_ins.pop(values.get("request", ""), None)  # one answer per page
        if sign_in is None or sign_in.expires_at <= time.time():
            return self._error_page("This sign-in page has expired or was already used. "
                                    "Start the sign-in again from the application.")
        if values.get("action") == "deny":
            return self._back(sign_in.redirect_uri, sign_in.state, error="access_denied",
                              error_description="The user cancelled the sign-in")
        email = values.get("email", "").strip()
        if not _EMAIL.fullmatch(email):
            return self._page(400, sign_in, email, problem="Enter an email address.")
        code = secrets.token_urlsafe(32)
        grant = Grant(sign_in.client_id, email, sign_in.scope, sign_in.resource)
        expires_at = time.time() + self.code_lifetime
        with self._lock:
            self._codes = {k: v for k, v in self._codes.items() if v.expires_at > time.time()}
            self._codes[code] = Code(grant, sign_in.redirect_uri, sign_in.code_challenge, expires_at)
        return self._back(sign_in.redirect_uri, sign_in.state, code=code)

    def _back(self, redirect_uri: str, state: str | None, **answer: str) -> Reply:
        """Redirect to the client with `answer`, `state` and `iss`, keeping the URI's own query (RFC 6749 §3.1.2)."""
        answer = {**answer, **({"state": state} if state is not None else {}), "iss": self.issuer}
        parts = urlsplit(redirect_uri)
        query = "&".join(q for q in (parts.query, urlencode(answer)) if q)
        return redirect(urlunsplit(parts._replace(query=query)))

    def _page(self, status: int, sign_in: SignIn, email: str, problem: str = "") -> Reply:
        """The sign-in page for `sign_in`, under a page ID of its own that its form sends back: the form
        carries no parameters to tamper with, and a page from another site cannot guess the ID."""
        page_id = secrets.token_urlsafe(24)
        with self._lock:
            self._sign_ins = {k: v for k, v in self._sign_ins.items() if v.expires_at > time.time()}
            self._sign_ins[page_id] = sign_in
        e = html.escape
        target = f" for <code>{e(sign_in.resource)}</code>" if sign_in.resource else ""
        return html_reply(status, _PAGE.format(
            action=e(f"{self.issuer}/authorize"), page_id=e(page_id), email=e(email),
            client=e(urlsplit(sign_in.redirect_uri).netloc), target=target, scope=e(" ".join(sign_in.scope)),
            problem=f'<p style="color: #b00">{e(problem)}</p>' if problem else "",
        ))

    def _error_page(self, message: str) -> Reply:
        return html_reply(400, _ERROR_PAGE.format(message=html.escape(message)))

    # -- the token endpoint ------------------------------------------------------------------------------

    def _token(self, request: IssuerRequest) -> Reply:
        try:
            grant, scope = self._grant(request)
        except OAuthError as error:
            # RFC 6749 §5.2: a client that tried HTTP authentication is told the scheme it failed.
            headers = [("www-authenticate", 'Basic realm="dev-oidc"')] if request.authorization else []
            body = {"error": error.error, "error_description": error.description}
            return json_reply(error.status, body, *headers, *NO_STORE)
        return json_reply(200, self._issue(grant, scope), *NO_STORE)

    def _grant(self, request: IssuerRequest) -> tuple[Grant, tuple[str, ...]]:
        """What the request proves, and the scope of its access token."""
        if request.authorization:
            raise OAuthError("invalid_client", "public clients only: send client_id in the body", 401)
        if request.media_type() != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "send the request as application/x-www-form-urlencoded")
        try:
            values, repeated = parameters(request.body)
        except ValueError:
            raise OAuthError("invalid_request", "the request body is not valid UTF-8") from None
        if repeated:
            raise OAuthError("invalid_request", f"repeated parameter: {', '.join(sorted(repeated))}")
        if "client_secret" in values or self.clients.redirect_uris(values.get("client_id")) is None:
            raise OAuthError("invalid_client", "unknown client_id (public clients only, without a secret)", 401)
        grant_type = values.get("grant_type")
        if grant_type == "authorization_code":
            grant = self._redeem_code(values)
            return grant, grant.scope
        if grant_type == "refresh_token":
            return self._redeem_refresh_token(values)
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is required")
        raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")

    def _redeem_code(self, values: dict[str, str]) -> Grant:
        for name in ("code", "redirect_uri", "code_verifier"):
            if name not in values:
                raise OAuthError("invalid_request", f"{name} is required")
        with self._lock:
            code = self._codes.pop(values["code"], None)  # single use, even when what follows fails
        if code is None or code.expires_at <= time.time():
            raise OAuthError("invalid_grant", "the code is unknown, expired or already used")
        if code.grant.client_id != values["client_id"] or code.redirect_uri != values["redirect_uri"]:
            raise OAuthError("invalid_grant", "the code was issued to another client_id or redirect_uri")
        if not hmac.compare_digest(s256(values["code_verifier"]), code.code_challenge):
            raise OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
        _check_resource(values, code.grant)
        return code.grant

    def _redeem_refresh_token(self, values: dict[str, str]) -> tuple[Grant, tuple[str, ...]]:
        """Rotation: the refresh token is used up here and a new one issued; a request that fails
        leaves it usable. A narrower `scope` narrows the access token only (RFC 6749 §6)."""
        if "refresh_token" not in values:
            raise OAuthError("invalid_request", "refresh_token is required")
        with self._lock:
            grant = self._refresh_tokens.get(values["refresh_token"])
            if grant is None or grant.client_id != values["client_id"]:
                raise OAuthError("invalid_grant", "the refresh token is unknown or was already used")
            _check_resource(values, grant)
            scope = tuple(values["scope"].split()) if "scope" in values else grant.scope
            if not scope or not set(scope) <= set(grant.scope):
                raise OAuthError("invalid_scope", "scope may only narrow what was granted")
            del self._refresh_tokens[values["refresh_token"]]
        return grant, scope

    def _issue(self, grant: Grant, scope: tuple[str, ...]) -> dict[str, object]:
        """An RFC 9068 JWT access token for the configured audience and the resource, and a refresh token."""
        audience = [self.audience, grant.resource] if grant.resource else self.audience
        access_token = self.mint(grant.email, audience=audience, scopes=scope, lifetime=self.access_lifetime,
                                 headers={"typ": "at+jwt"}, client_id=grant.client_id)
        refresh_token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[refresh_token] = grant
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": self.access_lifetime,
                "refresh_token": refresh_token, "scope": " ".join(scope)}


def _check_resource(values: dict[str, str], grant: Grant) -> None:
    """RFC 8707: a token request may name the resource, and only the one the user approved."""
    if "resource" in values and values["resource"] != grant.resource:
        raise OAuthError("invalid_target", "resource differs from the one in the authorization request")


_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Sign in: development issuer</title>
<body style="font-family: system-ui, sans-serif; margin: 3em; max-width: 40em">
<h2>Sign in</h2>
<p>The application at <code>{client}</code> asks to act as you{target}, with scope <code>{scope}</code>.</p>
{problem}<form method="post" action="{action}">
<input type="hidden" name="request" value="{page_id}">
<p><label>Email <input type="email" name="email" value="{email}" size="32" required autofocus></label></p>
<p><button name="action" value="sign-in">Sign in</button>
<button name="action" value="deny" formnovalidate>Cancel</button></p>
</form>
<p><small>Development issuer of <code>make serve</code>: any email is accepted and nothing is checked.</small></p>
</body></html>"""

_ERROR_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Sign-in failed: development issuer</title>
<body style="font-family: system-ui, sans-serif; margin: 3em; max-width: 40em">
<h2>Sign-in failed</h2><p>{message}</p></body></html>"""
