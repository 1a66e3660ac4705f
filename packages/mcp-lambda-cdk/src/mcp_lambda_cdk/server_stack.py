"""McpServerStack: one declared server and everything it needs, deployable on its own.

What a server declares (``mcp_lambda.spec.ServerSpec``) decides what its stack holds, each for a reason:

- Who reaches the endpoint. ``public=True``: a public Function URL, the cheapest endpoint, for a server that
  reads nothing private (for real public traffic pass ``endpoint=McpEndpoint.rest_api()``: WAF, stage
  throttling, access logs). ``sign_in=True``: public too, because the server checks bearer tokens itself and
  an ``AWS_IAM`` URL would take the ``Authorization`` header for its own signature. Otherwise ``AWS_IAM``:
  callers sign requests (SigV4) and are granted with ``service.grant_invoke``; a server with a database whose
  endpoint is made public without sign-in synthesizes with a warning, as anyone could then call its tools.
- ``database=True``: an ``McpDatabase`` (PostgreSQL behind RDS Proxy) in a VPC of its own; the function runs
  in its application tier and the server's migrations run before the ``live`` alias moves, so traffic never
  reaches code newer than its tables. A database per stack, because sharing one across stacks does not
  synthesize: letting another stack's function through the proxy's security group adds a rule naming that
  stack's group to this one while that stack depends on this one's subnets, a cycle. Servers that share a
  database go into one app stack of their own (``McpLambdaService(database=...)`` twice).
- ``sign_in=True``: an ``McpOidcAuth`` trusting a created Cognito user pool (a group per declared scope) and,
  with the context values ``googleClientId`` and ``allowedDomains`` (``cdk deploy -c ...``), Google
  accounts of those domains, who then hold the declared scopes. The issuers' signing keys are fetched from
  the internet, so a database VPC gets one NAT gateway. In front of the pool, an ``McpAuthorizationServer``:
  MCP clients (Claude Code, VS Code, MCP Inspector, the proxy without ``--client-id``) read the server's
  RFC 9728 metadata, take its first authorization server, and register themselves there, which Cognito
  cannot do. It comes in addition to the direct trust, not instead: the server lists it first, so every
  client that discovers sign-in goes to it and gets a token bound to this server, while tokens the pool
  issues to its proxy client and Google ID tokens (which an authorization server in front of one pool cannot
  broker) keep working. Sign-in without a pool (Google only) gets no authorization server unless
  ``authorization_server`` names another upstream.
- ``tasks=True``: a task table and self-invocation (``mcp_lambda_cdk.tasks``); in an application tier without
  egress, a DynamoDB gateway endpoint and a Lambda interface endpoint.

One dashboard: the service's, with the database's row and the sign-in failures.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from aws_cdk import Annotations, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from mcp_lambda.spec import ServerSpec

from mcp_lambda_cdk.authorization_server import McpAuthorizationServer, McpAuthorizationServerOptions
from mcp_lambda_cdk.database import McpDatabase, McpDatabaseOptions
from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from mcp_lambda_cdk.oidc_auth import McpOidcAuth, McpOidcAuthOptions, user_pool_issuer
from mcp_lambda_cdk.tasks import TasksOptions
from mcp_lambda_cdk.tracing import McpTracing

#: CDK context keys read for a server with sign-in when ``auth`` names no Google client.
GOOGLE_CLIENT_ID_CONTEXT = "googleClientId"
ALLOWED_DOMAINS_CONTEXT = "allowedDomains"
#: ``cdk deploy -c development=true``: a deployment that ``cdk destroy`` removes entirely (see ``development``).
DEVELOPMENT_CONTEXT = "development"


def stack_id(server: ServerSpec) -> str:
    """The stack's id for a server: ``secure-messaging`` -> ``McpSecureMessagingStack``."""
    return f"Mcp{construct_id(server)}Stack"


def construct_id(server: ServerSpec) -> str:
    """The service's construct id: ``secure-messaging`` -> ``SecureMessaging``."""
    return "".join(part.capitalize() for part in server.name.split("-"))


class McpServerStack(Stack):
    """One MCP server, its database, its sign-in and their dashboard, as its declaration asks.

    :param scope: the parent construct (the app).
    :param id: the stack id. Conventionally ``stack_id(server)``.
    :param server: the server's declaration.
    :param endpoint: how clients reach the server: ``McpEndpoint.function_url(...)`` or
        ``McpEndpoint.rest_api(...)``. Default: a Function URL, public for a server declared ``public`` or
        with ``sign_in``, else ``AWS_IAM``.
    :param url_auth_type: shorthand for ``endpoint=McpEndpoint.function_url(auth_type=...)``; not together
        with ``endpoint``. Default: as ``endpoint``.
    :param database: the database's props (servers declared with ``database=True``). Default: the production
        defaults of ``McpDatabase``, with one NAT gateway for a server with sign-in.
    :param auth: the sign-in's props (servers declared with ``sign_in=True``). Default: a created Cognito
        user pool with the declared scopes, plus Google from the context values ``googleClientId`` and
        ``allowedDomains``.
    :param authorization_server: the authorization server's props (servers declared with ``sign_in=True``).
        What they leave at their defaults comes from the sign-in: its user pool and domain as the upstream, its
        issuers as ``also_trusted`` (``also_trusted=[]``: the authorization server's tokens only), its
        ``resource``, ``tool_scopes`` and failure alarm, and ``alarm_topic``. Default: an
        ``McpAuthorizationServer`` in front of the sign-in's user pool; none without a pool.
    :param tasks: the tasks' settings (servers declared with ``tasks=True``). Default: ``TasksOptions()``.
    :param development: a disposable deployment, for development and trials: the database's development profile
        (``McpDatabase(development=True)``: single-AZ, no deletion protection, no final snapshot, its key
        destroyed) and a user pool destroyed with the stack (``user_pool_removal_policy=DESTROY``, which also
        turns its deletion protection off), unless the given options say otherwise. ``cdk destroy`` then
        leaves nothing behind. Default: the context value ``development`` (``-c development=true``), else
        False.
    :param tracing: the service's traces (``McpTracing.adot()``; see ``McpLambdaService``). Default: none.
    :param alarm_topic: where the service's alarms notify. Default: none.
    :param kwargs: ``Stack`` props (``env``, ``description``, ...).

    Attributes: ``server``, ``service`` (``McpLambdaService``), ``database``, ``auth`` and
    ``authorization_server`` (or None), ``dashboard``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        server: ServerSpec,
        endpoint: McpEndpoint | None = None,
        url_auth_type: lambda_.FunctionUrlAuthType | None = None,
        database: McpDatabaseOptions | None = None,
        auth: McpOidcAuthOptions | None = None,
        authorization_server: McpAuthorizationServerOptions | None = None,
        tasks: TasksOptions | None = None,
        development: bool | None = None,
        tracing: McpTracing | None = None,
        alarm_topic: sns.ITopic | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.server = server
        if development is None:
            development = str(self.node.try_get_context(DEVELOPMENT_CONTEXT) or "").strip().lower() in ("true", "1")
        self.development = development
        """Whether this deployment is disposable (see the prop)."""

        self.database: McpDatabase | None = None
        """The server's database (``database=True``), or None."""
        if server.database:
            options = database or McpDatabaseOptions()
            if development and not options.development:
                options = dataclasses.replace(options, development=True)  # explicit props still win
            if server.sign_in and options.vpc is None and options.nat_gateways == 0:
                options = dataclasses.replace(options, nat_gateways=1)  # the issuers' keys are on the internet
            self.database = McpDatabase.from_options(self, "Database", options)

        self.auth: McpOidcAuth | None = None
        """The server's sign-in (``sign_in=True``): the issuers it trusts, and the user pool it may create; or
        None. With an authorization server, that server protects the service and lists these issuers after
        its own."""
        self.authorization_server: McpAuthorizationServer | None = None
        """The authorization server in front of the sign-in's user pool (``sign_in=True``), or None."""
        if server.sign_in:
            auth_options = self._auth_options(auth)
            self.auth = McpOidcAuth.from_options(self, "Auth", auth_options)
            as_options = self._authorization_server_options(self.auth, auth_options, authorization_server, alarm_topic)
            if as_options is not None:
                self.authorization_server = McpAuthorizationServer.from_options(self, "AuthorizationServer", as_options)

        self.service = McpLambdaService(
            self,
            construct_id(server),
            server=server,
            endpoint=endpoint,
            url_auth_type=url_auth_type,
            database=self.database,
            auth=self.authorization_server or self.auth,
            tasks=tasks,
            tracing=tracing,
            alarm_topic=alarm_topic,
        )
        """The server on Lambda."""
        self.dashboard = self.service.dashboard
        """The one dashboard of the stack."""

        if server.database and not server.sign_in and self.service.public:
            Annotations.of(self.service).add_warning_v2(
                "mcp:publicWriteAccess",
                f"the {server.name} endpoint has no authentication and the server has a database: anyone on the "
                "internet can call its tools",
            )
        if self.auth is not None and self.auth.user_pool_client is not None:
            self._user_pool_outputs(self.auth)

    def _auth_options(self, given: McpOidcAuthOptions | None) -> McpOidcAuthOptions:
        options = given or McpOidcAuthOptions(create_user_pool=True, scopes=self.server.scopes or None)
        if self.development and options.create_user_pool and options.user_pool_removal_policy == RemovalPolicy.RETAIN:
            options = dataclasses.replace(options, user_pool_removal_policy=RemovalPolicy.DESTROY)
        if options.google_client_id is None:
            client_id = _context_string(self, GOOGLE_CLIENT_ID_CONTEXT)
            if client_id is not None:
                domains = _context_list(self, ALLOWED_DOMAINS_CONTEXT)
                # Google ID tokens carry no scopes: accounts of the allowed domains hold the declared ones.
                options = dataclasses.replace(
                    options, google_client_id=client_id, allowed_domains=domains,
                    google_grants=list(self.server.scopes) if domains else [],
                )
        return options

    @staticmethod
    def _authorization_server_options(
        auth: McpOidcAuth,
        auth_options: McpOidcAuthOptions,
        given: McpAuthorizationServerOptions | None,
        alarm_topic: sns.ITopic | None,
    ) -> McpAuthorizationServerOptions | None:
        """``given``, completed from the sign-in; None when there is no upstream to put it in front of."""
        options = given or McpAuthorizationServerOptions()
        if options.user_pool is None and options.upstream_issuer is None:
            if auth.user_pool is None:
                return None
            options = dataclasses.replace(options, user_pool=auth.user_pool,
                                          user_pool_domain=options.user_pool_domain or auth.user_pool_domain)
        defaults = McpAuthorizationServerOptions()
        inherited: dict[str, Any] = {
            "also_trusted": auth.providers,
            "resource": auth.resource,
            "tool_scopes": auth.tool_scopes or None,
            "auth_failure_threshold": auth_options.auth_failure_threshold,
            "auth_failure_period": auth_options.auth_failure_period,
            "alarm_topic": alarm_topic,
        }
        return dataclasses.replace(options, **{
            name: value for name, value in inherited.items() if getattr(options, name) == getattr(defaults, name)
        })

    def _user_pool_outputs(self, auth: McpOidcAuth) -> None:
        assert auth.user_pool is not None and auth.user_pool_client is not None and auth.user_pool_domain is not None
        CfnOutput(self, "UserPoolIssuer", value=user_pool_issuer(auth.user_pool),
                  description="The Cognito issuer the server trusts")
        CfnOutput(self, "UserPoolClientId", value=auth.user_pool_client.user_pool_client_id,
                  description="A public app client (PKCE, loopback callbacks) for signing in at the pool directly")
        groups = ", ".join(self.server.scopes) or "none"
        CfnOutput(self, "UserPoolId", value=auth.user_pool.user_pool_id,
                  description=f"Create users here; groups granting scopes: {groups}")
        CfnOutput(self, "SignInDomain", value=auth.user_pool_domain.base_url(),
                  description="The hosted sign-in pages of the user pool")
        for name, client in auth.machine_clients.items():
            CfnOutput(self, f"MachineClient{_output_id(name)}Id", value=client.user_pool_client_id,
                      description=f"The headless client {name} (client credentials; its secret: aws cognito-idp "
                                  "describe-user-pool-client); token endpoint: SignInDomain + /oauth2/token")


def _output_id(name: str) -> str:
    """A machine client's name as part of an output's id (letters and digits only)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


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
