"""Case 3: the messaging server behind OIDC sign-in (Cognito by default, Google and other issuers on request).

Why a public Function URL: the server signs people in itself (bearer tokens checked against each issuer's
keys, per tool), so the URL must let the ``Authorization: Bearer`` header through; an ``AWS_IAM`` URL
would use that header for its own signature. Reading stays open, posting needs the ``messages:write``
scope or group, and each message carries the verified email of its author.

Why a NAT gateway: the server fetches the issuers' signing keys (JWKS) from the internet, and it runs in
the database's VPC to reach the RDS Proxy, so that VPC's application tier gets egress (one NAT gateway;
the database tier stays isolated).

Why the messaging package ships too: ``secure_messaging`` reuses ``messaging.store`` (the same table and
queries); the bundler finds that import and ships ``messaging`` beside it. The schema comes from the
messaging server's migrations.

Context, for ``cdk synth/deploy -c ...``: ``googleClientId`` adds Google sign-in for that OAuth client;
``allowedDomains`` (comma-separated) limits Google accounts to those email domains. Without context only
the created Cognito user pool is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from mcp_lambda_cdk.database import McpDatabase
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.oidc_auth import McpOidcAuth, OidcIssuer, user_pool_issuer
from mcp_servers import SECURE_MESSAGING

#: The scope (or Cognito group) the secure messaging server requires for ``post_message``.
(WRITE_SCOPE,) = SECURE_MESSAGING.scopes

#: CDK context keys read when the matching props are not given.
GOOGLE_CLIENT_ID_CONTEXT = "googleClientId"
ALLOWED_DOMAINS_CONTEXT = "allowedDomains"


class McpSecureMessagingStack(Stack):
    """The secure messaging MCP server, its database, its identity providers and their monitoring.

    :param google_client_id: accept Google ID tokens for this OAuth client id. Default: the context value
        ``googleClientId``, else no Google sign-in.
    :param allowed_domains: Google accounts allowed, by email domain. Default: the context value
        ``allowedDomains`` (comma-separated), else any verified Google account.
    :param create_user_pool: create a Cognito user pool with an app client for the proxy CLI.
        Default: True.
    :param oidc_issuers: further OIDC issuers to trust. Default: none.
    :param auth_props: further keyword props for ``McpOidcAuth`` (``domain_prefix``, ``callback_urls``,
        ``threat_protection``, ``user_pool_removal_policy``, ``tool_scopes``, ...). Default: none.
    :param database_props: keyword props for ``McpDatabase``. Default: its production defaults with one NAT
        gateway (``nat_gateways=1``), as the server fetches the issuers' keys from the internet.
    :param kwargs: ``Stack`` props (``env``, ``description``, ...).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        google_client_id: str | None = None,
        allowed_domains: Sequence[str] | None = None,
        create_user_pool: bool = True,
        oidc_issuers: Sequence[OidcIssuer] = (),
        auth_props: Mapping[str, Any] | None = None,
        database_props: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        if google_client_id is None:
            google_client_id = _context_string(self, GOOGLE_CLIENT_ID_CONTEXT)
        if allowed_domains is None:
            allowed_domains = _context_list(self, ALLOWED_DOMAINS_CONTEXT)

        self.database = McpDatabase(self, "Database", **{"nat_gateways": 1, **(database_props or {})})

        self.service = McpLambdaService(
            self,
            "SecureMessaging",
            server=SECURE_MESSAGING,
            vpc=self.database.vpc,
            vpc_subnets=self.database.application_subnets,
        )
        self.database.connect_service(self.service)

        # The table is the messaging server's; its migrations run before the alias moves to new code.
        self.migrations = self.database.add_migrations(*SECURE_MESSAGING.migration_dirs, service="messaging")
        self.service.alias.node.add_dependency(self.migrations)

        self.auth = McpOidcAuth(
            self,
            "Auth",
            **{
                "google_client_id": google_client_id,
                "allowed_domains": allowed_domains,
                # Google ID tokens carry no scopes: accounts of the allowed domains may post.
                "google_grants": [WRITE_SCOPE] if allowed_domains else [],
                "create_user_pool": create_user_pool,
                "oidc_issuers": oidc_issuers,
                "scopes": [WRITE_SCOPE],
                **(auth_props or {}),
            },
        )
        self.auth.protect(self.service)

        if self.auth.user_pool_client is not None and self.auth.user_pool_domain is not None:
            CfnOutput(
                self,
                "UserPoolIssuer",
                value=user_pool_issuer(self.auth.user_pool),  # type: ignore[arg-type]
                description="The Cognito issuer the server trusts",
            )
            CfnOutput(
                self,
                "UserPoolClientId",
                value=self.auth.user_pool_client.user_pool_client_id,
                description="The proxy CLI's --client-id (a public client: no secret, PKCE)",
            )
            CfnOutput(
                self,
                "UserPoolId",
                value=self.auth.user_pool.user_pool_id,  # type: ignore[union-attr]
                description="Create users here and add writers to the group " + WRITE_SCOPE,
            )
            CfnOutput(
                self,
                "SignInDomain",
                value=self.auth.user_pool_domain.base_url(),
                description="The hosted sign-in pages of the user pool",
            )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Secure messaging errors", left=[self.service.metric_errors()], width=8),
            cloudwatch.GraphWidget(
                title="Secure messaging duration (p99, ms)",
                left=[self.service.metric_duration(statistic="p99")],
                width=8,
            ),
            cloudwatch.AlarmWidget(title="Sign-in failures", alarm=self.auth.alarm, width=8),
        )
        self.dashboard.add_widgets(*self.database.dashboard_widgets())


def _context_string(scope: Construct, key: str) -> str | None:
    value = scope.node.try_get_context(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip()


def _context_list(scope: Construct, key: str) -> list[str]:
    value = scope.node.try_get_context(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]
