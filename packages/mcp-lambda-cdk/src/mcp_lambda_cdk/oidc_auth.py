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
client's ``Host`` header -- which is exactly the Function URL's. Give ``resource`` when the server sits
behind a custom domain (CloudFront, API Gateway) whose URL is known before deployment: then it is also
accepted as a token audience (RFC 8707), which the derived resource is not.

Why access tokens from Cognito, ID tokens from Google: Cognito access tokens carry the app client, scopes
and groups, and are what the proxy CLI sends; Google's access tokens are opaque to third parties, so
Google sign-in sends the OpenID Connect ID token, whose audience is the OAuth client id. See
``mcp_lambda/auth/config.py`` for the runtime's rules per issuer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from aws_cdk import Annotations, Aws, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mcp_lambda import contract as c

from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.policy import allow_cloudwatch_logs

#: Google's OpenID Connect issuer (the ``iss`` of its ID tokens).
GOOGLE_ISSUER = "https://accounts.google.com"

#: Loopback ports registered as the created app client's callbacks (``http://127.0.0.1:<port>/callback``).
DEFAULT_CALLBACK_PORTS = (8976, 8977, 8978, 8979, 8980)

#: The path of the proxy CLI's sign-in redirect on the loopback interface.
CALLBACK_PATH = "/callback"

_GOOGLE_CLIENT_ID = re.compile(r"^[\w.-]+\.apps\.googleusercontent\.com$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RESERVED_IN_PREFIX = ("aws", "amazon", "cognito")
# Cognito's pattern for custom scope names, minus nothing: no space, '"', '/' or '\'.
_SCOPE = re.compile(r"^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}$")
_RESOURCE_SERVER_ID = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,256}$")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# Cognito access tokens carry no email; the servers store the author's verified email, so a pre token
# generation trigger (V2, for access tokens) copies it in. Users without a verified email get none.
_ACCESS_TOKEN_EMAIL_HANDLER = '''\
def handler(event, context):
    """Add the user's verified email to the access token: MCP servers read `email` from it."""
    attributes = event["request"].get("userAttributes") or {}
    if attributes.get("email") and attributes.get("email_verified") == "true":
        event["response"]["claimsAndScopeOverrideDetails"] = {
            "accessTokenGeneration": {
                "claimsToAddOrOverride": {"email": attributes["email"], "email_verified": True},
            },
        }
    return event
'''


@dataclass(frozen=True, kw_only=True)
class OidcIssuer:
    """An identity provider whose tokens a protected server accepts (one entry of ``providers[]``).

    :param issuer: the issuer URL, exactly as the tokens' ``iss`` claim spells it (``https://...``).
    :param audiences: accepted ``aud`` values (client ids, API identifiers); for Cognito user pools the
        app client ids. Default: none, which only works together with ``McpOidcAuth(resource=...)``.
    :param jwks_uri: where the signing keys are. Default: discovered from
        ``<issuer>/.well-known/openid-configuration``.
    :param allowed_domains: only accounts whose verified email (or Google ``hd``) is in one of these
        domains may sign in. Default: any account of the issuer.
    :param grants: scopes given to every account the issuer verifies, for issuers whose tokens carry no
        scopes (Google ID tokens). Default: none; the tokens' own scopes and groups only.
    """

    issuer: str
    audiences: Sequence[str] = ()
    jwks_uri: str | None = None
    allowed_domains: Sequence[str] = ()
    grants: Sequence[str] = ()

    def to_config(self) -> dict[str, Any]:
        """The provider as ``MCP_AUTH_CONFIG`` spells it (tokens stay tokens)."""
        entry: dict[str, Any] = {"issuer": self.issuer, "audiences": list(self.audiences)}
        if self.jwks_uri is not None:
            entry["jwks_uri"] = self.jwks_uri
        if self.allowed_domains:
            entry["allowed_domains"] = [_lower(d) for d in self.allowed_domains]
        if self.grants:
            entry["grants"] = list(self.grants)
        return entry


@dataclass(frozen=True)
class ProtectedService:
    """What ``McpOidcAuth.protect`` added for one service."""

    service: McpLambdaService
    metric_filter: logs.MetricFilter
    alarm: cloudwatch.Alarm
    query_definition: logs.QueryDefinition


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
    oidc_issuers: Sequence[OidcIssuer] = ()
    resource: str | None = None
    tool_scopes: Mapping[str, Sequence[str]] | None = None
    auth_failure_threshold: int | float = 20
    auth_failure_period: Duration | None = None


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
        oidc_issuers: Sequence[OidcIssuer] = (),
        resource: str | None = None,
        tool_scopes: Mapping[str, Sequence[str]] | None = None,
        auth_failure_threshold: int | float = 20,
        auth_failure_period: Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        _validate_tool_scopes(tool_scopes or {})
        tool_scopes = {name: list(values) for name, values in (tool_scopes or {}).items()}
        scopes = list(dict.fromkeys(scopes if scopes is not None else (s for v in tool_scopes.values() for s in v)))
        callback_urls = list(callback_urls) if callback_urls is not None else [
            f"http://127.0.0.1:{port}{CALLBACK_PATH}" for port in DEFAULT_CALLBACK_PORTS
        ]
        auth_failure_period = auth_failure_period or Duration.minutes(5)
        _validate(
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

        if create_user_pool:
            self._create_user_pool(
                domain_prefix=domain_prefix,
                callback_urls=callback_urls,
                resource_server_identifier=resource_server_identifier,
                threat_protection=threat_protection,
                email_in_access_token=email_in_access_token,
                removal_policy=user_pool_removal_policy,
            )
            user_pool_client_ids = [self.user_pool_client.user_pool_client_id]  # type: ignore[union-attr]

        self.providers: list[OidcIssuer] = []
        """Every trusted issuer, in the order of ``MCP_AUTH_CONFIG``'s ``providers``."""
        if google_client_id is not None:
            self.providers.append(
                OidcIssuer(issuer=GOOGLE_ISSUER, audiences=[google_client_id], allowed_domains=allowed_domains,
                           grants=google_grants)
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

    # -- the user pool -------------------------------------------------------------------------------------

    def _create_user_pool(
        self,
        *,
        domain_prefix: str | None,
        callback_urls: list[str],
        resource_server_identifier: str,
        threat_protection: bool,
        email_in_access_token: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            # Administrators create the users; each sets up an authenticator app at first sign-in.
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS if threat_protection else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=(
                cognito.StandardThreatProtectionMode.FULL_FUNCTION if threat_protection else None
            ),
            deletion_protection=removal_policy != RemovalPolicy.DESTROY,
            removal_policy=removal_policy,
        )
        self.user_pool = pool

        if email_in_access_token:
            # Like every service function: its own key for its logs, a role that writes only its log group.
            trigger_key = kms.Key(self, "AccessTokenEmailKey", enable_key_rotation=True,
                                  description="Encrypts the logs of the Cognito access-token trigger")
            allow_cloudwatch_logs(self, trigger_key)
            trigger_logs = logs.LogGroup(
                self,
                "AccessTokenEmailLogGroup",
                retention=logs.RetentionDays.ONE_MONTH,
                encryption_key=trigger_key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            trigger_role = iam.Role(self, "AccessTokenEmailRole",
                                    assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                                    description="Cognito access-token trigger: writes its own logs, nothing else")
            trigger_logs.grant_write(trigger_role)
            self.pre_token_generation = lambda_.Function(
                self,
                "AccessTokenEmail",
                description="Adds the user's verified email to Cognito access tokens for MCP servers",
                code=lambda_.Code.from_inline(_ACCESS_TOKEN_EMAIL_HANDLER),
                handler="index.handler",
                runtime=lambda_.Runtime.PYTHON_3_14,
                architecture=lambda_.Architecture.ARM_64,
                memory_size=128,
                timeout=Duration.seconds(5),
                role=trigger_role,
                log_group=trigger_logs,
            )
            pool.add_trigger(
                cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
                self.pre_token_generation,
                cognito.LambdaVersion.V2_0,
            )

        self.user_pool_domain = pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix or self._default_domain_prefix()),
        )

        oauth_scopes = [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE]
        if self.scopes:
            server_scopes = [
                cognito.ResourceServerScope(scope_name=s, scope_description=f"MCP tools that need {s}")
                for s in self.scopes
            ]
            self.resource_server = pool.add_resource_server(
                "ResourceServer", identifier=resource_server_identifier, scopes=server_scopes
            )
            oauth_scopes += [cognito.OAuthScope.resource_server(self.resource_server, s) for s in server_scopes]
            self.groups = [
                pool.add_group(f"Group-{s}", group_name=s, description=f"Members are granted {s} by MCP servers")
                for s in self.scopes
            ]

        self.user_pool_client = pool.add_client(
            "ProxyClient",
            generate_secret=False,  # a public client: the proxy CLI cannot keep a secret; PKCE stands in
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
                scopes=oauth_scopes,
                callback_urls=callback_urls,
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )

    def _default_domain_prefix(self) -> str:
        # Unique per account (the prefix namespace is per region, shared by all accounts) and per construct.
        return Fn.join("-", ["mcp", Aws.ACCOUNT_ID, self.node.addr[-8:]])

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


def user_pool_issuer(user_pool: cognito.IUserPool) -> str:
    """The ``iss`` of a user pool's tokens: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``."""
    if isinstance(user_pool, cognito.UserPool):
        return f"https://{user_pool.user_pool_provider_url}"
    # An imported pool: its region comes from its ARN (or is the stack's, for an id).
    return f"https://cognito-idp.{user_pool.env.region}.{Aws.URL_SUFFIX}/{user_pool.user_pool_id}"


# -- validation ------------------------------------------------------------------------------------------


def _lower(value: str) -> str:
    return value if Token.is_unresolved(value) else value.lower()


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


def _validate_tool_scopes(tool_scopes: Mapping[str, Sequence[str]]) -> None:
    for tool, values in tool_scopes.items():
        if not tool or isinstance(values, str):
            raise ValueError(f"tool_scopes maps tool names to lists of scopes, got {tool!r}: {values!r}")
        for scope in values:
            if _literal(scope) and (not scope or any(c.isspace() for c in scope)):
                raise ValueError(f"tool_scopes[{tool!r}]: {scope!r} is not a scope")


def _validate(
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
        if not provider.audiences and resource is None:
            raise ValueError(
                f"OidcIssuer {provider.issuer!r} needs audiences: without a configured resource the runtime "
                "accepts only the listed audiences"
            )
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
