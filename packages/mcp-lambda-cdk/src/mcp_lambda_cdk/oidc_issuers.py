"""The identity providers a server with sign-in trusts, as ``MCP_AUTH_CONFIG``'s ``providers`` spell them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Token
from aws_cdk import aws_cognito as cognito

#: Google's OpenID Connect issuer (the ``iss`` of its ID tokens).
GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass(frozen=True, kw_only=True)
class OidcIssuer:
    """An identity provider whose tokens a protected server accepts (one entry of ``providers[]``).

    :param issuer: the issuer URL, exactly as the tokens' ``iss`` claim spells it (``https://...``).
    :param audiences: accepted ``aud`` values (client ids, API identifiers); for Cognito user pools the
        app client ids. Default: none: only tokens issued for the server itself are accepted (RFC 8707: ``aud``
        is its resource, ``McpOidcAuth(resource=...)`` or the URL the runtime derives from each request), as
        an authorization server that binds tokens to their resource issues them (``McpAuthorizationServer``).
    :param jwks_uri: where the signing keys are. Default: discovered from
        ``<issuer>/.well-known/openid-configuration``.
    :param allowed_domains: only accounts whose verified email (or Google ``hd``) is in one of these
        domains may sign in. Default: any account of the issuer.
    :param grants: scopes given to every account the issuer verifies, for issuers whose tokens carry no
        scopes (Google ID tokens). Default: none; the tokens' own scopes and groups only.
    :param id_tokens: accept the issuer's OpenID Connect ID tokens as bearer tokens, for issuers that give
        third parties no JWT access tokens (Google). Default: False (RFC 9068 access tokens only).
    :param access_token_typ: the JOSE ``typ`` values marking the issuer's access tokens. Default: ``at+jwt``
        and ``application/at+jwt`` (RFC 9068).
    """

    issuer: str
    audiences: Sequence[str] = ()
    jwks_uri: str | None = None
    allowed_domains: Sequence[str] = ()
    grants: Sequence[str] = ()
    id_tokens: bool = False
    access_token_typ: Sequence[str] = ()

    def to_config(self) -> dict[str, Any]:
        """The provider as ``MCP_AUTH_CONFIG`` spells it (tokens stay tokens)."""
        entry: dict[str, Any] = {"issuer": self.issuer, "audiences": list(self.audiences)}
        if self.jwks_uri is not None:
            entry["jwks_uri"] = self.jwks_uri
        if self.allowed_domains:
            entry["allowed_domains"] = [_lower(d) for d in self.allowed_domains]
        if self.grants:
            entry["grants"] = list(self.grants)
        if self.id_tokens:
            entry["id_tokens"] = True
        if self.access_token_typ:
            entry["access_token_typ"] = list(self.access_token_typ)
        return entry


def user_pool_issuer(user_pool: cognito.IUserPool) -> str:
    """The ``iss`` of a user pool's tokens: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``."""
    if isinstance(user_pool, cognito.UserPool):
        return f"https://{user_pool.user_pool_provider_url}"
    # An imported pool: its region comes from its ARN (or is the stack's, for an id).
    return f"https://cognito-idp.{user_pool.env.region}.{Aws.URL_SUFFIX}/{user_pool.user_pool_id}"


def _lower(value: str) -> str:
    return value if Token.is_unresolved(value) else value.lower()
