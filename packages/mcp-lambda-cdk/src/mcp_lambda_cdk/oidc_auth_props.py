"""The props of an McpOidcAuth: their value type (``McpOidcAuthOptions``) and their validation at synth time."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_cognito as cognito

from mcp_lambda_cdk.oidc_issuers import GOOGLE_ISSUER, OidcIssuer

_GOOGLE_CLIENT_ID = re.compile(r"^[\w.-]+\.apps\.googleusercontent\.com$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RESERVED_IN_PREFIX = ("aws", "amazon", "cognito")
# Cognito's pattern for custom scope names, minus nothing: no space, '"', '/' or '\'.
_SCOPE = re.compile(r"^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}$")
_RESOURCE_SERVER_ID = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,256}$")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_MACHINE_CLIENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, kw_only=True)
class McpOidcAuthOptions:
    """The props of an ``McpOidcAuth``, as one value: for stacks that define the sign-in themselves
    (``McpServerStack(auth=...)``). Each field is the ``McpOidcAuth`` prop of the same name, with the same
    default (``McpOidcAuth.from_options`` defines one from them)."""

    google_client_id: str | None = None
    allowed_domains: Sequence[str] = ()
    google_grants: Sequence[str] = ()
    user_pool: cognito.IUserPool | None = None
    user_pool_client_ids: Sequence[str] = ()
    create_user_pool: bool = False
    user_pool_allowed_domains: Sequence[str] = ()
    domain_prefix: str | None = None
    callback_urls: Sequence[str] | None = None
    scopes: Sequence[str] | None = None
    resource_server_identifier: str = "mcp"
    threat_protection: bool = True
    email_in_access_token: bool = True
    user_pool_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    machine_clients: Mapping[str, Sequence[str]] | None = None
    oidc_issuers: Sequence[OidcIssuer] = ()
    resource: str | None = None
    tool_scopes: Mapping[str, Sequence[str]] | None = None
    auth_failure_threshold: int | float = 20
    auth_failure_period: Duration | None = None




def _literal(value: object) -> bool:
    return not Token.is_unresolved(value)


def _check_https_url(value: str, what: str, *, allow_path: bool = True) -> None:
    if not _literal(value):
        return
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{what} must be an https URL without query or fragment, got {value!r}")
    if not allow_path and parts.path not in ("", "/"):
        raise ValueError(f"{what} must not have a path, got {value!r}")


def _check_domains(domains: Sequence[str], what: str) -> None:
    if isinstance(domains, str):
        raise ValueError(f"{what} must be a list of domains, got the string {domains!r}")
    for domain in domains:
        if _literal(domain) and not _DOMAIN.match(domain.lower()):
            raise ValueError(f"{what}: {domain!r} is not a domain name like 'company.com'")


def validate_tool_scopes(tool_scopes: Mapping[str, Sequence[str]]) -> None:
    for tool, values in tool_scopes.items():
        if not tool or isinstance(values, str):
            raise ValueError(f"tool_scopes maps tool names to lists of scopes, got {tool!r}: {values!r}")
        for scope in values:
            if _literal(scope) and (not scope or any(c.isspace() for c in scope)):
                raise ValueError(f"tool_scopes[{tool!r}]: {scope!r} is not a scope")


def validate_props(
    *,
    google_client_id: str | None,
    allowed_domains: Sequence[str],
    google_grants: Sequence[str],
    user_pool: cognito.IUserPool | None,
    user_pool_client_ids: Sequence[str],
    create_user_pool: bool,
    user_pool_allowed_domains: Sequence[str],
    domain_prefix: str | None,
    callback_urls: Sequence[str],
    scopes: Sequence[str],
    resource_server_identifier: str,
    email_in_access_token: bool,
    machine_clients: Mapping[str, Sequence[str]],
    oidc_issuers: Sequence[OidcIssuer],
    resource: str | None,
    auth_failure_threshold: int | float,
    auth_failure_period: Duration,
) -> None:
    """Reject what could never sign anyone in, at synth time; tokens are left to CloudFormation."""
    if google_client_id is None and user_pool is None and not create_user_pool and not oidc_issuers:
        raise ValueError("McpOidcAuth needs an identity provider: google_client_id, user_pool, "
                         "create_user_pool=True or oidc_issuers")
    if google_client_id is not None and _literal(google_client_id) and not _GOOGLE_CLIENT_ID.match(google_client_id):
        raise ValueError(
            "google_client_id must be a Google OAuth client id ('...apps.googleusercontent.com'), "
            f"got {google_client_id!r}"
        )
    if google_grants and not allowed_domains:
        raise ValueError("google_grants needs allowed_domains: it would grant to every Google account")
    if allowed_domains and google_client_id is None:
        raise ValueError("allowed_domains restricts Google sign-in and needs google_client_id; use "
                         "user_pool_allowed_domains or OidcIssuer(allowed_domains=...) for other issuers")
    _check_domains(allowed_domains, "allowed_domains")
    _check_domains(user_pool_allowed_domains, "user_pool_allowed_domains")

    if user_pool is not None and create_user_pool:
        raise ValueError("give either user_pool or create_user_pool=True, not both")
    if user_pool is not None and not user_pool_client_ids:
        raise ValueError("user_pool needs user_pool_client_ids: the app clients whose access tokens are accepted")
    if user_pool is None and user_pool_client_ids:
        raise ValueError("user_pool_client_ids need a user_pool")
    if user_pool_allowed_domains and user_pool is None and not create_user_pool:
        raise ValueError("user_pool_allowed_domains needs user_pool or create_user_pool=True")
    if user_pool_allowed_domains and create_user_pool and not email_in_access_token:
        raise ValueError("user_pool_allowed_domains needs email_in_access_token: Cognito access tokens carry no email")
    if not create_user_pool:
        pool_only = {"domain_prefix": domain_prefix is not None}
        for name, given in pool_only.items():
            if given:
                raise ValueError(f"{name} configures the created user pool and needs create_user_pool=True")

    if domain_prefix is not None and _literal(domain_prefix):
        if not _DOMAIN_PREFIX.match(domain_prefix) or any(word in domain_prefix for word in _RESERVED_IN_PREFIX):
            raise ValueError(
                "domain_prefix must be 1 to 63 lower-case letters, digits and '-' (not at either end) without "
                f"'aws', 'amazon' or 'cognito', got {domain_prefix!r}"
            )
    if create_user_pool and not callback_urls:
        raise ValueError("callback_urls must name at least one URL for the created app client")
    for url in callback_urls:
        if not _literal(url):
            continue
        parts = urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
        if not (loopback or parts.scheme == "https") or not parts.hostname or parts.fragment:
            raise ValueError(f"callback URL {url!r} must be https, or http on the loopback interface, without fragment")
    for scope in scopes:
        if _literal(scope) and not _SCOPE.match(scope):
            raise ValueError(f"scope {scope!r} may not contain spaces, '\"', '/' or '\\'")
    if machine_clients and not create_user_pool:
        raise ValueError("machine_clients are app clients of the created user pool and need create_user_pool=True; "
                         "for a pool of your own, add the client there and its id to user_pool_client_ids")
    for name, granted in machine_clients.items():
        if not _MACHINE_CLIENT_NAME.match(name):
            raise ValueError(f"machine client name {name!r}: 1 to 64 letters, digits, '.', '_' or '-'")
        if isinstance(granted, str) or not granted:
            raise ValueError(f"machine client {name!r} needs a list of scopes (a client with none can call only "
                             f"public tools, which need no client), got {granted!r}")
        unknown = [s for s in granted if s not in scopes]
        if unknown:
            raise ValueError(f"machine client {name!r} asks for {unknown}, which the pool does not offer: add them "
                             "to scopes (or to tool_scopes)")
    if _literal(resource_server_identifier) and not _RESOURCE_SERVER_ID.match(resource_server_identifier):
        raise ValueError(
            f"resource_server_identifier {resource_server_identifier!r} may not contain spaces, '\"' or '\\'"
        )

    if resource is not None:
        _check_https_url(resource, "resource")
    issuers = [GOOGLE_ISSUER] if google_client_id is not None else []
    for provider in oidc_issuers:
        if not isinstance(provider, OidcIssuer):
            raise ValueError(f"oidc_issuers takes OidcIssuer(...) entries, got {provider!r}")
        _check_https_url(provider.issuer, "OidcIssuer.issuer")
        if provider.jwks_uri is not None:
            _check_https_url(provider.jwks_uri, "OidcIssuer.jwks_uri")
        if isinstance(provider.audiences, str):
            raise ValueError(f"OidcIssuer.audiences must be a list, got the string {provider.audiences!r}")
        # No audiences is fine: the server's own resource (configured, or derived from each request) is always
        # an accepted audience, which is what an RFC 8707 issuer (McpAuthorizationServer) puts in its tokens.
        _check_domains(provider.allowed_domains, f"OidcIssuer {provider.issuer!r} allowed_domains")
        issuers.append(provider.issuer.rstrip("/") if _literal(provider.issuer) else provider.issuer)
    literal_issuers = [i for i in issuers if _literal(i)]
    if len(set(literal_issuers)) != len(literal_issuers):
        raise ValueError(f"each issuer may be configured once, got {literal_issuers}")

    if _literal(auth_failure_threshold) and not (
        float(auth_failure_threshold).is_integer() and auth_failure_threshold >= 1
    ):
        raise ValueError(f"auth_failure_threshold must be a whole number of at least 1, got {auth_failure_threshold}")
    if not auth_failure_period.is_unresolved():
        seconds = auth_failure_period.to_seconds()
        if seconds < 60 or seconds % 60 or seconds > 86400:
            raise ValueError(f"auth_failure_period must be whole minutes, 1 minute to 1 day, got {seconds} seconds")
