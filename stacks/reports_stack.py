"""Long-running tools: the reports MCP server, whose ``messages_report`` runs as an MCP task.

Why tasks: a report reads the whole message channel, which outgrows an HTTP request (29 s behind API
Gateway) as the channel grows. With ``tasks`` the call is answered at once with a task, and the report is
built in an asynchronous invocation of the same function, for up to its timeout (15 minutes); state is
kept in a DynamoDB table (see ``mcp_lambda_cdk.tasks``).

Why a database of its own, with the messaging schema: the server reads the messaging server's
``messages`` table (``servers/reports``), so it needs that schema and a route to PostgreSQL. Reusing
``McpMessagingStack``'s database from another stack does not synthesize: letting a function of this stack
through the proxy's security group adds an ingress rule to the messaging stack that names this stack's
group, while this stack already depends on the messaging stack's subnets (a cycle between the stacks),
and every shared attribute would become an export pinning the messaging stack. So, like the secure
messaging stack, this stack brings an ``McpDatabase`` and applies the messaging migrations to it (the
reports then cover what is posted to this database). To report on the messaging stack's own channel, put
the reports service into that stack instead: the same four lines as here, with its ``database``.

Why two VPC endpoints: the function runs in the database's application subnets, which have no route out
of the VPC, and tasks call two AWS APIs from there: DynamoDB (task state; a gateway endpoint, free) and
Lambda (the asynchronous invocation that runs a task; an interface endpoint, reachable only from the
function's security group).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from mcp_lambda_cdk.database import McpDatabase
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.tasks import TasksOptions
from mcp_servers import REPORTS


class McpReportsStack(Stack):
    """The reports MCP server with tasks, its database and their dashboard.

    :param url_auth_type: who may call the Function URL. Default: ``FunctionUrlAuthType.AWS_IAM`` (callers
        sign requests; grant them with ``reports.grant_invoke``), as reports summarise who posted.
    :param tasks: the tasks' settings. Default: ``TasksOptions()`` (an hour to read a result, 5-minute
        start timeout).
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
        tasks: TasksOptions | None = None,
        alarm_topic: sns.ITopic | None = None,
        database_props: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.database = McpDatabase(self, "Database", **(database_props or {}))

        self.reports = McpLambdaService(
            self,
            "Reports",
            server=REPORTS,
            url_auth_type=url_auth_type,
            tasks=tasks or TasksOptions(),
            vpc=self.database.vpc,
            vpc_subnets=self.database.application_subnets,
            alarm_topic=alarm_topic,
        )
        self.database.connect_service(self.reports)

        # The reports read the messaging server's table: its migrations run before the alias moves.
        self.migrations = self.database.add_migrations(*REPORTS.migration_dirs, service="messaging")
        self.reports.alias.node.add_dependency(self.migrations)

        self.dynamodb_endpoint = ec2.GatewayVpcEndpoint(
            self,
            "DynamoDbEndpoint",
            vpc=self.database.vpc,
            service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
            subnets=[self.database.application_subnets],
        )
        """Task state from the application subnets (a route in their route tables)."""
        self.lambda_endpoint = ec2.InterfaceVpcEndpoint(
            self,
            "LambdaEndpoint",
            vpc=self.database.vpc,
            service=ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
            subnets=self.database.application_subnets,
            private_dns_enabled=True,
            open=False,
        )
        """The asynchronous invocations that run tasks, from the application subnets."""
        self.lambda_endpoint.connections.allow_default_port_from(self.reports, "Task workers started by the function")
        # Traffic reaches new code only once tasks can be stored and started from inside the VPC.
        self.reports.alias.node.add_dependency(self.dynamodb_endpoint, self.lambda_endpoint)

        # One dashboard: the service's own, with its tasks row (see mcp_lambda_cdk.monitoring), plus the database's.
        self.dashboard: cloudwatch.Dashboard = self.reports.dashboard
        self.dashboard.add_widgets(*self.database.dashboard_widgets())
