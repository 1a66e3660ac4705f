"""Bearer token validation: the token's kind, signature, issuer, audience, lifetime, and each issuer's rules.

- Access tokens only (RFC 9068, RFC 8725 §3.11): a generic issuer's tokens must say so in their JOSE `typ`
  (`at+jwt`), Cognito's in `token_use`; ID tokens count only from a provider configured to accept them
  (Google), refresh tokens never.
- Asymmetric signatures only (`none` and HMAC are refused before any key is looked up, so a public key can
  never double as an HMAC secret), RSA keys of 2048 bits or more.
- The `iss` must be a configured issuer exactly; the `aud` must be this server (RFC 8707) or an audience
  configured for that issuer; an ID token with several audiences must name a configured one as `azp`.
- Claims must have their registered types before anything reads them (`exp`, `nbf`, `iat` numbers;
  `iss`, `sub`, `azp`, `client_id`, `scope`, `email` strings; `aud` a string or strings; `email_verified`
  the boolean true): a string `exp` is not "no expiry", it is a bad token. Times are checked with a
  small leeway.
- Google ID tokens must carry a verified email, Cognito tokens must come from a configured app client, and
  `allowed_domains` limits sign-in to a company's accounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWK

from mcp_lambda.auth.config import GOOGLE_ISSUERS, AuthConfig, Provider
from mcp_lambda.auth.jwks import IssuerKeys, KeyUnavailable

LEEWAY_SECONDS = 60
MAX_TOKEN_BYTES = 8 * 1024
_KEY_ALGORITHMS = {
    "RSA": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
    "EC": {"ES256", "ES384", "ES512"},
    "OKP": {"EdDSA"},
}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MIN_RSA_BITS = 2048  # NIST SP 800-131A; shorter keys are factorable
_NUMBER_CLAIMS = ("exp", "nbf", "iat")
_STRING_CLAIMS = ("iss", "sub", "azp", "client_id", "scope", "email", "token_use", "jti", "hd")


class AuthFailure(Exception):
    """A rejected token. `reason` is a stable code for logs and metrics; `detail` is safe for the client."""

    def __init__(self, reason: str, detail: str, issuer: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.issuer = issuer


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller: the token's claims and what they grant."""

    claims: dict[str, Any]
    issuer: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def subject(self) -> str | None:
        return self.claims.get("sub")

    @property
    def email(self) -> str | None:
        return self.claims.get("email")

    @property
    def client_id(self) -> str:
        return str(self.claims.get("client_id") or self.claims.get("azp") or _first(self.claims.get("aud")) or "")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


class TokenValidator:
    """Validates bearer tokens for one server; holds the issuers' keys for the environment's lifetime."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._keys = {p.issuer: IssuerKeys(p.issuer, p.jwks_uri) for p in config.providers}

    def validate(self, token: str, resource: str | None = None) -> Caller:
        """`resource`: this server's URL, an accepted audience (RFC 8707); default the configured one."""
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthFailure("token_too_large", f"token exceeds {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError):
            raise AuthFailure("malformed", "the token is not a well-formed JWT") from None
        _check_claim_types(unverified)
        issuer = unverified.get("iss")
        provider = self.config.provider(issuer)
        if provider is None:
            raise AuthFailure("unknown_issuer", "the token's issuer is not trusted by this server")
        algorithm = header.get("alg")
        if not any(algorithm in algs for algs in _KEY_ALGORITHMS.values()):
            raise AuthFailure("alg_not_allowed", "the token's signing algorithm is not accepted", provider.issuer)
        _check_token_kind(provider, header, unverified)
        key = self._key(provider, header, algorithm)
        claims = self._verify(token, key, algorithm, provider, resource or self.config.resource)
        self._check_provider_rules(provider, claims)
        return Caller(claims=claims, issuer=provider.issuer, scopes=_grants(claims, provider))

    def _key(self, provider: Provider, header: dict[str, Any], algorithm: str) -> Any:
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthFailure("unknown_kid", "the token names no signing key", provider.issuer)
        try:
            jwk = self._keys[provider.issuer].key(kid)
        except KeyUnavailable as exc:
            reason = "unknown_kid" if str(exc) == "unknown kid" else "keys_unavailable"
            raise AuthFailure(reason, "the token's signing key is not known", provider.issuer) from None
        if algorithm not in _KEY_ALGORITHMS[jwk["kty"]] or jwk.get("alg", algorithm) != algorithm or (
            jwk["kty"] == "EC" and jwk.get("crv") != _EC_CURVES.get(algorithm)
        ):
            raise AuthFailure("alg_not_allowed", "the token's algorithm does not match its key", provider.issuer)
        try:
            key = PyJWK(jwk, algorithm=algorithm).key
        except jwt.PyJWTError:
            raise AuthFailure("keys_unavailable", "the token's signing key is not usable", provider.issuer) from None
        if jwk["kty"] == "RSA" and key.key_size < MIN_RSA_BITS:
            raise AuthFailure("weak_key", f"the signing key is shorter than {MIN_RSA_BITS} bits", provider.issuer)
        return key

    def _verify(self, token: str, key: Any, algorithm: str, provider: Provider, resource: str | None) -> dict[str, Any]:
        audiences = [*provider.audiences, *([resource] if resource else [])]
        # Cognito access tokens carry client_id, not aud (its ID tokens, read by the authorization server, have aud).
        cognito = provider.kind == "cognito" and not provider.id_tokens
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=[provider.issuer, *(GOOGLE_ISSUERS if provider.kind == "google" else ())],
                audience=None if cognito else audiences,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", *([] if cognito else ["aud"])],
                         "verify_aud": not cognito},
            )
        except jwt.ExpiredSignatureError:
            raise AuthFailure("expired", "the token has expired", provider.issuer) from None
        except jwt.ImmatureSignatureError:
            raise AuthFailure("not_yet_valid", "the token is not valid yet", provider.issuer) from None
        except jwt.InvalidAudienceError:
            raise AuthFailure("wrong_audience", "the token was issued for another audience", provider.issuer) from None
        except jwt.InvalidIssuerError:
            raise AuthFailure("unknown_issuer", "the token's issuer is not trusted", provider.issuer) from None
        except jwt.InvalidSignatureError:
            raise AuthFailure("bad_signature", "the token's signature does not verify", provider.issuer) from None
        except jwt.PyJWTError as exc:
            raise AuthFailure("invalid_claims", f"the token is not acceptable: {exc}", provider.issuer) from None

    def _check_provider_rules(self, provider: Provider, claims: dict[str, Any]) -> None:
        if claims["iat"] > time.time() + LEEWAY_SECONDS:
            raise AuthFailure("not_yet_valid", "the token was issued in the future", provider.issuer)
        if provider.kind == "cognito" and not provider.id_tokens and claims.get("client_id") not in provider.audiences:
            raise AuthFailure("wrong_audience", "the token was issued for another app client", provider.issuer)
        audiences = claims.get("aud")
        if provider.id_tokens and isinstance(audiences, list) and len(audiences) > 1 and (
            claims.get("azp") not in provider.audiences
        ):
            # OpenID Connect Core §3.1.3.7: with several audiences, the authorized party must be ours.
            raise AuthFailure("wrong_audience", "the token was issued to another party", provider.issuer)
        if provider.kind == "google" or provider.allowed_domains:
            if claims.get("email_verified") is not True:
                raise AuthFailure("email_not_verified", "the account's email address is not verified", provider.issuer)
        if provider.allowed_domains:
            email = str(claims.get("email", ""))
            domain = str(claims.get("hd") or email.rpartition("@")[2]).lower()
            if not email or domain not in provider.allowed_domains:
                raise AuthFailure("domain_not_allowed", "the account's domain may not sign in here", provider.issuer)


def _check_claim_types(claims: dict[str, Any]) -> None:
    """Registered claims of the wrong type make a bad token, before any check reads them (a string `exp`
    would otherwise be taken for a time, or break a comparison)."""
    for name in _NUMBER_CLAIMS:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise AuthFailure("invalid_claims", f"the token's {name} is not a number")
    for name in _STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise AuthFailure("invalid_claims", f"the token's {name} is not a string")
    audience = claims.get("aud")
    if "aud" in claims and not (isinstance(audience, str) or (
            isinstance(audience, list) and audience and all(isinstance(a, str) for a in audience))):
        raise AuthFailure("invalid_claims", "the token's aud is not a string or a list of strings")
    if "email_verified" in claims and not isinstance(claims["email_verified"], bool):
        raise AuthFailure("invalid_claims", "the token's email_verified is not a boolean")


def _check_token_kind(provider: Provider, header: dict[str, Any], claims: dict[str, Any]) -> None:
    """Access tokens only; ID tokens from providers configured for them; refresh tokens never."""
    typ = str(header.get("typ") or "").lower()
    token_use = claims.get("token_use")
    if "refresh" in typ or token_use == "refresh":
        raise AuthFailure("wrong_token_type", "a refresh token is not an access token", provider.issuer)
    if provider.id_tokens:
        if token_use not in (None, "id"):
            raise AuthFailure("wrong_token_type", "an ID token is required from this issuer", provider.issuer)
    elif provider.kind == "cognito":
        if token_use != "access":
            raise AuthFailure("wrong_token_type", "a Cognito access token is required", provider.issuer)
    elif typ not in provider.access_token_typ or token_use not in (None, "access"):
        raise AuthFailure("wrong_token_type", f"an access token (typ {provider.access_token_typ[0]}) is required",
                          provider.issuer)


def _grants(claims: dict[str, Any], provider: Provider) -> frozenset[str]:
    """What the token grants: its scopes (`scope` string or `scp` list), groups (`cognito:groups`,
    `groups`, `roles`), and the provider's `grants` for every verified account (Google ID tokens carry no
    scopes at all). Cognito writes custom scopes as `<resource server>/<scope>`; both forms count."""
    granted: set[str] = set(provider.grants)
    scope = claims.get("scope")
    if isinstance(scope, str):
        granted.update(scope.split())
    for key in ("scp", "cognito:groups", "groups", "roles"):
        value = claims.get(key)
        if isinstance(value, list):
            granted.update(str(v) for v in value)
        elif isinstance(value, str) and key == "scp":
            granted.update(value.split())
    if provider.kind == "cognito":
        granted.update(scope.split("/", 1)[1] for scope in list(granted) if "/" in scope)
    return frozenset(granted)
