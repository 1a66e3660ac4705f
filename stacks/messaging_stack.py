"""Case 2: a stateful messaging MCP server on PostgreSQL (RDS behind an RDS Proxy).

Why the URL needs IAM by default: the messaging tools write to a shared database, so a public URL would let
anyone on the internet post. Callers sign their requests (SigV4) and are allowed with
``messaging.grant_invoke``; Case 3 puts sign-in with an identity provider in front instead.

Why the alias waits for the migrations: the ``live`` alias moves to a new function version only after the
schema it expects has been applied, so traffic never reaches code newer than its tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Annotations, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from mcp_lambda_cdk.database import McpDatabase
from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from mcp_servers import MESSAGING


class McpMessagingStack(Stack):
    """The messaging MCP server, its database and their dashboard.

    :param url_auth_type: who may call the Function URL. Default: ``FunctionUrlAuthType.AWS_IAM``;
        ``NONE`` synthesizes with a warning, as the server then writes for anyone.
    :param endpoint: another endpoint instead of the Function URL, e.g. ``McpEndpoint.rest_api(
        authorization_type=AuthorizationType.IAM)``; not together with ``url_auth_type``. Default: none.
    :param alarm_topic: where the service's alarms notify. Default: none.
    :param database_props: keyword props for ``McpDatabase`` (``multi_az``, ``deletion_protection``,
        ``removal_policy``, ...). Default: its production defaults.
    :param kwargs: ``Stack`` props (``env``, ``description``, ...).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        url_auth_type: lambda_.FunctionUrlAuthType | None = None,
        endpoint: McpEndpoint | None = None,
        alarm_topic: sns.ITopic | None = None,
        database_props: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.database = McpDatabase(self, "Database", **(database_props or {}))

        self.messaging = McpLambdaService(
            self,
            "Messaging",
            server=MESSAGING,
            url_auth_type=url_auth_type,
            endpoint=endpoint,
            vpc=self.database.vpc,
            vpc_subnets=self.database.application_subnets,
            alarm_topic=alarm_topic,
        )
        self.database.connect_service(self.messaging)
        public = (
            url_auth_type == lambda_.FunctionUrlAuthType.NONE
            or (endpoint is not None and endpoint.url_auth_type == lambda_.FunctionUrlAuthType.NONE)
            or (
                endpoint is not None
                and endpoint.rest_api_props is not None
                and endpoint.rest_api_props["authorization_type"] == apigw.AuthorizationType.NONE
            )
        )
        if public:
            Annotations.of(self.messaging).add_warning_v2(
                "mcp:publicWriteAccess",
                "the messaging endpoint has no authentication: anyone on the internet can post messages",
            )

        self.migrations = self.database.add_migrations(*MESSAGING.migration_dirs, service="messaging")
        self.messaging.alias.node.add_dependency(self.migrations)

        # One dashboard: the service's own (see mcp_lambda_cdk.monitoring), plus the database's row.
        self.dashboard: cloudwatch.Dashboard = self.messaging.dashboard
        self.dashboard.add_widgets(*self.database.dashboard_widgets())
