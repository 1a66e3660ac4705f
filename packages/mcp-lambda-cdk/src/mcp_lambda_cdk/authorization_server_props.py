"""The props of an McpAuthorizationServer: who gets which scope (``ScopeRule``), the props as one value
(``McpAuthorizationServerOptions``) and their validation at synth time."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns

from mcp_lambda_cdk.oidc_auth_props import _check_domains, _check_https_url, validate_tool_scopes
from mcp_lambda_cdk.oidc_issuers import OidcIssuer

# One scope as OAuth spells it (RFC 6749 §3.3: no space, '"' or '\').
_SCOPE = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,256}$")
_MIN_ACCESS_TOKEN, _MAX_ACCESS_TOKEN = Duration.minutes(1), Duration.days(1)
_MAX_REFRESH_TOKEN = Duration.days(365)
_MIN_MEMORY_MB, _MAX_MEMORY_MB = 128, 10240


@dataclass(frozen=True)
class ScopeRule:
    """Who the authorization server grants a scope to: one entry of the runtime's ``scope_rules``
    (``mcp_lambda.authorization.config.ScopeRule``). A person gets the scope when any part matches.

    :param scope: the scope, as the MCP servers' access policies name it (``messages:write``).
    :param groups: people in one of these upstream groups (Cognito groups; an OIDC ``groups`` claim).
        Default: none.
    :param domains: people whose verified email is in one of these domains. Default: none.
    :param everyone: everyone the upstream signs in (and ``allowed_domains`` admits). Default: False.
    """

    scope: str
    _: KW_ONLY
    groups: Sequence[str] = ()
    domains: Sequence[str] = ()
    everyone: bool = False

    def to_config(self) -> dict[str, Any]:
        """The rule as the runtime's configuration spells it (tokens stay tokens)."""
        entry: dict[str, Any] = {"scope": self.scope}
        if self.groups:
            entry["groups"] = list(self.groups)
        if self.domains:
            entry["domains"] = [d if Token.is_unresolved(d) else d.lower() for d in self.domains]
        if self.everyone:
            entry["everyone"] = True
        return entry


@dataclass(frozen=True, kw_only=True)
class McpAuthorizationServerOptions:
    """The props of an ``McpAuthorizationServer``, as one value: for stacks that define it themselves
    (``McpServerStack(authorization_server=...)``). Each field is the prop of the same name, with the same
    default (``McpAuthorizationServer.from_options`` defines one from them)."""

    user_pool: cognito.IUserPool | None = None
    user_pool_domain: cognito.IUserPoolDomain | None = None
    upstream_issuer: str | None = None
    upstream_client_id: str | None = None
    upstream_client_secret: secretsmanager.ISecret | None = None
    allowed_domains: Sequence[str] = ()
    scope_rules: Sequence[ScopeRule] | None = None
    resource_names: Mapping[str, str] | None = None
    access_token_lifetime: Duration | None = None
    refresh_token_lifetime: Duration | None = None
    also_trusted: Sequence[OidcIssuer] | None = None
    resource: str | None = None
    tool_scopes: Mapping[str, Sequence[str]] | None = None
    auth_failure_threshold: int | float = 20
    auth_failure_period: Duration | None = None
    memory_size: int | float = 1024
    reserved_concurrent_executions: int | float | None = None
    cap_public_concurrency: bool = True
    encryption_key: kms.IKey | None = None
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    removal_policy: RemovalPolicy = RemovalPolicy.DESTROY
    alarm_topic: sns.ITopic | None = None


def _literal(value: object) -> bool:
    return not Token.is_unresolved(value)


def _whole_seconds(value: Duration, what: str, low: Duration, high: Duration) -> None:
    if value.is_unresolved():
        raise ValueError(f"{what} must be a known duration: the configuration is written at synthesis")
    seconds = value.to_seconds(integral=False)
    if not float(seconds).is_integer() or not low.to_seconds() <= seconds <= high.to_seconds():
        raise ValueError(
            f"{what} must be whole seconds from {low.to_human_string()} to {high.to_human_string()}, "
            f"got {value.to_human_string()}"
        )


def validate_props(
    *,
    user_pool: cognito.IUserPool | None,
    user_pool_domain: cognito.IUserPoolDomain | None,
    upstream_issuer: str | None,
    upstream_client_id: str | None,
    upstream_client_secret: secretsmanager.ISecret | None,
    allowed_domains: Sequence[str],
    scope_rules: Sequence[ScopeRule] | None,
    resource_names: Mapping[str, str],
    access_token_lifetime: Duration,
    refresh_token_lifetime: Duration,
    also_trusted: Sequence[OidcIssuer],
    resource: str | None,
    tool_scopes: Mapping[str, Sequence[str]],
    memory_size: int | float,
    reserved_concurrent_executions: int | float | None,
) -> None:
    """Reject what could never sign anyone in, at synth time; tokens are left to CloudFormation."""
    given = {"upstream_issuer": upstream_issuer, "upstream_client_id": upstream_client_id,
             "upstream_client_secret": upstream_client_secret}
    if user_pool is not None and any(v is not None for v in given.values()):
        raise ValueError("give either user_pool (a Cognito user pool) or upstream_issuer, upstream_client_id and "
                         "upstream_client_secret (any OpenID Connect provider), not both")
    if user_pool is None:
        missing = [name for name, value in given.items() if value is None]
        if len(missing) == len(given):
            raise ValueError("McpAuthorizationServer needs an upstream identity provider: user_pool, or "
                             "upstream_issuer, upstream_client_id and upstream_client_secret")
        if missing:
            raise ValueError(f"an OpenID Connect upstream needs {', '.join(missing)} too")
        if user_pool_domain is not None:
            raise ValueError("user_pool_domain is the domain of user_pool, and needs it")
        assert upstream_issuer is not None
        _check_https_url(upstream_issuer, "upstream_issuer")
        if _literal(upstream_issuer) and upstream_issuer.endswith("/.well-known/openid-configuration"):
            raise ValueError("upstream_issuer is the issuer itself, without /.well-known/openid-configuration")
    _check_domains(allowed_domains, "allowed_domains")

    if scope_rules is not None:
        if isinstance(scope_rules, ScopeRule):
            raise ValueError("scope_rules must be a list of ScopeRule(...), got one rule")
        for rule in scope_rules:
            if not isinstance(rule, ScopeRule):
                raise ValueError(f"scope_rules takes ScopeRule(...) entries, got {rule!r}")
            if _literal(rule.scope) and not _SCOPE.match(rule.scope):
                raise ValueError(f"scope rule {rule.scope!r}: a scope has no spaces, '\"' or '\\'")
            for name in ("groups", "domains"):
                if isinstance(getattr(rule, name), str):
                    raise ValueError(f"scope rule {rule.scope!r}: {name} must be a list, got a string")
            if not (rule.groups or rule.domains or rule.everyone):
                raise ValueError(f"scope rule {rule.scope!r} grants to no one: give groups, domains or everyone=True")
            _check_domains(rule.domains, f"scope rule {rule.scope!r} domains")
    for server, name in resource_names.items():
        if not server or not isinstance(name, str) or not name.strip():
            raise ValueError(f"resource_names maps server names to what the consent page calls them, got "
                             f"{server!r}: {name!r}")

    _whole_seconds(access_token_lifetime, "access_token_lifetime", _MIN_ACCESS_TOKEN, _MAX_ACCESS_TOKEN)
    _whole_seconds(refresh_token_lifetime, "refresh_token_lifetime", access_token_lifetime, _MAX_REFRESH_TOKEN)

    for provider in also_trusted:
        if not isinstance(provider, OidcIssuer):
            raise ValueError(f"also_trusted takes OidcIssuer(...) entries, got {provider!r}")
    if resource is not None:
        _check_https_url(resource, "resource")
    validate_tool_scopes(tool_scopes)

    if _literal(memory_size) and not (float(memory_size).is_integer() and _MIN_MEMORY_MB <= memory_size <= _MAX_MEMORY_MB):
        raise ValueError(f"memory_size must be a whole number of MB from {_MIN_MEMORY_MB} to {_MAX_MEMORY_MB}, "
                         f"got {memory_size}")
    if reserved_concurrent_executions is not None and _literal(reserved_concurrent_executions) and not (
        float(reserved_concurrent_executions).is_integer() and reserved_concurrent_executions >= 1
    ):
        raise ValueError("reserved_concurrent_executions must be a whole number of at least 1 (0 would stop "
                         f"every sign-in), got {reserved_concurrent_executions}")
