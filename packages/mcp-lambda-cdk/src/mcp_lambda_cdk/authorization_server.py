"""McpAuthorizationServer: the app's own OAuth 2.1 authorization server, for MCP clients that register
themselves (Claude Code, VS Code, MCP Inspector), in front of an identity provider that offers no
registration (a Cognito user pool, Google, any OpenID Connect issuer).

Why a server of our own: MCP clients discover where to sign in from the server's RFC 9728 metadata and then
register themselves there (Dynamic Client Registration, or a Client ID Metadata Document). Cognito and Google
do neither, so without it every client needs an app client made for it by hand. The runtime half
(``mcp_lambda.authorization``) is that server, as its own Lambda function; this construct deploys it: the
function behind a public Function URL on its ``live`` alias, a DynamoDB table for its state, an asymmetric KMS
key that signs its access tokens (the private key never leaves KMS), its configuration in an SSM parameter, and
the upstream provider's client (for a Cognito pool, a confidential app client it creates, with its secret in
Secrets Manager). ``protect(service)`` makes an MCP server trust it and adds the server to its resources.

Why the configuration is in an SSM parameter and the secret is read by name (CloudFormation cycles): the
configuration names the authorization server's own URL (its issuer), the MCP servers' URLs (its resources) and
the app client's id, and the app client's callback URL is the authorization server's URL. Any of those in the
function's environment would close a cycle (Function -> environment -> Url -> Alias -> Version -> Function).
So the function's environment holds names only: the parameter's and the secret's, built from the stack's name
and this construct's path, and references to the table and the signing key (which depend on nothing here). Its
permissions on the parameter and the secret name ARNs built from those names, never references: the function
depends on its role's policy, so a reference there would close the same cycle. The parameter's value, written
by CloudFormation, is where the references go.

Why the parameter's name ends in a hash of its value: the runtime reads the configuration once per execution
environment. A new value under a new name changes the function's environment, so Lambda publishes a new
version and the ``live`` alias moves: every environment then reads the new value. Under the same name, warm
environments would keep the old one. (The alias moves before CloudFormation writes the new parameter, which
depends on the URL; an environment starting in between finds no parameter, answers 500 and retries at its
next request, where an old value would have stayed until the environment ended.)

Why the function is in no VPC: it fetches the upstream provider's discovery document, keys and tokens, and
client metadata documents on any HTTPS host (CIMD: public addresses only, see ``mcp_lambda/authorization/
cimd.py``); inside a VPC that needs a NAT gateway, and it reaches no private resource.

The resource and the tokens' audience. The authorization server binds each access token to the MCP server it
is for (RFC 8707: ``aud`` is that server's resource) and issues tokens only for the resources it lists; the MCP
server accepts a token whose ``aud`` is its own resource, which the runtime derives from each request as
``https://{requestContext.domainName}{MCP_PATH}`` (see ``mcp_lambda_cdk.oidc_auth``), and publishes that URL in
its RFC 9728 metadata, which is what clients send as ``resource``. So for each protected server this construct
lists exactly that string: for a Function URL, ``https://<the URL's host><mcp_path>`` (the host is the domain
Lambda reports; the URL's trailing ``/`` goes); for a REST API with a custom domain (mapped at the root),
``https://<domain>/mcp``. A REST API on its execute-api URL cannot work (its URL carries the stage, which the
derived resource and the well-known metadata URL lack) and is refused; a server behind another front (a
CloudFront distribution) needs ``resource``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import (
    ArnFormat,
    CfnOutput,
    Duration,
    Fn,
    IStableStringProducer,
    Lazy,
    RemovalPolicy,
    SecretValue,
    Stack,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IValidation

from mcp_lambda import contract as c

from mcp_lambda_cdk.authorization_server_props import McpAuthorizationServerOptions, ScopeRule, validate_props
from mcp_lambda_cdk.bundling import PythonBundle, bundled_code
from mcp_lambda_cdk.cognito_pool import _default_domain_prefix
from mcp_lambda_cdk.lambda_service import ALIAS_NAME, PUBLIC_URL_RESERVED_CONCURRENCY
from mcp_lambda_cdk.monitoring import McpAuthorizationServerMonitoring, authorization_server_widgets
from mcp_lambda_cdk.oidc_auth import McpOidcAuth, ProtectedService
from mcp_lambda_cdk.oidc_issuers import OidcIssuer, user_pool_issuer
from mcp_lambda_cdk.policy import acknowledge, allow_cloudwatch_logs
from mcp_lambda_cdk.tasks import TABLE_KEY_ACTIONS, _nag_arn

if TYPE_CHECKING:
    from mcp_lambda_cdk.lambda_service import McpLambdaService

__all__ = ["McpAuthorizationServer", "McpAuthorizationServerOptions", "ScopeRule"]

#: The Lambda handler: the runtime's own (``mcp_lambda/authorization/handler.py``), installed with its extra.
AUTHORIZATION_HANDLER = "mcp_lambda.authorization.handler.handler"

#: The runtime's optional dependencies the handler needs (Authlib).
AUTHORIZATION_EXTRA = "authorization"

#: The only DynamoDB calls the runtime's ``DynamoStore`` makes (its module docstring).
STORE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")

#: What ``KmsSigner`` calls on the signing key: the public key once per environment, then one signature a token.
SIGNING_ACTIONS = ("kms:GetPublicKey", "kms:Sign")

#: Where the upstream provider sends people back, below the issuer (``handler.callback_url``).
CALLBACK_PATH = "/callback"

#: The JWK Set, below the issuer (the runtime's route).
JWKS_PATH = "/jwks.json"

#: What the authorization server asks the upstream for: who the person is (the runtime's default scope).
UPSTREAM_SCOPES = (cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE)

#: How long the function may take: a token request signs with KMS and may exchange a code upstream (5 s).
TIMEOUT = Duration.seconds(30)

_DEFAULT_ACCESS_TOKEN_LIFETIME = Duration.hours(1)
_DEFAULT_REFRESH_TOKEN_LIFETIME = Duration.days(30)
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")


@jsii.implements(IStableStringProducer)
class _Produce:
    """A value computed at synthesis, once every ``protect`` call has been made."""

    def __init__(self, produce: Callable[[], str]) -> None:
        self._produce = produce

    def produce(self) -> str:
        return self._produce()


class McpAuthorizationServer(Construct):
    """An OAuth 2.1 authorization server (``mcp_lambda.authorization``) for the MCP servers it ``protect``\\ s,
    signing people in at an upstream OpenID Connect provider.

    It registers clients itself (RFC 7591, Client ID Metadata Documents), shows a consent page, issues access
    tokens bound to one MCP server (RFC 8707) with the scopes its ``scope_rules`` give the person's upstream
    groups or email domain, signed by a KMS key, and rotating refresh tokens. See the module docstring for the
    cycle-free wiring and for how each server's resource is found.

    The upstream is either a Cognito user pool (``user_pool``): the construct defines a confidential app client
    on it (authorization-code flow, scopes ``openid email profile``, callback ``<url>/callback``, short-lived
    tokens since only the ID token is read, once) and keeps its secret in Secrets Manager; or any OpenID
    Connect provider (``upstream_issuer``, ``upstream_client_id``, ``upstream_client_secret``: Google, Okta,
    Entra ID, ...), where the client is registered by hand with the redirect URI ``callback_url`` (a stack
    output).

    :param scope: the parent construct.
    :param id: the construct id.
    :param user_pool: sign people in with this Cognito user pool; its groups are the ``groups`` of
        ``scope_rules``. Default: none (then the ``upstream_*`` props are required).
    :param user_pool_domain: the pool's domain, where Cognito's sign-in pages (and its authorize endpoint)
        are; the authorization server finds them in the pool's discovery document. A pool has at most one
        Cognito domain: pass it when the pool has one. Default: a new Cognito domain on the pool, prefix
        ``mcp-<account id>-<8 characters of this construct's address>``.
    :param upstream_issuer: the issuer URL of another OpenID Connect provider (``https://accounts.google.com``),
        exactly as its ID tokens' ``iss`` spells it. Default: none.
    :param upstream_client_id: this authorization server's client id at that provider. Default: none.
    :param upstream_client_secret: the Secrets Manager secret holding that client's secret (the string, or JSON
        with ``client_secret``); read by the function, never put in the template. Default: none.
    :param allowed_domains: only people whose verified email is in one of these domains may sign in.
        Default: anyone the upstream signs in.
    :param scope_rules: who gets which scope. Default: for every scope the protected servers declare (and every
        scope of ``tool_scopes``), the people in the upstream group of the same name (as the Cognito pool of
        ``McpOidcAuth(create_user_pool=True)`` has them).
    :param resource_names: what the consent page calls each protected server, by server name
        (``{"secure-messaging": "Team messages"}``). Default: the server's name.
    :param access_token_lifetime: how long an access token is valid, 1 minute to 1 day. Default: 1 hour.
    :param refresh_token_lifetime: how long a refresh token is valid (each use rotates it), from
        ``access_token_lifetime`` to 365 days. Default: 30 days.
    :param also_trusted: issuers the protected servers also accept tokens from directly, after this one (whose
        entry comes first in their RFC 9728 metadata, where clients pick the first): e.g. ``McpOidcAuth.providers``
        for the proxy CLI's Cognito client or Google. Default: none.
    :param resource: the protected server's canonical URL when the request's domain is not it (a CloudFront
        distribution in front); the resource of every server protected here. Default: derived per server.
    :param tool_scopes: scopes required per tool on top of the servers' own policies
        (``McpOidcAuth(tool_scopes=...)``). Default: none.
    :param auth_failure_threshold: requests rejected by sign-in within ``auth_failure_period`` that raise a
        protected server's alarm. Default: 20.
    :param auth_failure_period: that alarm's period, whole minutes. Default: 5 minutes.
    :param memory_size: the function's memory in MB (CPU scales with it), 128 to 10240. Default: 1024.
    :param reserved_concurrent_executions: concurrency reserved for (and capping) the function: its URL is
        public, and a Function URL has no throttling or WAF of its own. Default: 20
        (``PUBLIC_URL_RESERVED_CONCURRENCY``) unless ``cap_public_concurrency`` is False, then none.
    :param cap_public_concurrency: apply the default above; False in accounts whose concurrency quota leaves
        nothing to reserve. Default: True.
    :param encryption_key: encrypts the table, the log group, the environment and the upstream secret.
        Default: a new customer managed key with yearly rotation, destroyed with the stack (7-day waiting period).
    :param log_retention: how long the function's logs are kept. Default: ``RetentionDays.ONE_MONTH``.
    :param removal_policy: what happens to the table and the signing key when they leave the stack. Their
        contents mean something to this authorization server only: registrations, codes, refresh tokens (all
        expiring within ``refresh_token_lifetime``) and the key its tokens are verified with (a deleted key waits
        7 days, recoverable). Default: ``RemovalPolicy.DESTROY``.
    :param alarm_topic: where the function's alarms notify. Default: none.

    Attributes: ``function``, ``role``, ``alias``, ``function_url``, ``url`` (the issuer), ``callback_url``,
    ``jwks_url``, ``table``, ``signing_key``, ``encryption_key``, ``config_parameter``, ``log_group``,
    ``upstream_client`` and ``user_pool_domain`` (Cognito upstream), ``upstream_secret``, ``auth`` (the
    ``McpOidcAuth`` protected servers get), ``provider``, ``monitoring``, ``url_output``, ``callback_url_output``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        user_pool: cognito.IUserPool | None = None,
        user_pool_domain: cognito.IUserPoolDomain | None = None,
        upstream_issuer: str | None = None,
        upstream_client_id: str | None = None,
        upstream_client_secret: secretsmanager.ISecret | None = None,
        allowed_domains: Sequence[str] = (),
        scope_rules: Sequence[ScopeRule] | None = None,
        resource_names: Mapping[str, str] | None = None,
        access_token_lifetime: Duration | None = None,
        refresh_token_lifetime: Duration | None = None,
        also_trusted: Sequence[OidcIssuer] | None = None,
        resource: str | None = None,
        tool_scopes: Mapping[str, Sequence[str]] | None = None,
        auth_failure_threshold: int | float = 20,
        auth_failure_period: Duration | None = None,
        memory_size: int | float = 1024,
        reserved_concurrent_executions: int | float | None = None,
        cap_public_concurrency: bool = True,
        encryption_key: kms.IKey | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, id)
        access_token_lifetime = access_token_lifetime or _DEFAULT_ACCESS_TOKEN_LIFETIME
        refresh_token_lifetime = refresh_token_lifetime or _DEFAULT_REFRESH_TOKEN_LIFETIME
        resource_names = dict(resource_names or {})
        tool_scopes = {name: list(values) for name, values in (tool_scopes or {}).items()}
        validate_props(
            user_pool=user_pool,
            user_pool_domain=user_pool_domain,
            upstream_issuer=upstream_issuer,
            upstream_client_id=upstream_client_id,
            upstream_client_secret=upstream_client_secret,
            allowed_domains=allowed_domains,
            scope_rules=scope_rules,
            resource_names=resource_names,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            also_trusted=also_trusted or (),
            resource=resource,
            tool_scopes=tool_scopes,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        if reserved_concurrent_executions is None and cap_public_concurrency:
            reserved_concurrent_executions = PUBLIC_URL_RESERVED_CONCURRENCY
        stack = Stack.of(self)
        self._stack = stack
        self._allowed_domains = [d.lower() for d in allowed_domains]
        self._scope_rules = list(scope_rules) if scope_rules is not None else None
        self._resource_names = resource_names
        self._tool_scopes = tool_scopes
        self._resource = resource
        self._lifetimes = (int(access_token_lifetime.to_seconds()), int(refresh_token_lifetime.to_seconds()))
        self._protected: list[tuple[McpLambdaService, str]] = []
        self._names = _PhysicalNames(self)

        self.encryption_key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description="Encrypts the state, logs, environment and upstream secret of the MCP authorization server",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        """The symmetric key of the table, the log group, the environment and the created upstream secret."""
        allow_cloudwatch_logs(self, self.encryption_key)

        self.signing_key = kms.Key(
            self,
            "SigningKey",
            description="Signs the access tokens of the MCP authorization server (RS256); never leaves KMS",
            key_spec=kms.KeySpec.RSA_2048,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            pending_window=Duration.days(7),
            removal_policy=removal_policy,
        )
        """The asymmetric key (RSA 2048, SIGN_VERIFY) access tokens are signed with, RS256; its public half is the
        JWK Set. KMS does not rotate asymmetric keys: rotating is replacing this key (a new logical id), which
        invalidates the access tokens in circulation (refresh tokens, kept in the table, still work)."""

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=c.AS_TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=c.AS_TABLE_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.encryption_key,
            removal_policy=removal_policy,
        )
        """Registered clients, pending sign-ins, codes, refresh-token families and fetched client metadata: one
        item each, expired by DynamoDB's TTL (``mcp_lambda/authorization/store.py``)."""

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=log_retention,
            encryption_key=self.encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        """Where the function logs; created here so its retention and encryption are part of the stack."""

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Execution role of the MCP authorization server",
        )
        """The function's role: its log group, its table, its keys, its parameter and its upstream secret."""
        self.log_group.grant_write(self.role)

        # The environment's names, literal: see the module docstring.
        self.config_parameter_name: str = Lazy.string(_Produce(self._parameter_name))
        """The SSM parameter's name: ``/mcp/<stack>/<path>/config-<hash of the value>``, literal at synthesis."""
        self.upstream_secret_name: str | None = None
        """The name of the created upstream secret (Cognito upstream), or None."""
        secret_id: str
        if user_pool is not None:
            self.upstream_secret_name = self._names.secret
            secret_id = self.upstream_secret_name
        else:
            assert upstream_client_secret is not None
            secret_id = upstream_client_secret.secret_arn

        runtime = lambda_.Runtime.PYTHON_3_13
        architecture = lambda_.Architecture.ARM_64
        bundle = PythonBundle.for_runtime(AUTHORIZATION_EXTRA, extras=(AUTHORIZATION_EXTRA,), runtime=runtime,
                                          architecture=architecture)
        self.function = lambda_.Function(
            self,
            "Function",
            role=self.role,
            description="MCP authorization server (OAuth 2.1) for clients that register themselves",
            code=bundled_code(self, bundle),
            handler=AUTHORIZATION_HANDLER,
            runtime=runtime,
            architecture=architecture,
            memory_size=memory_size,
            timeout=TIMEOUT,
            reserved_concurrent_executions=reserved_concurrent_executions,
            environment={
                c.POWERTOOLS_SERVICE_NAME: "mcp-authorization",
                c.MCP_AS_CONFIG_PARAMETER: self.config_parameter_name,
                c.MCP_AS_TABLE: self.table.table_name,
                c.MCP_AS_KMS_KEY_ID: self.signing_key.key_id,
                c.MCP_AS_UPSTREAM_SECRET: secret_id,
            },
            environment_encryption=self.encryption_key,
            log_group=self.log_group,
        )
        """The function (no VPC: see the module docstring); configure it further through its L2 API."""
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"{runtime.name} is deliberate: the runtime's pinned wheels and bytecode target the Python the project "
            "tests locally, as for the MCP servers",
        )

        self.alias = lambda_.Alias(self, "Alias", alias_name=ALIAS_NAME, version=self.function.current_version)
        """The ``live`` alias on the latest published version; the URL and the metrics point here."""
        self.function_url = self.alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        """The public Function URL (people's browsers and every MCP client reach it unsigned)."""
        host = Fn.select(2, Fn.split("/", self.function_url.url))
        self.url: str = f"https://{host}"
        """The issuer: the Function URL without its trailing ``/`` (RFC 8414; metadata at
        ``<url>/.well-known/oauth-authorization-server``)."""
        self.callback_url: str = f"{self.url}{CALLBACK_PATH}"
        """The redirect URI registered with the upstream provider."""
        self.jwks_url: str = f"{self.url}{JWKS_PATH}"
        """The JWK Set the MCP servers verify tokens with."""

        # -- the upstream provider ---------------------------------------------------------------------------
        self.user_pool_domain: cognito.IUserPoolDomain | None = user_pool_domain
        """The Cognito pool's domain (given or defined here), or None for another provider."""
        self.upstream_client: cognito.UserPoolClient | None = None
        """The confidential app client on the Cognito pool, or None for another provider."""
        self.upstream_secret: secretsmanager.ISecret
        """The secret holding the upstream client's secret (created for a Cognito pool, else given)."""
        upstream: dict[str, Any]
        if user_pool is not None:
            upstream = self._cognito_upstream(user_pool)
        else:
            assert upstream_issuer is not None and upstream_client_id is not None and upstream_client_secret is not None
            self.upstream_secret = upstream_client_secret
            upstream = {"issuer": upstream_issuer, "client_id": upstream_client_id}
        self._upstream = {**upstream, "scope": " ".join(s.scope_name for s in UPSTREAM_SCOPES),
                          "allowed_domains": self._allowed_domains}

        # -- the configuration --------------------------------------------------------------------------------
        self.config_parameter = ssm.StringParameter(
            self,
            "Config",
            parameter_name=self.config_parameter_name,
            simple_name=False,
            string_value=Lazy.string(_Produce(self._config_json)),
            description="The MCP authorization server's configuration (mcp_lambda/authorization/config.py)",
            tier=ssm.ParameterTier.STANDARD,
        )
        """The configuration JSON (issuer, resources, upstream, scope rules, lifetimes): no secret in it."""
        if self.user_pool_domain is not None:
            # Configured only once the sign-in pages exist.
            self.config_parameter.node.add_dependency(self.user_pool_domain)

        self._grant_function_its_calls()

        # -- the servers it protects -------------------------------------------------------------------------
        self.provider = OidcIssuer(issuer=self.url, jwks_uri=self.jwks_url)
        """How the protected servers trust it: its issuer, no ``audiences`` (its tokens' ``aud`` is the server's
        own resource, which the runtime always accepts), its JWK Set."""
        self.auth = McpOidcAuth(
            self,
            "Trust",
            oidc_issuers=[self.provider, *(also_trusted or ())],
            resource=resource,
            tool_scopes=tool_scopes,
            auth_failure_threshold=auth_failure_threshold,
            auth_failure_period=auth_failure_period,
        )
        """The sign-in each protected server gets (``MCP_AUTH_CONFIG``: this issuer first, then ``also_trusted``),
        with its failure metric, alarm and query."""

        self.monitoring = McpAuthorizationServerMonitoring(
            self, "Monitoring", server=self, name=f"{stack.stack_name} authorization server", alarm_topic=alarm_topic
        )
        """The function's alarms (errors, throttles)."""

        self.url_output = CfnOutput(self, "Url", value=self.url,
                                    description="The MCP authorization server (issuer); clients find it by themselves")
        self.callback_url_output: CfnOutput | None = None
        """The callback URL to register with a provider that is not a Cognito pool of this app, or None."""
        if user_pool is None:
            self.callback_url_output = CfnOutput(
                self, "CallbackUrl", value=self.callback_url,
                description="Register this redirect URI with the upstream provider's client",
            )
        self.node.add_validation(_Validation(self))

    @classmethod
    def from_options(cls, scope: Construct, id: str, options: McpAuthorizationServerOptions) -> McpAuthorizationServer:
        """An ``McpAuthorizationServer`` with the props ``options`` holds."""
        return cls(scope, id, **{f.name: getattr(options, f.name) for f in fields(options)})

    # -- wiring ------------------------------------------------------------------------------------------------

    def _cognito_upstream(self, user_pool: cognito.IUserPool) -> dict[str, Any]:
        """The pool's domain (if not given), the confidential app client and its secret in Secrets Manager."""
        if self.user_pool_domain is None:
            self.user_pool_domain = cognito.UserPoolDomain(
                self,
                "SignInDomain",
                user_pool=user_pool,
                cognito_domain=cognito.CognitoDomainOptions(domain_prefix=_default_domain_prefix(self)),
            )
        self.upstream_client = cognito.UserPoolClient(
            self,
            "UpstreamClient",
            user_pool=user_pool,
            user_pool_client_name="mcp-authorization-server",
            generate_secret=True,  # a confidential client: the function keeps the secret
            # Sign-in through the pool's pages only: no API sign-in flows on this client.
            auth_flows=cognito.AuthFlow(user_srp=False, custom=False, user_password=False, admin_user_password=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
                scopes=list(UPSTREAM_SCOPES),
                callback_urls=[self.callback_url],
            ),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            # Only the ID token is read, once, at the callback: the shortest lifetimes Cognito allows.
            id_token_validity=Duration.minutes(5),
            access_token_validity=Duration.minutes(5),
            refresh_token_validity=Duration.hours(1),
        )
        assert self.upstream_secret_name is not None
        cfn_client = self.upstream_client.node.default_child
        assert isinstance(cfn_client, cognito.CfnUserPoolClient)
        secret = secretsmanager.Secret(
            self,
            "UpstreamClientSecret",
            secret_name=self.upstream_secret_name,
            description="The MCP authorization server's Cognito app client secret (read by name by the function)",
            encryption_key=self.encryption_key,
            # CloudFormation's own attribute, rather than aws-cdk-lib's user_pool_client_secret (a custom resource
            # with a Lambda function of its own calling DescribeUserPoolClient).
            secret_object_value={"client_secret": SecretValue.resource_attribute(cfn_client.attr_client_secret)},
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "a copy of the Cognito app client's secret, which Cognito generates and Secrets Manager cannot rotate; "
            "rotate by replacing the app client (a new construct id), which CloudFormation copies here",
        )
        self.upstream_secret = secret
        return {"issuer": user_pool_issuer(user_pool), "client_id": self.upstream_client.user_pool_client_id}

    def _grant_function_its_calls(self) -> None:
        """Exactly what the runtime calls, each on its own resource; the parameter and the created secret by ARNs
        built from their names (see the module docstring)."""
        stack = self._stack
        self.table.grant(self.function, *STORE_ACTIONS)
        self.encryption_key.grant(self.function, *TABLE_KEY_ACTIONS)  # the table's (and the created secret's) key
        self.signing_key.grant(self.function, *SIGNING_ACTIONS)
        # An SSM parameter's ARN is "...:parameter" followed by its name, whose leading "/" it shares.
        parameter_path = Lazy.string(_Produce(lambda: self._parameter_name().removeprefix("/")))
        parameter_arn = stack.format_arn(service="ssm", resource="parameter", resource_name=parameter_path)
        iam.Grant.add_to_principal(grantee=self.function, actions=["ssm:GetParameter"], resource_arns=[parameter_arn])
        if self.upstream_secret_name is not None:
            secret_arn = stack.format_arn(service="secretsmanager", resource="secret",
                                          resource_name=f"{self.upstream_secret_name}-??????",
                                          arn_format=ArnFormat.COLON_RESOURCE_NAME)
            iam.Grant.add_to_principal(grantee=self.function, actions=["secretsmanager:GetSecretValue"],
                                       resource_arns=[secret_arn])
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{_nag_arn(self, secret_arn)}]",
                "the one secret this function reads, by its name: Secrets Manager appends six random characters "
                "to a secret's ARN, which '-??????' stands for",
            )
        else:
            self.upstream_secret.grant_read(self.function)
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "the data-key actions DynamoDB needs of a caller of a table encrypted with a customer managed key, "
                "on this server's own key only",
            )

    def _parameter_name(self) -> str:
        # The value as CloudFormation gets it (references by logical id): the same in every synthesis.
        value = json.dumps(self._stack.resolve(self._config_json()), sort_keys=True, separators=(",", ":"))
        return f"{self._names.parameter_prefix}/config-{hashlib.sha256(value.encode()).hexdigest()[:16]}"

    def _config_json(self) -> str:
        return self._stack.to_json_string(self._config())

    def _config(self) -> dict[str, Any]:
        """The runtime's configuration (``mcp_lambda/authorization/config.py``), tokens as tokens."""
        config: dict[str, Any] = {
            "issuer": self.url,
            "resources": [resource for _, resource in self._protected],
            "upstream": self._upstream,
            "scope_rules": [rule.to_config() for rule in self.scope_rules],
            "access_token_lifetime": self._lifetimes[0],
            "refresh_token_lifetime": self._lifetimes[1],
        }
        names = {resource: self._resource_names.get(service.service, service.service)
                 for service, resource in self._protected}
        if names:
            config["resource_names"] = names
        return config

    # -- protecting services -------------------------------------------------------------------------------

    def protect(self, service: McpLambdaService) -> ProtectedService:
        """Make ``service`` trust this authorization server and be one of its resources; watch its failures.

        Sets the service's ``MCP_AUTH_CONFIG`` (this issuer first, then ``also_trusted``), adds its resource to
        the configuration (see the module docstring for which URL), the ``AuthFailures`` metric filter, alarm and
        query (``McpOidcAuth.protect``), and this server's row to the service's dashboard.
        """
        resource = self.resource_of(service)
        protected = self.auth.protect(service)
        self._protected.append((service, resource))
        service.dashboard.add_widgets(*authorization_server_widgets(self, self.monitoring.alarms))
        return protected

    def resource_of(self, service: McpLambdaService) -> str:
        """The URL ``service`` names itself by (its RFC 8707 resource), which its tokens' ``aud`` must be."""
        if self._resource is not None:
            return self._resource
        if service.url is not None:
            return f"https://{Fn.select(2, Fn.split('/', service.url.url))}{service.mcp_path}"
        api = service.rest_api
        if api is not None and api.api.domain_name is not None:
            return api.url
        raise ValueError(
            f"the {service.service} endpoint is a REST API on its execute-api URL, whose path starts with the "
            "stage: the server names itself https://<host>/mcp (the domain of the request, without the stage) "
            "and its RFC 9728 metadata lies outside the stage, so no client could discover this authorization "
            "server or get a token the server accepts; give the API a custom domain "
            "(McpEndpoint.rest_api(domain_name=...)), or this construct a resource"
        )

    @property
    def protected(self) -> list[ProtectedService]:
        """The services protected so far, in the order of ``protect`` calls."""
        return self.auth.protected

    @property
    def resources(self) -> list[str]:
        """The resources (MCP servers' URLs) this server issues tokens for, in the order of ``protect`` calls."""
        return [resource for _, resource in self._protected]

    @property
    def scope_rules(self) -> list[ScopeRule]:
        """The scope rules: given, or one per scope the protected servers need (module-level default)."""
        if self._scope_rules is not None:
            return list(self._scope_rules)
        scopes = [s for service, _ in self._protected for s in service.server.scopes]
        scopes += [s for values in self._tool_scopes.values() for s in values]
        return [ScopeRule(scope, groups=[scope]) for scope in dict.fromkeys(scopes)]

    # -- metrics: the alarms and graphs are built from these ----------------------------------------------------

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric:
        """Requests to the authorization server (its ``live`` alias). Default: sum over 5 minutes."""
        return self.alias.metric_invocations(**options)

    def metric_errors(self, **options: Any) -> cloudwatch.Metric:
        """Invocations that ended in a function error. Default: sum over 5 minutes."""
        return self.alias.metric_errors(**options)

    def metric_throttles(self, **options: Any) -> cloudwatch.Metric:
        """Invocations refused for lack of concurrency. Default: sum over 5 minutes."""
        return self.alias.metric_throttles(**options)

    def metric_duration(self, **options: Any) -> cloudwatch.Metric:
        """How long requests took. Default: average over 5 minutes."""
        return self.alias.metric_duration(**options)

    def metric_concurrent_executions(self, **options: Any) -> cloudwatch.Metric:
        """Environments running at once. Default: maximum over 5 minutes."""
        return self.alias.metric("ConcurrentExecutions", **{"statistic": cloudwatch.Stats.MAXIMUM, **options})

    def metric_auth_failures(self, service: McpLambdaService | str | None = None, **options: Any) -> cloudwatch.Metric:
        """Requests a protected server rejected (401/403); see ``McpOidcAuth.metric_auth_failures``."""
        return self.auth.metric_auth_failures(service, **options)


class _PhysicalNames:
    """The literal names of the parameter and the secret: the stack's name, the construct's path below it and
    8 characters of its address (unique in the app), so that two stacks, or two servers, never share one."""

    def __init__(self, scope: Construct) -> None:
        stack = Stack.of(scope)
        below = [s.node.id for s in scope.node.scopes[len(stack.node.scopes):]]
        path = _UNSAFE_NAME_CHARACTERS.sub("-", "-".join(below))[:80]
        stack_name = _UNSAFE_NAME_CHARACTERS.sub("-", stack.stack_name)
        self.base = f"mcp/{stack_name}/{path}-{scope.node.addr[-8:]}"

    @property
    def parameter_prefix(self) -> str:
        return f"/{self.base}"

    @property
    def secret(self) -> str:
        # Not ending in '-' and six characters, which Secrets Manager could take for an ARN's random suffix.
        return f"{self.base}/upstream"


@jsii.implements(IValidation)
class _Validation:
    """What only the finished app can tell: a server protecting nothing, a name for a server it does not protect."""

    def __init__(self, server: McpAuthorizationServer) -> None:
        self._server = server

    def validate(self) -> list[str]:
        server = self._server
        errors = []
        if not server.resources:
            errors.append(f"{server.node.path} protects no MCP server: call protect(service) (or pass it as "
                          "McpLambdaService(auth=...)); the runtime refuses a configuration without resources")
        protected = {service.service for service, _ in server._protected}
        errors += [f"resource_names names {name!r}, which {server.node.path} does not protect"
                   for name in server._resource_names if name not in protected]
        return errors
