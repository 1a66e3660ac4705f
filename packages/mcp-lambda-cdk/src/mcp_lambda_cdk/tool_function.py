"""McpToolFunction: a placed tool's function, behind its server's one endpoint (``ServerSpec.placements``).

The runtime half (``mcp_lambda.placement``): the server's function, the front, serves the protocol and forwards
each ``tools/call`` of a placed tool to the tool's function by a synchronous invoke of its ``live`` alias
(``TOOL_FUNCTION_ALIAS``); the tool function runs the same bundle and handler, and serves only those calls
(``MCP_TOOL_FUNCTION_TOOLS``). What this construct adds is the isolation the placement is for:

- **a role of its own**, holding only what its tools need: its own log group, the service key's use for its
  environment and logs, ``rds-db:connect`` as its own database user (a placement with ``grants``:
  ``ServerSpec.placement_user``, made by ``McpDatabase.add_user`` with exactly those grants) or else the
  server's, the ``requestState`` key (so an input-required result it seals opens in the front), and X-Ray when
  traced. It may invoke nothing, and nothing but the front's role may invoke it (``McpLambdaService`` grants
  exactly the aliases);
- **its own memory, timeout, provisioned concurrency or SnapStart** (the placement's, else the front's);
- **no endpoint**: no Function URL, no API; Lambda's Invoke API with the front's credentials is the only way in;
- **its own security group** in the front's subnets when the server has a database: it sends to the proxy on
  5432, HTTPS to Secrets Manager for the ``requestState`` key and to X-Ray when traced, and nothing else; a
  placement with ``database=False`` is outside the VPC instead (``McpLambdaService`` gives it none): no way to the
  proxy, no ``rds-db:connect``, ``MCP_NO_DATABASE``, and Lambda's own route to the internet for what it calls;
- **its own alarms** (errors, throttles) and graphs, which the service puts on its dashboard;
- **the tasks of its task tools** (``ToolPlacement(tasks=True)``, ``run_tasks``): the front makes each task and
  dispatches its asynchronous invocation to this function's alias, which runs it: the task table and settings,
  the front's retries and on-failure queue; a placement without task tools has none of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from mcp_lambda import contract as c
from mcp_lambda.spec import ServerSpec, ToolPlacement

from mcp_lambda_cdk.monitoring import McpToolFunctionAlarms
from mcp_lambda_cdk.policy import acknowledge, acknowledge_active_tracing, allow_vpc_networking
from mcp_lambda_cdk.tracing import McpTracing

if TYPE_CHECKING:
    from mcp_lambda_cdk.database import McpDatabase
    from mcp_lambda_cdk.tasks import McpTasks
    from mcp_lambda_cdk.database_users import McpDatabaseUser
    from mcp_lambda_cdk.migrations import McpSchemaMigrations


class McpToolFunction(Construct):
    """One placement of a server: its tools on a Lambda function of their own, invoked by the front only.

    Usually made by ``McpLambdaService`` for each of its server's placements (``service.tool_functions``).

    Attributes: ``server``, ``placement``, ``function``, ``role``, ``alias``, ``function_arn`` (the alias's), ``log_group``,
    ``database``, ``database_user`` (its own, or None), ``tracing``, ``monitoring``.

    :param scope: the parent construct.
    :param id: the construct id.
    :param server: the server the tools belong to.
    :param placement: which tools, with what memory, timeout, provisioned concurrency, SnapStart and grants.
    :param code: the bundle (the front's: the same code and handler run both).
    :param encryption_key: encrypts the environment and the log group (the service's key).
    :param memory_size: the memory when the placement names none, MB. Default: 1024.
    :param timeout: the timeout when the placement names none. Default: 30 seconds.
    :param environment: the variables the front has too (service name, metrics namespace, traces, given ones);
        ``MCP_TOOL_FUNCTION_TOOLS`` is added. Default: none.
    :param architecture: the CPU architecture. Default: ``Architecture.ARM_64``.
    :param runtime: the Python runtime. Default: ``Runtime.PYTHON_3_13``.
    :param log_retention: how long its logs are kept. Default: ``RetentionDays.ONE_MONTH``.
    :param vpc: run it in this VPC (the front's). Default: none.
    :param vpc_subnets: where in ``vpc`` (the front's subnets). Default: the VPC's default selection.
    :param security_groups: its security groups. Default: one new group, no inbound, outbound as
        ``allow_all_outbound`` says.
    :param allow_all_outbound: let the new group send anything anywhere. Default: False (only what it is wired
        to reach).
    :param database: the database its tools use; it connects as ``server.placement_user(placement)``. None for a
        placement with ``database=False`` (then ``MCP_NO_DATABASE`` is set). Default: none.
    :param migrations: the server's migrations on ``database`` (its own user is made after them). Default: none.
    :param request_state_secret: the server's ``requestState`` key, read on first use. Default: none.
    :param tracing: the front's tracing (the collector layer, active tracing). Default: none.
    :param alarm_topic: where its alarms notify. Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        server: ServerSpec,
        placement: ToolPlacement,
        code: lambda_.Code,
        encryption_key: kms.IKey,
        memory_size: int | float = 1024,
        timeout: Duration | None = None,
        environment: Mapping[str, str] | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_13,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        allow_all_outbound: bool = False,
        database: McpDatabase | None = None,
        migrations: Sequence[McpSchemaMigrations] = (),
        request_state_secret: secretsmanager.ISecret | None = None,
        tracing: McpTracing | None = None,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, id)
        if placement not in server.placements:
            raise ValueError(f"placement {placement.name} is not one of the {server.name} server's")
        uses_database = server.placement_database(placement)
        if uses_database and database is None:
            raise ValueError(f"the {server.name} server declares database=True: its tool functions need the database")
        if not uses_database and database is not None:
            raise ValueError(f"placement {placement.name} of the {server.name} server has no database "
                             "(database=False): give it none")
        self.server = server
        """The server whose tools it runs."""
        self.placement = placement
        """What this function runs."""
        self.database = database
        """The database its tools use, or None."""
        self.tracing = tracing
        """How its traces leave the function (the front's), or None."""
        what = f"the {', '.join(placement.tools)} tool{'s' if len(placement.tools) > 1 else ''} of the {server.name} MCP server"

        self.log_group = logs.LogGroup(self, "LogGroup", retention=log_retention, encryption_key=encryption_key,
                                       removal_policy=RemovalPolicy.DESTROY)
        """Where the function logs."""
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description=f"Execution role of {what}")
        """Its execution role: its log group, and what its tools are wired to; nothing of the front's."""
        self.log_group.grant_write(self.role)
        if vpc is not None:
            allow_vpc_networking(self.role)
        if tracing is not None:
            acknowledge_active_tracing(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            role=self.role,
            description=f"Runs {what}",
            code=code,
            handler=server.handler,
            runtime=runtime,
            architecture=architecture,
            memory_size=placement.memory_size or memory_size,
            timeout=Duration.seconds(placement.timeout) if placement.timeout else timeout or Duration.seconds(30),
            environment={**(environment or {}), c.MCP_TOOL_FUNCTION_TOOLS: ",".join(placement.tools),
                         **({c.MCP_NO_DATABASE: "true"} if server.database and not uses_database else {})},
            environment_encryption=encryption_key,
            log_group=self.log_group,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if placement.snap_start else None,
            tracing=lambda_.Tracing.ACTIVE if tracing is not None else None,
            layers=[tracing.collector_layer(self, architecture)] if tracing is not None else None,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) if security_groups else None,
            allow_all_outbound=allow_all_outbound if vpc is not None and not security_groups else None,
        )
        """The function: the front's bundle and handler, serving only its tools' calls."""
        if runtime.name != lambda_.Runtime.PYTHON_3_14.name:
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"{runtime.name} is deliberate: the bundle's pinned wheels and shipped bytecode target the runtime "
                "the project tests locally; the tool function runs the front's bundle on the front's runtime",
            )
        if placement.snap_start:
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "the live alias always points at a published version (current_version)",
            )
        wires_egress = vpc is not None and not security_groups and not allow_all_outbound
        self._wires_egress = wires_egress

        if request_state_secret is not None:
            request_state_secret.grant_read(self.function)
            self.function.add_environment(c.MCP_REQUEST_STATE_SECRET_ARN, request_state_secret.secret_arn)

        self.alias = lambda_.Alias(
            self,
            "Alias",
            alias_name=c.TOOL_FUNCTION_ALIAS,
            version=self.function.current_version,
            provisioned_concurrent_executions=placement.provisioned_concurrency or None,
        )
        """The ``live`` alias the front invokes (and only it may)."""

        self.database_user: McpDatabaseUser | None = None
        """The placement's own database user (a placement with ``grants``), or None (the server's)."""
        if database is not None:
            user = server.placement_user(placement)
            if placement.grants is not None:
                assert user is not None  # a placement with grants has a user of its own
                if not migrations:
                    raise ValueError(f"placement {placement.name} of the {server.name} server declares grants but the "
                                     "server has no migrations: its user is made after those that create its tables")
                self.database_user = database.add_user(user, placement.table_grants, migrations=migrations)
                self.alias.node.add_dependency(self.database_user.resource)
            elif migrations:
                self.alias.node.add_dependency(*(m.resource for m in migrations))
            database.connect_function(self.function, db_user=user)
            if wires_egress and request_state_secret is not None:
                database.allow_secrets_manager(self.function, "the requestState key")
            # Traffic moves once the function can reach the proxy: its own rules out, the proxy's rules in.
            self.alias.node.add_dependency(*self.function.connections.security_groups, database.proxy_security_group)
        elif wires_egress and request_state_secret is not None:
            self.function.connections.allow_to_any_ipv4(ec2.Port.tcp(443), "HTTPS: Secrets Manager: the requestState key")
        if tracing is not None and wires_egress:
            if database is not None and not database.application_egress:
                endpoint = database.add_xray_endpoint(self.function)
                self.alias.node.add_dependency(endpoint, *endpoint.connections.security_groups)
            else:
                self.function.connections.allow_to_any_ipv4(
                    ec2.Port.tcp(443), "HTTPS: X-Ray: the ADOT collector extension sends the traces")

        self.monitoring = McpToolFunctionAlarms(self, "Alarms", function=self, name=f"{server.name} {placement.name}",
                                                alarm_topic=alarm_topic)
        """Its alarms: any function error, any throttle."""

    def run_tasks(self, tasks: McpTasks) -> None:
        """Run the tasks of its task tools (``ToolPlacement(tasks=True)``), which the front makes and dispatches
        to its alias: the task table and settings (``McpTasks.add_worker``) and, in a VPC, HTTPS to DynamoDB
        (a gateway endpoint, whose addresses a template cannot name)."""
        tasks.add_worker(self.function, self.alias)
        if self._wires_egress:
            self.function.connections.allow_to_any_ipv4(ec2.Port.tcp(443), "HTTPS: DynamoDB: the task state")

    @property
    def function_arn(self) -> str:
        """What the front invokes: the ``live`` alias's ARN."""
        return self.alias.function_arn

    # -- metrics ---------------------------------------------------------------------------------------------

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric:
        """Invocations of the alias (calls the front forwarded). Default: sum over 5 minutes."""
        return self.alias.metric_invocations(**options)

    def metric_errors(self, **options: Any) -> cloudwatch.Metric:
        """Invocations of the alias that crashed or timed out (the front made each a tool error).
        Default: sum over 5 minutes."""
        return self.alias.metric_errors(**options)

    def metric_throttles(self, **options: Any) -> cloudwatch.Metric:
        """Invocations refused for lack of concurrency. Default: sum over 5 minutes."""
        return self.alias.metric_throttles(**options)

    def metric_duration(self, **options: Any) -> cloudwatch.Metric:
        """How long invocations of the alias took. Default: average over 5 minutes."""
        return self.alias.metric_duration(**options)
