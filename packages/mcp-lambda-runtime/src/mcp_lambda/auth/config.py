"""Sign-in configuration: the JSON in `MCP_AUTH_CONFIG`, set by the McpOidcAuth construct.

    {
      "resource": "https://abc.lambda-url.eu-west-1.on.aws/mcp",     # this server (RFC 8707 / RFC 9728)
      "providers": [
        {"issuer": "https://accounts.google.com", "audiences": ["<client id>"], "id_tokens": true,
         "allowed_domains": ["company.com"], "grants": ["messages:write"]},  # Google ID tokens carry no scopes
        {"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_XXXX", "audiences": ["<app client id>"]},
        {"issuer": "https://login.example.com", "audiences": ["api://mcp"], "jwks_uri": "https://.../keys"}
      ],
      "tool_scopes": {"post_message": ["messages:write"]}             # optional, added to the code's policy
    }

A provider's kind follows from its issuer: Google (ID tokens: `aud` is the OAuth client id,
`email_verified` required), Cognito user pools (access tokens: `token_use` = access, `client_id`), or any
other OIDC issuer (RFC 9068 access tokens: JOSE `typ` `at+jwt`, or the values its `access_token_typ`
names; `aud` is this resource or a configured audience). `resource` is always an accepted audience, as
RFC 8707 intends. ID tokens are accepted only from a provider configured with `"id_tokens": true` (Google,
whose access tokens are opaque), refresh tokens never. An issuer is compared exactly as configured: a
trailing `/` is part of the identifier (RFC 8414, OpenID Connect Discovery).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mcp_lambda import contract as c

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
#: RFC 9068 §2.1: an access token's JOSE `typ`, in its short and its media-type form.
ACCESS_TOKEN_TYP = ("at+jwt", "application/at+jwt")
_COGNITO = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[\w-]+$")

ProviderKind = Literal["google", "cognito", "oidc"]


class AuthConfigError(ValueError):
    """MCP_AUTH_CONFIG is missing a field or malformed; raised at start, never per request."""


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    audiences: tuple[str, ...]
    jwks_uri: str | None = None
    allowed_domains: tuple[str, ...] = ()
    grants: tuple[str, ...] = ()
    """Scopes given to every account this provider verifies (for issuers whose tokens carry none)."""
    id_tokens: bool = False
    """Accept the provider's OpenID Connect ID tokens as bearer tokens (only for issuers, like Google, that
    give third parties no JWT access tokens); otherwise only access tokens count."""
    access_token_typ: tuple[str, ...] = ACCESS_TOKEN_TYP
    """The JOSE `typ` values that mark the provider's access tokens (RFC 9068: `at+jwt`), for generic OIDC
    issuers; Cognito marks them with `token_use` instead."""

    @property
    def kind(self) -> ProviderKind:
        if self.issuer in GOOGLE_ISSUERS:
            return "google"
        if _COGNITO.match(self.issuer):
            return "cognito"
        return "oidc"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    resource: str | None
    providers: tuple[Provider, ...]
    tool_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def provider(self, issuer: object) -> Provider | None:
        """The provider whose issuer identifier is exactly `issuer` (Google also signs as `accounts.google.com`)."""
        for provider in self.providers:
            if provider.issuer == issuer or (provider.kind == "google" and issuer in GOOGLE_ISSUERS):
                return provider
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthConfig | None:
        raw = (os.environ if env is None else env).get(c.MCP_AUTH_CONFIG)
        return cls.from_json(raw) if raw else None

    @classmethod
    def from_json(cls, raw: str) -> AuthConfig:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise AuthConfigError(f"MCP_AUTH_CONFIG is not JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("providers"), list) or not data["providers"]:
            raise AuthConfigError("MCP_AUTH_CONFIG needs a non-empty 'providers' list")
        providers = []
        for entry in data["providers"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("issuer"), str):
                raise AuthConfigError("every provider needs an 'issuer' URL")
            audiences = entry.get("audiences") or []
            if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
                raise AuthConfigError(f"provider {entry['issuer']}: 'audiences' must be a list of strings")
            typ = entry.get("access_token_typ") or list(ACCESS_TOKEN_TYP)
            if not isinstance(typ, list) or not all(isinstance(t, str) and t for t in typ):
                raise AuthConfigError(f"provider {entry['issuer']}: 'access_token_typ' must be a list of strings")
            if not isinstance(entry.get("id_tokens", False), bool):
                raise AuthConfigError(f"provider {entry['issuer']}: 'id_tokens' must be true or false")
            providers.append(Provider(
                issuer=entry["issuer"],
                audiences=tuple(audiences),
                jwks_uri=entry.get("jwks_uri"),
                allowed_domains=tuple(d.lower() for d in entry.get("allowed_domains") or ()),
                grants=tuple(entry.get("grants") or ()),
                id_tokens=entry.get("id_tokens", False),
                access_token_typ=tuple(t.lower() for t in typ),
            ))
        for provider in providers:
            if provider.kind != "oidc" and not provider.audiences:
                raise AuthConfigError(f"provider {provider.issuer}: 'audiences' must name the client id(s)")
            if provider.kind == "google" and not provider.id_tokens:
                raise AuthConfigError(f"provider {provider.issuer}: Google gives no JWT access tokens; accept its "
                                      "ID tokens explicitly with \"id_tokens\": true")
        scopes = data.get("tool_scopes") or {}
        return cls(
            resource=data.get("resource"),
            providers=tuple(providers),
            tool_scopes={name: tuple(values) for name, values in scopes.items()},
        )
