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
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from constructs_lib.database import McpDatabase
from constructs_lib.lambda_service import McpLambdaService


class McpMessagingStack(Stack):
    """The messaging MCP server, its database and their dashboard.

    :param url_auth_type: who may call the Function URL. Default: ``FunctionUrlAuthType.AWS_IAM``;
        ``NONE`` synthesizes with a warning, as the server then writes for anyone.
    :param database_props: keyword props for ``McpDatabase`` (``multi_az``, ``deletion_protection``,
        ``removal_policy``, ...). Default: its production defaults.
    :param kwargs: ``Stack`` props (``env``, ``description``, ...).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        url_auth_type: lambda_.FunctionUrlAuthType = lambda_.FunctionUrlAuthType.AWS_IAM,
        database_props: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.database = McpDatabase(self, "Database", **(database_props or {}))

        self.messaging = McpLambdaService(
            self,
            "Messaging",
            service="messaging",
            handler="messaging.server.handler",
            url_auth_type=url_auth_type,
            vpc=self.database.vpc,
            vpc_subnets=self.database.application_subnets,
        )
        self.database.connect_service(self.messaging)
        if url_auth_type == lambda_.FunctionUrlAuthType.NONE:
            Annotations.of(self.messaging).add_warning_v2(
                "mcp:publicWriteAccess",
                "the messaging URL has no authentication: anyone on the internet can post messages",
            )

        self.migrations = self.database.add_migrations(service="messaging")
        self.messaging.alias.node.add_dependency(self.migrations)

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Messaging errors", left=[self.messaging.metric_errors()], width=12),
            cloudwatch.GraphWidget(
                title="Messaging duration (p99, ms)",
                left=[self.messaging.metric_duration(statistic="p99")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(*self.database.dashboard_widgets())
