"""The authorization server's configuration: JSON in `MCP_AS_CONFIG`, or in the SSM parameter named by
`MCP_AS_CONFIG_PARAMETER` (as the McpAuthorizationServer construct deploys it), or given by the local server.

    {
      "issuer": "https://abc.lambda-url.eu-west-1.on.aws",         # this authorization server (RFC 8414)
      "resources": ["https://def.lambda-url.eu-west-1.on.aws/mcp"],  # the MCP servers it issues tokens for
      "upstream": {                                                  # who signs people in
        "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_XXXX",
        "client_id": "<app client id>",
        "scope": "openid email profile",
        "allowed_domains": []
      },
      "scope_rules": [                                               # which scopes whom
        {"scope": "messages:write", "groups": ["messages:write"]},
        {"scope": "messages:read", "everyone": true},
        {"scope": "reports:run", "domains": ["company.com"]}
      ],
      "access_token_lifetime": 3600, "refresh_token_lifetime": 2592000
    }

The upstream client's secret is not in it: it comes from Secrets Manager (`MCP_AS_UPSTREAM_SECRET`) or,
locally, from the `client_secret` field. A rule grants its scope to people in one of its `groups` (Cognito
groups, or an OIDC `groups` claim), to people whose verified email is in one of its `domains`, or to
`everyone` the upstream signs in (after `allowed_domains`, which decides who may sign in at all).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mcp_lambda import contract as c

DEFAULT_ACCESS_TOKEN_LIFETIME = 3600
DEFAULT_REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600
DEFAULT_UPSTREAM_SCOPE = "openid email profile"


class AuthorizationConfigError(ValueError):
    """MCP_AS_CONFIG is missing or malformed; raised when the function starts, never per request."""


@dataclass(frozen=True, slots=True)
class ScopeRule:
    scope: str
    groups: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    everyone: bool = False

    def grants(self, groups: frozenset[str], email_domain: str | None) -> bool:
        return self.everyone or bool(groups.intersection(self.groups)) or (
            email_domain is not None and email_domain in self.domains)


@dataclass(frozen=True, slots=True)
class Upstream:
    issuer: str
    client_id: str
    client_secret: str | None = None
    scope: str = DEFAULT_UPSTREAM_SCOPE
    allowed_domains: tuple[str, ...] = ()
    jwks_uri: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationConfig:
    issuer: str
    resources: tuple[str, ...]
    upstream: Upstream
    scope_rules: tuple[ScopeRule, ...] = ()
    access_token_lifetime: int = DEFAULT_ACCESS_TOKEN_LIFETIME
    refresh_token_lifetime: int = DEFAULT_REFRESH_TOKEN_LIFETIME
    allow_private_metadata_urls: bool = False
    """Fetch client ID metadata documents from private addresses: for the loopback development server only."""
    resource_names: Mapping[str, str] = field(default_factory=dict)
    """What the consent page calls each resource (default: its host and path)."""

    @property
    def scopes_supported(self) -> list[str]:
        return sorted({rule.scope for rule in self.scope_rules})

    def entitled_scopes(self, groups: frozenset[str], email: str | None, email_verified: bool) -> frozenset[str]:
        """The scopes the rules give a person with these upstream groups and this email."""
        domain = email.rpartition("@")[2].lower() if email and email_verified and "@" in email else None
        return frozenset(rule.scope for rule in self.scope_rules if rule.grants(groups, domain))

    def resource_name(self, resource: str) -> str:
        if resource in self.resource_names:
            return self.resource_names[resource]
        parts = urlsplit(resource)
        return f"{parts.netloc}{parts.path}"

    @classmethod
    def parse(cls, text: str) -> AuthorizationConfig:
        try:
            data = json.loads(text)
            upstream = data["upstream"]
            config = cls(
                issuer=_url(data["issuer"], "issuer"),
                resources=tuple(_url(r, "resources[]") for r in data["resources"]),
                upstream=Upstream(
                    issuer=str(upstream["issuer"]),
                    client_id=str(upstream["client_id"]),
                    client_secret=upstream.get("client_secret"),
                    scope=str(upstream.get("scope") or DEFAULT_UPSTREAM_SCOPE),
                    allowed_domains=tuple(d.lower() for d in upstream.get("allowed_domains") or ()),
                    jwks_uri=upstream.get("jwks_uri"),
                ),
                scope_rules=tuple(_rule(r) for r in data.get("scope_rules") or ()),
                access_token_lifetime=int(data.get("access_token_lifetime") or DEFAULT_ACCESS_TOKEN_LIFETIME),
                refresh_token_lifetime=int(data.get("refresh_token_lifetime") or DEFAULT_REFRESH_TOKEN_LIFETIME),
                allow_private_metadata_urls=bool(data.get("allow_private_metadata_urls", False)),
                resource_names=dict(data.get("resource_names") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AuthorizationConfigError(f"{c.MCP_AS_CONFIG} is not a valid configuration: {exc}") from None
        if not config.resources:
            raise AuthorizationConfigError(f"{c.MCP_AS_CONFIG} names no resources")
        if "openid" not in config.upstream.scope.split():
            raise AuthorizationConfigError("the upstream scope must include openid (the sign-in is OpenID Connect)")
        return config

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *, ssm: Any = None) -> AuthorizationConfig:
        """From `MCP_AS_CONFIG`, else from the SSM parameter `MCP_AS_CONFIG_PARAMETER` names (`ssm`: a boto3
        SSM client, made when needed)."""
        environ = os.environ if environ is None else environ
        text = environ.get(c.MCP_AS_CONFIG)
        if text:
            return cls.parse(text)
        name = environ.get(c.MCP_AS_CONFIG_PARAMETER)
        if not name:
            raise AuthorizationConfigError(f"neither {c.MCP_AS_CONFIG} nor {c.MCP_AS_CONFIG_PARAMETER} is set")
        if ssm is None:
            import boto3

            ssm = boto3.client("ssm")
        return cls.parse(ssm.get_parameter(Name=name)["Parameter"]["Value"])


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a URL")
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"{name} must be an https URL (http only on loopback), not {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must have no query or fragment")
    return value


def _rule(data: Mapping[str, Any]) -> ScopeRule:
    scope = data["scope"]
    if not isinstance(scope, str) or not scope or " " in scope:
        raise ValueError(f"a scope rule's scope must be one scope, not {scope!r}")
    return ScopeRule(scope=scope, groups=tuple(map(str, data.get("groups") or ())),
                     domains=tuple(str(d).lower() for d in data.get("domains") or ()),
                     everyone=bool(data.get("everyone", False)))
