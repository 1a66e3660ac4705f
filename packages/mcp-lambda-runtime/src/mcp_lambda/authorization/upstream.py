"""The identity provider behind the authorization server: who the person is, by OpenID Connect.

The authorization server is a client of the upstream provider (a Cognito app client, a Google OAuth client,
any OIDC client with a secret), registered once with the redirect URI `<issuer>/callback`. Each sign-in is
an authorization code flow with its own `state`, `nonce` and PKCE verifier (S256); the code is exchanged
with the client's secret, and the ID token is validated as the MCP servers validate tokens
(mcp_lambda.auth.tokens: signature from the provider's JWKS, exact issuer, our client id as audience,
`azp` with several audiences, claim types, expiry), then its `nonce` is checked against the one sent.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from mcp_lambda.auth.config import AuthConfig, Provider
from mcp_lambda.auth.jwks import fetch_json
from mcp_lambda.auth.tokens import AuthFailure, TokenValidator
from mcp_lambda.authorization.config import Upstream

TOKEN_TIMEOUT = 5.0
_MAX_REPLY = 256 * 1024


class UpstreamError(Exception):
    """The provider could not sign the person in (refused, unreachable, or answered with a bad token).

    `description` is safe to show on the sign-in error page; `reason` is a short code for the logs."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


@dataclass(frozen=True, slots=True)
class Identity:
    """The person the provider signed in, as the authorization server keeps it in codes and refresh tokens."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    groups: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {"sub": self.subject, "email": self.email, "email_verified": self.email_verified,
                "name": self.name, "groups": sorted(self.groups)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Identity:
        return cls(subject=data["sub"], email=data.get("email"), email_verified=bool(data.get("email_verified")),
                   name=data.get("name"), groups=frozenset(data.get("groups") or ()))


class UpstreamProvider:
    """One upstream OpenID Connect provider and this server's client registration with it."""

    def __init__(self, upstream: Upstream, redirect_uri: str, *, client_secret: str | None = None) -> None:
        self.upstream = upstream
        self.redirect_uri = redirect_uri
        self._client_secret = client_secret if client_secret is not None else upstream.client_secret
        self._metadata: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._validator = TokenValidator(AuthConfig(resource=None, providers=(Provider(
            issuer=upstream.issuer, audiences=(upstream.client_id,), jwks_uri=upstream.jwks_uri,
            allowed_domains=upstream.allowed_domains, id_tokens=True),)))

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once per environment; its issuer must be ours exactly."""
        with self._lock:
            if self._metadata is None:
                try:
                    document = fetch_json(f"{self.upstream.issuer.rstrip('/')}/.well-known/openid-configuration")
                except Exception as exc:  # unreachable, not JSON, refused scheme
                    raise UpstreamError("upstream_unreachable", "the sign-in provider cannot be reached") from exc
                if not isinstance(document, dict) or document.get("issuer") != self.upstream.issuer:
                    raise UpstreamError("upstream_misconfigured", "the sign-in provider's discovery document "
                                        "names another issuer")
                self._metadata = document
            return self._metadata

    def authorization_url(self, *, state: str, nonce: str, code_challenge: str) -> str:
        query = urlencode({
            "response_type": "code",
            "client_id": self.upstream.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.upstream.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        })
        endpoint = self.metadata()["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def sign_in(self, code: str, code_verifier: str, nonce: str) -> Identity:
        """Exchange the provider's code and return the person its ID token names (nonce checked)."""
        tokens = self._exchange(code, code_verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamError("upstream_no_id_token", "the sign-in provider returned no ID token")
        try:
            caller = self._validator.validate(id_token)
        except AuthFailure as failure:
            raise UpstreamError(f"upstream_{failure.reason}", f"the sign-in could not be verified: {failure.detail}") from None
        claims = caller.claims
        if claims.get("nonce") != nonce:
            raise UpstreamError("upstream_nonce", "the sign-in could not be verified: the ID token's nonce differs")
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        return Identity(subject=str(claims["sub"]), email=email, email_verified=claims.get("email_verified") is True,
                        name=name, groups=caller.scopes)

    def _exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": code_verifier}
        headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json",
                   "user-agent": "mcp-lambda-authorization"}
        if self._client_secret:
            # RFC 6749 §2.3.1: client_secret_basic, the method every provider supports (form-encoded parts).
            pair = f"{_form(self.upstream.client_id)}:{_form(self._client_secret)}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form["client_id"] = self.upstream.client_id
        request = urllib.request.Request(self.metadata()["token_endpoint"], data=urlencode(form).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT) as reply:  # noqa: S310 (from discovery)
                return _object(reply.read(_MAX_REPLY))
        except urllib.error.HTTPError as exc:
            detail = _object(exc.read(_MAX_REPLY), strict=False).get("error") or f"HTTP {exc.code}"
            raise UpstreamError("upstream_refused", f"the sign-in provider refused the sign-in ({detail})") from None
        except (OSError, ValueError) as exc:
            raise UpstreamError("upstream_unreachable", "the sign-in provider cannot be reached") from exc


def _form(value: str) -> str:
    return quote(value, safe="")


def _object(body: bytes, *, strict: bool = True) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        if strict:
            raise
        return {}
    if not isinstance(value, dict):
        if strict:
            raise ValueError("not a JSON object")
        return {}
    return value
