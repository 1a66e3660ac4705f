"""McpOidcAuth: sign-in with OIDC bearer tokens for MCP servers on Lambda (Case 3).

Why a construct and not a Lambda authorizer: the server itself validates tokens
(``mcp_lambda/auth``): it needs the verified claims inside the tools (the author of a message),
decides per tool (``get_messages`` is public, ``post_message`` needs a scope), filters ``tools/list`` per
caller and answers with MCP's 401/403 challenges and RFC 9728 metadata. The infrastructure's part is to
tell it whom to trust -- the ``MCP_AUTH_CONFIG`` environment variable -- to provide an identity provider
when the organisation has none (a Cognito user pool), and to watch the failures (a metric, an alarm and a
Logs Insights query on the runtime's ``AUTH_FAILURE`` log lines).

Why ``resource`` is not the Function URL by default: the function's environment is part of the version
the ``live`` alias points at, and the Function URL belongs to that alias, so putting the URL into the
environment makes CloudFormation's graph circular (Function -> environment -> Url -> Alias -> Version ->
Function); ``cdk synth`` rejects it. The runtime therefore derives the resource from each request,
``https://{requestContext.domainName}{MCP_PATH}`` -- the domain Lambda (or API Gateway) reports, not the
client's ``Host`` header -- which is exactly the Function URL's. Either way the resource is an accepted token
audience (RFC 8707), so tokens an authorization server bound to this server count without an ``audiences``
entry. Give ``resource`` when the server sits behind a custom domain (CloudFront, API Gateway) whose URL is
known before deployment and differs from the domain the request reports.

The parts: the issuers and their configuration (``oidc_issuers``), the created Cognito pool
(``cognito_pool``), the props and their validation (``oidc_auth_props``); this module protects services and
watches their failures.

Why access tokens from Cognito, ID tokens from Google: Cognito access tokens carry the app client, scopes
and groups, and are what the proxy CLI sends; Google's access tokens are opaque to third parties, so
Google sign-in sends the OpenID Connect ID token, whose audience is the OAuth client id. See
``mcp_lambda/auth/config.py`` for the runtime's rules per issuer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mcp_lambda import contract as c

from mcp_lambda_cdk.cognito_pool import CALLBACK_PATH, DEFAULT_CALLBACK_PORTS, define_user_pool
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.oidc_auth_props import McpOidcAuthOptions, validate_props, validate_tool_scopes
from mcp_lambda_cdk.oidc_issuers import GOOGLE_ISSUER, OidcIssuer, user_pool_issuer

__all__ = ["McpOidcAuth", "McpOidcAuthOptions", "OidcIssuer", "ProtectedService", "user_pool_issuer"]


@dataclass(frozen=True)
class ProtectedService:
    """What ``McpOidcAuth.protect`` added for one service."""

    service: McpLambdaService
    metric_filter: logs.MetricFilter
    alarm: cloudwatch.Alarm
    query_definition: logs.QueryDefinition


class McpOidcAuth(Construct):
    """Sign-in for MCP servers: trusted OIDC issuers, an optional Cognito user pool, and failure monitoring.

    ``protect(service)`` sets ``MCP_AUTH_CONFIG`` on the service's function and adds, on its log group, a
    metric filter for the runtime's ``AUTH_FAILURE`` lines (metric ``AuthFailures`` in ``McpServers`` with
    the dimension ``service``), an alarm on it and a Logs Insights query definition. The server's code says
    which tools need sign-in or scopes; this construct says whose tokens count.

    The created user pool (``create_user_pool=True``) is for people signing in through the project's proxy
    CLI: administrators create the users (no self sign-up), MFA by authenticator app is required, Cognito
    threat protection is enforced, and one public app client does the authorization-code flow with PKCE
    (no client secret; Cognito accepts PKCE on any code-flow request and checks it when a challenge was
    sent). Cognito matches callback URLs exactly, port included, and does not implement RFC 8252's "any
    port on loopback" rule, so the client registers ``http://127.0.0.1:<port>/callback`` for a few fixed
    ports (``callback_urls``) and the proxy must listen on one of them. Every scope in ``scopes`` becomes
    a resource-server scope (``<identifier>/<scope>`` in tokens, as Cognito always prefixes custom scopes)
    and a user group of the same name; the runtime reads groups from ``cognito:groups`` as granted scopes,
    so adding a user to the group ``messages:write`` is how an administrator lets them post.

    :param scope: the parent construct.
    :param id: the construct id.
    :param google_client_id: accept Google ID tokens issued to this OAuth client id
        (``<number>-<id>.apps.googleusercontent.com``), issuer ``https://accounts.google.com``.
        Default: Google sign-in is off.
    :param allowed_domains: the Google accounts allowed, by email domain (Google Workspace ``hd``), as in
        the guide's ``GoogleIdpConfig(allowed_domains=...)``. Default: any Google account with a verified
        email.
    :param google_grants: scopes every accepted Google account holds (Google ID tokens carry none, so
        without this Google users can only call tools that need sign-in alone). Requires
        ``allowed_domains``: granting to every Google account in the world is never meant. Default: none.
    :param user_pool: trust this existing Cognito user pool's access tokens. Default: none.
    :param user_pool_client_ids: the app clients of ``user_pool`` whose tokens are accepted; required with
        ``user_pool``. Default: none.
    :param create_user_pool: create a user pool, its hosted sign-in domain and an app client for the proxy
        CLI, and trust it. Cannot be combined with ``user_pool``. Default: False.
    :param user_pool_allowed_domains: limit the user pool's users (given or created) by email domain. The
        runtime checks the access token's verified ``email``, which Cognito only puts there through a pre token
        generation trigger (``email_in_access_token`` for a created pool). Default: any user of the pool.
    :param domain_prefix: the created pool's sign-in domain, ``https://<prefix>.auth.<region>.amazoncognito.com``;
        globally unique per region, lower-case letters, digits and ``-``, without ``aws``, ``amazon`` or
        ``cognito``. Default: ``mcp-<account id>-<8 characters of this construct's address>``.
    :param callback_urls: the created app client's exact callback URLs. Default:
        ``http://127.0.0.1:<port>/callback`` for the ports 8976 to 8980.
    :param scopes: the scopes the protected servers check, offered by the created pool as resource-server
        scopes and as groups. Default: every scope named in ``tool_scopes``.
    :param resource_server_identifier: the created resource server's identifier, the prefix of its scopes
        in tokens. Default: ``mcp``.
    :param threat_protection: enforce Cognito threat protection (compromised credentials, adaptive
        authentication) on the created pool; this needs the Plus feature plan, which is billed per monthly
        active user. False selects the Essentials plan. Default: True.
    :param email_in_access_token: add the user's verified email to the created pool's access tokens (a
        pre token generation trigger), so servers can name the author. Default: True.
    :param user_pool_removal_policy: what happens to the created pool (and its users) when it leaves the
        stack; anything but ``DESTROY`` also turns on deletion protection. Default: ``RemovalPolicy.RETAIN``.
    :param machine_clients: headless clients of the created pool (jobs, pipelines, other services), by name,
        each with the scopes it may hold (from ``scopes``): a confidential app client with the
        client-credentials grant, whose access tokens the servers accept (its id joins the trusted app
        clients). Tools see the client as the caller: ``sub`` is its id and there is no email. Cognito bills
        machine-to-machine clients and token requests separately from users. Default: none.
    :param oidc_issuers: more OpenID Connect issuers (Okta, Entra ID, Auth0, Keycloak, ...).
        Default: none.
    :param resource: this server's canonical URL (RFC 9728 ``resource``, an accepted audience) when it is
        known before deployment, e.g. behind a custom domain. Default: none; the runtime derives it from
        each request's domain (see the module docstring for why the Function URL cannot be used here).
    :param tool_scopes: scopes required per tool on top of the server's own policy, e.g.
        ``{"post_message": ["messages:write"]}``. Default: none.
    :param auth_failure_threshold: the alarm fires when this many requests are rejected within
        ``auth_failure_period``. Default: 20.
    :param auth_failure_period: the alarm's period, a whole number of minutes. Default: 5 minutes.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        google_client_id: str | None = None,
        allowed_domains: Sequence[str] = (),
        google_grants: Sequence[str] = (),
        user_pool: cognito.IUserPool | None = None,
        user_pool_client_ids: Sequence[str] = (),
        create_user_pool: bool = False,
        user_pool_allowed_domains: Sequence[str] = (),
        domain_prefix: str | None = None,
        callback_urls: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
        resource_server_identifier: str = "mcp",
        threat_protection: bool = True,
        email_in_access_token: bool = True,
        user_pool_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        machine_clients: Mapping[str, Sequence[str]] | None = None,
        oidc_issuers: Sequence[OidcIssuer] = (),
        resource: str | None = None,
        tool_scopes: Mapping[str, Sequence[str]] | None = None,
        auth_failure_threshold: int | float = 20,
        auth_failure_period: Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        validate_tool_scopes(tool_scopes or {})
        tool_scopes = {name: list(values) for name, values in (tool_scopes or {}).items()}
        scopes = list(dict.fromkeys(scopes if scopes is not None else (s for v in tool_scopes.values() for s in v)))
        callback_urls = list(callback_urls) if callback_urls is not None else [
            f"http://127.0.0.1:{port}{CALLBACK_PATH}" for port in DEFAULT_CALLBACK_PORTS
        ]
        auth_failure_period = auth_failure_period or Duration.minutes(5)
        machine_clients = {name: list(granted) if not isinstance(granted, str) else granted
                           for name, granted in (machine_clients or {}).items()}
        validate_props(
            google_client_id=google_client_id,
            allowed_domains=allowed_domains,
            google_grants=google_grants,
            user_pool=user_pool,
            user_pool_client_ids=user_pool_client_ids,
            create_user_pool=create_user_pool,
            user_pool_allowed_domains=user_pool_allowed_domains,
            domain_prefix=domain_prefix,
            callback_urls=callback_urls,
            scopes=scopes,
            resource_server_identifier=resource_server_identifier,
            email_in_access_token=email_in_access_token,
            machine_clients=machine_clients,
            oidc_issuers=oidc_issuers,
            resource=resource,
            auth_failure_threshold=auth_failure_threshold,
            auth_failure_period=auth_failure_period,
        )
        self.resource = resource
        """The configured canonical URL of the protected server, or None (derived per request)."""
        self.tool_scopes = tool_scopes
        """Scopes required per tool on top of the server's policy."""
        self.scopes = scopes
        """The scopes offered by a created user pool (resource-server scopes and groups)."""
        self._threshold = auth_failure_threshold
        self._period = auth_failure_period
        self._protected: list[ProtectedService] = []

        self.user_pool: cognito.IUserPool | None = user_pool
        """The trusted Cognito user pool, given or created; None without one."""
        self.user_pool_client: cognito.UserPoolClient | None = None
        """The created app client for the proxy CLI (public, code flow with PKCE); None unless created."""
        self.user_pool_domain: cognito.UserPoolDomain | None = None
        """The created pool's hosted sign-in domain; None unless created."""
        self.resource_server: cognito.UserPoolResourceServer | None = None
        """The created pool's resource server with ``scopes``; None unless created with scopes."""
        self.groups: list[cognito.UserPoolGroup] = []
        """The created pool's groups, one per scope: membership grants the scope."""
        self.pre_token_generation: lambda_.Function | None = None
        """The trigger adding the verified email to access tokens; None unless created."""
        self.machine_clients: dict[str, cognito.UserPoolClient] = {}
        """The created pool's headless clients by name (client credentials, with a secret)."""

        if create_user_pool:
            created = define_user_pool(
                self,
                scopes=scopes,
                domain_prefix=domain_prefix,
                callback_urls=callback_urls,
                resource_server_identifier=resource_server_identifier,
                threat_protection=threat_protection,
                email_in_access_token=email_in_access_token,
                removal_policy=user_pool_removal_policy,
                machine_clients=machine_clients,
            )
            self.user_pool, self.user_pool_client, self.user_pool_domain = (
                created.user_pool, created.client, created.domain)
            self.resource_server, self.groups = created.resource_server, created.groups
            self.pre_token_generation = created.pre_token_generation
            self.machine_clients = created.machine_clients
            user_pool_client_ids = [created.client.user_pool_client_id,
                                    *(client.user_pool_client_id for client in created.machine_clients.values())]

        self.providers: list[OidcIssuer] = []
        """Every trusted issuer, in the order of ``MCP_AUTH_CONFIG``'s ``providers``."""
        if google_client_id is not None:
            self.providers.append(
                OidcIssuer(issuer=GOOGLE_ISSUER, audiences=[google_client_id], allowed_domains=allowed_domains,
                           grants=google_grants, id_tokens=True)
            )
        if self.user_pool is not None:
            self.providers.append(
                OidcIssuer(
                    issuer=user_pool_issuer(self.user_pool),
                    audiences=list(user_pool_client_ids),
                    allowed_domains=user_pool_allowed_domains,
                )
            )
        self.providers.extend(oidc_issuers)

        self.config: dict[str, Any] = {"providers": [p.to_config() for p in self.providers]}
        """``MCP_AUTH_CONFIG`` as a dict (it may hold tokens); see ``mcp_lambda/auth/config.py``."""
        if resource is not None:
            self.config = {"resource": resource, **self.config}
        if tool_scopes:
            self.config["tool_scopes"] = tool_scopes
        self.config_json: str = Stack.of(self).to_json_string(self.config)
        """``MCP_AUTH_CONFIG`` as the JSON string the function gets (a token when the config holds tokens)."""

    @classmethod
    def from_options(cls, scope: Construct, id: str, options: McpOidcAuthOptions) -> McpOidcAuth:
        """An ``McpOidcAuth`` with the props ``options`` holds."""
        return cls(scope, id, **{f.name: getattr(options, f.name) for f in fields(options)})

    # -- protecting services ---------------------------------------------------------------------------

    def protect(self, service: McpLambdaService) -> ProtectedService:
        """Require sign-in on ``service`` as its code's policy says, and watch its failures.

        Sets ``MCP_AUTH_CONFIG`` on the function; adds the ``AuthFailures`` metric filter on its log group,
        an alarm on it and a Logs Insights query definition (failures per 5 minutes by reason and issuer).
        """
        name = service.service
        if any(p.service.service == name for p in self._protected):
            raise ValueError(f"the service {name!r} is already protected by {self.node.path}")
        if not service.public:
            Annotations.of(service).add_warning_v2(
                "mcp:bearerBehindIamUrl",
                "the endpoint requires AWS_IAM, whose signature occupies the Authorization header: bearer "
                "tokens cannot reach the server through it (use url_auth_type=NONE or a REST API with "
                "authorization_type=NONE, or a front end that invokes the function itself)",
            )
        service.function.add_environment(c.MCP_AUTH_CONFIG, self.config_json)

        scope = Construct(self, f"Service-{name}")
        metric_filter = logs.MetricFilter(
            scope,
            "AuthFailures",
            log_group=service.log_group,
            filter_pattern=logs.FilterPattern.string_value("$.message", "=", c.AUTH_FAILURE),
            metric_namespace=c.METRICS_NAMESPACE,
            metric_name=c.AUTH_FAILURES,
            metric_value="1",
            dimensions={c.SERVICE_DIMENSION: "$.service"},  # the Powertools service name
            unit=cloudwatch.Unit.COUNT,
        )
        metric = self.metric_auth_failures(name, period=self._period)
        query_name = f"{Stack.of(self).stack_name}/{name}/auth-failures"
        alarm = metric.create_alarm(
            scope,
            "AuthFailuresAlarm",
            threshold=self._threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                f"{name}: too many requests rejected by sign-in (AUTH_FAILURE) in one period: a misconfigured "
                "client, an expired or rotated key, or someone guessing. The Logs Insights query "
                f"'{query_name}' breaks them down by reason and issuer."
            ),
        )
        query_definition = logs.QueryDefinition(
            scope,
            "AuthFailuresQuery",
            query_definition_name=query_name,
            log_groups=[service.log_group],
            query_string=logs.QueryString(
                fields=["@timestamp", "reason", "issuer", "source_ip"],
                filter_statements=[f'message = "{c.AUTH_FAILURE}"'],
                stats_statements=["count() as failures by bin(5m), reason, issuer"],
                sort="failures desc",
            ),
        )
        service.dashboard.add_widgets(cloudwatch.AlarmWidget(title=f"{name} sign-in failures", alarm=alarm, width=8))
        protected = ProtectedService(service, metric_filter, alarm, query_definition)
        self._protected.append(protected)
        return protected

    @property
    def protected(self) -> list[ProtectedService]:
        """The services protected so far, in the order of ``protect`` calls."""
        return list(self._protected)

    @property
    def alarm(self) -> cloudwatch.Alarm:
        """The auth-failure alarm of the first protected service (see ``protected`` for the others)."""
        return self._first().alarm

    @property
    def query_definition(self) -> logs.QueryDefinition:
        """The Logs Insights query of the first protected service (see ``protected`` for the others)."""
        return self._first().query_definition

    def _first(self) -> ProtectedService:
        if not self._protected:
            raise ValueError(f"{self.node.path} protects no service yet: call protect(service) first")
        return self._protected[0]

    def metric_auth_failures(self, service: McpLambdaService | str | None = None, **options: Any) -> cloudwatch.Metric:
        """Requests the runtime rejected (401/403) for a service; takes ``cloudwatch.MetricOptions``.

        :param service: the service or its name. Default: the first protected service.
        Default statistic: the sum over 5 minutes.
        """
        if service is None:
            name = self._first().service.service
        else:
            name = service if isinstance(service, str) else service.service
        return cloudwatch.Metric(
            namespace=c.METRICS_NAMESPACE,
            metric_name=c.AUTH_FAILURES,
            dimensions_map={c.SERVICE_DIMENSION: name},
            **{"statistic": cloudwatch.Stats.SUM, "period": Duration.minutes(5), **options},
        )
