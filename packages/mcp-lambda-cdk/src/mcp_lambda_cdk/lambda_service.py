"""McpLambdaService: one MCP server as a Lambda function behind a Function URL or a REST API.

Why one construct: every service needs the same shape -- the bundled code, a published version behind
a stable ``live`` alias (so provisioned concurrency, SnapStart and the endpoint survive deployments), an
endpoint on that alias, encrypted logs with a retention, the environment the runtime reads (service name,
metrics namespace, the shared ``requestState`` keys), alarms and a dashboard. Stacks then differ only in
what is specific to their case (database, sign-in).

Why a customer managed key per service: the environment variables, the log groups (the function's and,
with a REST API, the access, execution and WAF logs) and the ``requestState`` key ring are encrypted
with a key the service's account controls and can audit (CloudTrail logs every use); it rotates yearly.

Long-running tools: with ``tasks=TasksOptions()`` the service keeps task state in a DynamoDB table and
runs task tools in asynchronous invocations of itself, up to the function's timeout (15 minutes by
default then); see ``mcp_lambda_cdk.tasks``.

Cold starts: either keep environments warm with provisioned concurrency on the alias (optionally scaled
with Application Auto Scaling on its utilization), or let SnapStart restore them from a snapshot taken
after the init phase (the runtime primes the SDK before the snapshot and repairs connections and
randomness after each restore, see ``mcp_lambda/snapstart.py``). Lambda does not allow both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import jsii
from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Token
from aws_cdk import aws_apigateway as apigw
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
from mcp_lambda.spec import ServerSpec

from mcp_lambda_cdk.api import DEFAULT_INTEGRATION_TIMEOUT, McpRestApi, validate_rest_api_props
from mcp_lambda_cdk.bundling import PythonBundle, bundled_code
from mcp_lambda_cdk.monitoring import McpServiceMonitoring, database_widgets, tool_function_widgets
from mcp_lambda_cdk.policy import acknowledge, acknowledge_active_tracing, allow_cloudwatch_logs, allow_vpc_networking
from mcp_lambda_cdk.tasks import McpTasks, TasksOptions, worker_function_name
from mcp_lambda_cdk.tool_function import McpToolFunction
from mcp_lambda_cdk.tracing import McpTracing

if TYPE_CHECKING:
    from mcp_lambda_cdk.database import McpDatabase
    from mcp_lambda_cdk.database_users import McpDatabaseUser
    from mcp_lambda_cdk.migrations import McpSchemaMigrations


#: The alias the endpoint, provisioned concurrency and metrics point at.
ALIAS_NAME = "live"

#: Concurrency reserved for (and capping) a service behind a public Function URL unless set otherwise: anyone
#: on the internet can call such a URL, and Function URLs have no throttling or WAF of their own.
PUBLIC_URL_RESERVED_CONCURRENCY = 20


_MIN_MEMORY_MB, _MAX_MEMORY_MB = 128, 10240
_MAX_TIMEOUT_SECONDS = 900
_TASKS_TIMEOUT = Duration.minutes(15)  # a task may run as long as Lambda allows
_TASKS_DURATION_ALARM_FRACTION = 0.8
_MIN_UTILIZATION, _MAX_UTILIZATION = 0.1, 0.9


class ServiceAuth(Protocol):
    """Sign-in for a service, what ``McpLambdaService(auth=...)`` takes (the integration's interface):
    ``McpOidcAuth`` (trust identity providers directly) or ``McpAuthorizationServer`` (this app's own OAuth
    authorization server, for clients that register themselves). The service calls ``protect(self)`` once."""

    def protect(self, service: McpLambdaService) -> Any:
        """Make ``service`` check bearer tokens from this sign-in (``MCP_AUTH_CONFIG``) and watch its failures."""
        ...


@dataclass(frozen=True)
class McpEndpoint:
    """How clients reach the service; build it with ``function_url()`` or ``rest_api()``.

    :param url_auth_type: set for a Function URL endpoint.
    :param rest_api_props: set for a REST API endpoint: the keyword props of ``McpRestApi``.
    """

    url_auth_type: lambda_.FunctionUrlAuthType | None = None
    rest_api_props: Mapping[str, Any] | None = field(default=None)

    @staticmethod
    def function_url(
        *, auth_type: lambda_.FunctionUrlAuthType = lambda_.FunctionUrlAuthType.AWS_IAM
    ) -> McpEndpoint:
        """A Function URL on the ``live`` alias.

        :param auth_type: ``AWS_IAM`` (SigV4-signed callers granted with ``grant_invoke``) or ``NONE``
            (public; the server authenticates, if at all). Default: ``FunctionUrlAuthType.AWS_IAM``.
        """
        return McpEndpoint(url_auth_type=auth_type)

    @staticmethod
    def rest_api(
        *,
        authorization_type: apigw.AuthorizationType = apigw.AuthorizationType.NONE,
        stage_name: str = "live",
        throttling_rate_limit: int | float = 100,
        throttling_burst_limit: int | float = 200,
        waf_rate_limit: int | float = 1000,
        waf_rate_window: Duration | None = None,
        integration_timeout: Duration | None = None,
        cloud_watch_role: bool = True,
        domain_name: apigw.DomainNameOptions | None = None,
        validate_request_body: bool = True,
    ) -> McpEndpoint:
        """A regional API Gateway REST API with WAF, throttling and access logs; see ``McpRestApi``.

        :param authorization_type: ``NONE`` or ``IAM``. Default: ``AuthorizationType.NONE``.
        :param stage_name: the stage. Default: ``live``.
        :param throttling_rate_limit: requests per second for the stage. Default: 100.
        :param throttling_burst_limit: the stage's burst. Default: 200.
        :param waf_rate_limit: requests per IP address and ``waf_rate_window`` before WAF blocks. Default: 1000.
        :param waf_rate_window: 1, 2, 5 or 10 minutes. Default: 5 minutes.
        :param integration_timeout: how long the gateway waits for the function; the function's timeout
            may not exceed it. Default: 29 seconds.
        :param cloud_watch_role: create the account's API Gateway logging role. Default: True.
        :param domain_name: a custom domain mapped at the root (needed for RFC 9728 discovery with
            sign-in). Default: none.
        :param validate_request_body: refuse non-JSON ``POST`` bodies at the gateway. Default: True.
        """
        props = {
            "authorization_type": authorization_type,
            "stage_name": stage_name,
            "throttling_rate_limit": throttling_rate_limit,
            "throttling_burst_limit": throttling_burst_limit,
            "waf_rate_limit": waf_rate_limit,
            "waf_rate_window": waf_rate_window or Duration.minutes(5),
            "integration_timeout": integration_timeout or DEFAULT_INTEGRATION_TIMEOUT,
            "cloud_watch_role": cloud_watch_role,
            "domain_name": domain_name,
            "validate_request_body": validate_request_body,
        }
        validate_rest_api_props(
            **{k: props[k] for k in ("authorization_type", "throttling_rate_limit", "throttling_burst_limit",
                                     "waf_rate_limit", "waf_rate_window", "integration_timeout")}
        )
        return McpEndpoint(rest_api_props=props)

    @property
    def is_rest_api(self) -> bool:
        return self.rest_api_props is not None


@jsii.implements(ec2.IConnectable, iam.IGrantable)
class McpLambdaService(Construct):
    """An MCP server running on Lambda, reachable through its ``live`` alias.

    The service is ``IGrantable`` (grants go to the function's role) and, when it runs in a VPC,
    ``IConnectable`` (its security groups), so ``database.grant_connect(service)`` and
    ``database.connections.allow_default_port_from(service)`` work on it directly.

    Attributes: ``function``, ``role``, ``alias``, ``url`` (Function URL endpoint) or ``rest_api``/``api`` (REST
    API endpoint), ``endpoint_url``, ``log_group``, ``encryption_key``, ``request_state_secret``,
    ``tasks``, ``database``, ``migrations``, ``database_user``, ``auth``, ``tracing``, ``tool_functions``,
    ``monitoring``, ``dashboard``, ``provisioned_scaling``.

    :param scope: the parent construct.
    :param id: the construct id.
    :param server: the server (``mcp_lambda.spec.ServerSpec``): its name (the Powertools service name and the
        metrics' ``service`` dimension), its folder (the handler ``<folder>.server.handler``) and whether its
        endpoint is public (a Function URL with auth ``NONE``). Each of its ``placements`` gets a function of its
        own (``McpToolFunction``: its own role, database user, memory, timeout; no endpoint), which this
        function may invoke (``MCP_TOOL_FUNCTIONS``, ``lambda:InvokeFunction`` on exactly their ``live`` aliases,
        HTTPS to Lambda) and whose aliases exist before this one moves; their alarms and graphs join the dashboard.
    :param code: the function's code. Default: the server's folder (with the sibling packages it imports),
        the runtime distribution and the folder's own ``requirements.txt``, pinned by the runtime's
        constraints and bundled locally for ``architecture`` (see ``mcp_lambda_cdk.bundling``).
    :param memory_size: memory in MB, 128 to 10240; CPU scales with it. Default: 1024.
    :param timeout: the function timeout, at most 15 minutes, and (without ``tasks``) at most the REST API's
        integration timeout. With ``tasks`` it is how long a task may run; a synchronous call through a
        REST API is still cut off by the gateway at its integration timeout (a warning says so). Default:
        30 seconds; with a REST API endpoint, its integration timeout (29 seconds); with ``tasks``, 15 minutes.
    :param reserved_concurrent_executions: concurrency reserved for (and capping) this function; 0 stops
        it. Default: for a public Function URL (``auth_type=NONE``) ``PUBLIC_URL_RESERVED_CONCURRENCY`` (20, or
        the provisioned concurrency if higher), a cap on what anonymous callers can cost (for real public
        traffic, prefer ``McpEndpoint.rest_api()``: WAF's per-IP rate rule and stage throttling); otherwise
        none (the account's unreserved pool, no cap).
    :param cap_public_concurrency: apply the public Function URL default above. Set False in accounts whose
        concurrency quota leaves nothing to reserve (Lambda keeps 100 unreserved; new accounts may start with
        a quota of 10). Default: True.
    :param environment: extra environment variables; they override the defaults. Default: none.
    :param architecture: the CPU architecture. Default: ``Architecture.ARM_64``.
    :param runtime: the Python runtime. Default: ``Runtime.PYTHON_3_13``.
    :param endpoint: how clients reach the service: ``McpEndpoint.function_url(...)`` or
        ``McpEndpoint.rest_api(...)``. Default: a Function URL with ``url_auth_type``.
    :param url_auth_type: shorthand for ``endpoint=McpEndpoint.function_url(auth_type=...)``; not
        together with ``endpoint``. Default: ``NONE`` for a server declared ``public`` or with ``sign_in``
        (it checks bearer tokens itself, and an ``AWS_IAM`` URL would take the ``Authorization`` header for
        its own signature), else ``AWS_IAM``.
    :param provisioned_concurrency: environments kept initialized on the alias (the minimum when
        ``max_provisioned_concurrency`` is set). Default: none (on demand).
    :param max_provisioned_concurrency: scale provisioned concurrency with Application Auto Scaling
        between ``provisioned_concurrency`` and this, tracking ``provisioned_utilization_target``.
        Default: none (fixed provisioned concurrency).
    :param provisioned_utilization_target: the provisioned-concurrency utilization auto scaling keeps,
        0.1 to 0.9. Default: 0.7.
    :param snap_start: restore new environments from a snapshot of the initialized one (published
        versions; Python 3.12+); not together with provisioned concurrency. Default: False.
    :param encryption_key: encrypts the environment variables, the log groups and the ``requestState``
        secret. Default: a new customer managed key with yearly rotation, destroyed with the stack
        (7-day waiting period) like the log groups it encrypts.
    :param request_state_secret: create a Secrets Manager secret holding the key the runtime seals
        2026-07-28 ``requestState`` with, shared by every execution environment, and set
        ``MCP_REQUEST_STATE_SECRET_ARN``. It is read on first use only, through Secrets Manager: a function
        in a VPC needs a route to it (``McpDatabase`` creates an interface endpoint). Default: True.
    :param log_retention: how long the function's logs are kept. Default: ``RetentionDays.ONE_MONTH``.
        The log group is destroyed with the stack; call ``log_group.apply_removal_policy`` to keep it.
    :param vpc: run the function in this VPC (to reach a database). Default: none (Lambda's own network).
    :param vpc_subnets: where in ``vpc``; public subnets are refused. Default: the VPC's private subnets
        with egress if it has any, else its isolated ones (pass ``McpDatabase.application_subnets`` for a
        VPC created by ``McpDatabase``).
    :param security_groups: the function's security groups in ``vpc``. Default: one new group, no inbound,
        outbound as ``allow_all_outbound`` says.
    :param allow_all_outbound: let the new security group send anything anywhere. When False, it sends only what
        the service is wired to reach: the database proxy on 5432 (``database``), HTTPS to Secrets Manager (the
        ``requestState`` key: the database's interface endpoint, or anywhere without one), and HTTPS anywhere
        for sign-in (the issuers' signing keys, on the internet) and tasks (DynamoDB's gateway endpoint, whose
        addresses a template cannot name, and Lambda). Not with ``security_groups`` (configure those).
        Default: False.
    :param database: the ``McpDatabase`` the server's lifespan connects to (required for a server declared
        with ``database=True``). The service wires itself to it: it runs in the database's application
        subnets (unless ``vpc`` says otherwise), the server's migrations are added to the database, a server
        declaring ``grants`` gets a user of its own (``McpDatabase.add_user``) and the ``live`` alias moves
        only after both; it gets the proxy's environment, ``rds-db:connect`` as its own user (the master user
        without ``grants``, with a synth warning) and port 5432, a task service in the isolated application tier gets the VPC endpoints tasks need, and the
        dashboard gets the database's row. Default: none.
    :param auth: the sign-in whose issuers the server trusts (required for a server declared with
        ``sign_in=True``): an ``McpOidcAuth``, or an ``McpAuthorizationServer`` (which also lists the server as
        one of its resources). ``auth.protect(service)`` sets ``MCP_AUTH_CONFIG`` and adds the sign-in failure
        metric, alarm and query. Default: none.
    :param tasks: serve long-running tools as MCP tasks (``mcp_lambda.tasks``): a DynamoDB table, the
        function's permissions on it and on itself, the ``MCP_TASKS_*`` variables, an on-failure queue for
        worker events, and a row of task metrics and alarms on the dashboard (see ``McpTasks``). The
        function then gets a fixed name (``worker_function_name``). A function in a VPC also needs routes
        to DynamoDB and Lambda (a NAT gateway, or endpoints: with ``database``, added when its application
        tier has no egress). Default: ``TasksOptions()`` for a server declared with ``tasks=True``, else
        none (task tools answer synchronously).
    :param tracing: a trace per invocation, joined to the client's trace (``McpTracing.adot()``: OpenTelemetry
        spans over OTLP to the ADOT collector extension, which sends them to X-Ray; see
        ``mcp_lambda_cdk.tracing``). Sets ``MCP_TRACING`` and the collector's endpoint, adds the collector's
        layer and the runtime's ``tracing`` extra to the bundle (a given ``code`` must hold
        ``mcp-lambda-runtime[tracing]`` itself), turns on Lambda's active tracing (which grants the role
        ``xray:PutTraceSegments`` and ``xray:PutTelemetryRecords``) and, in a VPC, HTTPS to X-Ray (an interface
        endpoint in a database's application tier without egress). Default: none (no traces, and nothing of
        the OpenTelemetry SDK imported).
    :param tools: the service's tool names, for one line per tool on the dashboard. Default: a
        ``SEARCH`` over every tool the service has reported.
    :param alarm_topic: where the alarms notify. Default: none (dashboard and console only).
    :param duration_alarm_threshold: the p99 duration that raises the duration alarm. Default: 3,000 ms;
        with ``tasks``, 80 % of ``timeout`` (task workers run long by design on the same alias, so the alarm
        then warns of invocations nearing the timeout).
    :param error_rate_alarm_percent: the error rate that, over 5 consecutive minutes, raises the
        error-rate alarm. Default: 1.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        server: ServerSpec,
        code: lambda_.Code | None = None,
        memory_size: int | float = 1024,
        timeout: Duration | None = None,
        reserved_concurrent_executions: int | float | None = None,
        cap_public_concurrency: bool = True,
        environment: Mapping[str, str] | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_13,
        endpoint: McpEndpoint | None = None,
        url_auth_type: lambda_.FunctionUrlAuthType | None = None,
        provisioned_concurrency: int | float | None = None,
        max_provisioned_concurrency: int | float | None = None,
        provisioned_utilization_target: float = 0.7,
        snap_start: bool = False,
        encryption_key: kms.IKey | None = None,
        request_state_secret: bool = True,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        allow_all_outbound: bool = False,
        database: McpDatabase | None = None,
        auth: ServiceAuth | None = None,
        tasks: TasksOptions | None = None,
        tracing: McpTracing | None = None,
        tools: Sequence[str] | None = None,
        alarm_topic: sns.ITopic | None = None,
        duration_alarm_threshold: Duration | None = None,
        error_rate_alarm_percent: int | float = 1.0,
    ) -> None:
        super().__init__(scope, id)
        service, handler = server.name, server.handler
        _check_integrations(server, database=database, auth=auth)
        if tasks is None and server.tasks:
            tasks = TasksOptions()
        if database is not None and vpc is None:
            vpc, vpc_subnets = database.vpc, vpc_subnets or database.application_subnets
        if endpoint is not None and url_auth_type is not None:
            raise ValueError("give either endpoint or url_auth_type, not both")
        endpoint = endpoint or McpEndpoint.function_url(
            auth_type=url_auth_type
            or (lambda_.FunctionUrlAuthType.AWS_IAM if server.signed_requests else lambda_.FunctionUrlAuthType.NONE)
        )
        integration_timeout: Duration | None = (
            endpoint.rest_api_props["integration_timeout"] if endpoint.rest_api_props is not None else None
        )
        if (
            reserved_concurrent_executions is None
            and cap_public_concurrency
            and endpoint.url_auth_type == lambda_.FunctionUrlAuthType.NONE
        ):
            reserved_concurrent_executions = _public_url_concurrency(provisioned_concurrency, max_provisioned_concurrency)
        if timeout is None:
            timeout = _TASKS_TIMEOUT if tasks is not None else integration_timeout or Duration.seconds(30)
        _validate(
            memory_size=memory_size,
            timeout=timeout,
            integration_timeout=integration_timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
            provisioned_concurrency=provisioned_concurrency,
            max_provisioned_concurrency=max_provisioned_concurrency,
            provisioned_utilization_target=provisioned_utilization_target,
            snap_start=snap_start,
            runtime=runtime,
            tasks=tasks is not None,
        )
        if tasks is not None:
            tasks.validate_for(timeout)
        if vpc is None and (vpc_subnets is not None or security_groups):
            raise ValueError("vpc_subnets and security_groups need a vpc")
        if security_groups and allow_all_outbound:
            raise ValueError("allow_all_outbound applies to the security group the service creates: configure the "
                             "given security_groups instead")

        self.server = server
        """The server this service deploys."""
        self.service = service
        """The service's public name (the server's)."""

        self.encryption_key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description=f"Encrypts the environment, logs and secrets of the {service} MCP server",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        """The key of the environment variables, the log groups and the ``requestState`` secret."""
        allow_cloudwatch_logs(self, self.encryption_key)

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=log_retention,
            encryption_key=self.encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        """Where the function logs; created here so its retention and encryption are part of the stack."""

        if code is None:
            code = bundled_code(self, PythonBundle.for_server(server.folder, runtime=runtime, architecture=architecture,
                                                              extras=("tracing",) if tracing is not None else ()))

        variables = {
            c.POWERTOOLS_SERVICE_NAME: service,
            c.POWERTOOLS_METRICS_NAMESPACE: c.METRICS_NAMESPACE,
            **(tracing.environment() if tracing is not None else {}),
            **(environment or {}),
        }
        self.metrics_namespace = variables[c.POWERTOOLS_METRICS_NAMESPACE]
        """The namespace of the runtime's EMF metrics (``POWERTOOLS_METRICS_NAMESPACE``)."""
        self.metrics_service = variables[c.POWERTOOLS_SERVICE_NAME]
        """The ``service`` dimension of the runtime's EMF metrics (``POWERTOOLS_SERVICE_NAME``)."""
        self.mcp_path = variables.get(c.MCP_PATH) or c.DEFAULT_MCP_PATH
        """The path the MCP endpoint answers on (``MCP_PATH``): the server names itself
        ``https://<the request's domain><mcp_path>`` (its RFC 8707 resource) unless sign-in configures one."""

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {service} MCP server",
        )
        """The function's execution role: it may write to ``log_group`` and nothing else until granted more."""
        # Instead of AWSLambdaBasicExecutionRole (any log group of the account): this log group only.
        self.log_group.grant_write(self.role)
        if vpc is not None:
            allow_vpc_networking(self.role)

        function_name = worker_function_name(self) if tasks is not None else None
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            role=self.role,
            description=f"MCP server {service}",
            code=code,
            handler=handler,
            runtime=runtime,
            architecture=architecture,
            memory_size=memory_size,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
            environment=variables,
            environment_encryption=self.encryption_key,
            log_group=self.log_group,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            tracing=lambda_.Tracing.ACTIVE if tracing is not None else None,
            layers=[tracing.collector_layer(self, architecture)] if tracing is not None else None,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) if security_groups else None,
            allow_all_outbound=allow_all_outbound if vpc is not None and not security_groups else None,
        )
        """The function; configure it further through its L2 API."""
        # Egress the service's own group gets for what it is wired to reach (the proxy's port is opened by the
        # database's connections, the Lambda endpoint's by the task endpoints').
        self._wires_egress = vpc is not None and not security_groups and not allow_all_outbound
        if runtime.name != lambda_.Runtime.PYTHON_3_14.name:
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"{runtime.name} is deliberate: the bundle's pinned wheels and shipped bytecode target the runtime "
                "the project tests locally; pass runtime=Runtime.PYTHON_3_14 to move",
            )
        self.tracing = tracing
        """How the service's traces leave the function, or None (no traces)."""
        if tracing is not None:
            acknowledge_active_tracing(self.role)
        if snap_start:
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "the live alias always points at a published version (current_version)",
            )

        self.request_state_secret: secretsmanager.Secret | None = None
        """The ``requestState`` sealing key (64 random characters), or None."""
        if request_state_secret:
            self.request_state_secret = secretsmanager.Secret(
                self,
                "RequestStateKey",
                description=f"Seals 2026-07-28 requestState for the {service} MCP server (shared by all instances)",
                encryption_key=self.encryption_key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=64, exclude_punctuation=True
                ),
            )
            self.request_state_secret.grant_read(self.function)
            acknowledge(
                self.request_state_secret,
                "AwsSolutions-SMG4",
                "an AES key ring, not a credential: no Secrets Manager rotation function fits it. Rotate by storing "
                "a JSON list with the new key first (the runtime seals with the first and opens with all)",
            )
            self.function.add_environment(c.MCP_REQUEST_STATE_SECRET_ARN, self.request_state_secret.secret_arn)

        self.alias = lambda_.Alias(
            self,
            "Alias",
            alias_name=ALIAS_NAME,
            version=self.function.current_version,
            provisioned_concurrent_executions=provisioned_concurrency,
        )
        """The ``live`` alias on the latest published version; the endpoint and the metrics point here."""

        self.provisioned_scaling: lambda_.IScalableFunctionAttribute | None = None
        """Application Auto Scaling of the alias's provisioned concurrency, or None."""
        if max_provisioned_concurrency is not None:
            self.provisioned_scaling = self.alias.add_auto_scaling(
                min_capacity=provisioned_concurrency, max_capacity=max_provisioned_concurrency
            )
            self.provisioned_scaling.scale_on_utilization(utilization_target=provisioned_utilization_target)

        self.url: lambda_.FunctionUrl | None = None
        """The Function URL of the alias (Function URL endpoint), or None."""
        self.rest_api: McpRestApi | None = None
        """The REST API construct (REST API endpoint: WAF, logs, validator), or None."""
        self.api: apigw.RestApi | None = None
        """The REST API itself (REST API endpoint), or None."""
        if endpoint.rest_api_props is not None:
            self.rest_api = McpRestApi(
                self,
                "Api",
                handler=self.alias,
                service=service,
                encryption_key=self.encryption_key,
                log_retention=log_retention,
                **endpoint.rest_api_props,
            )
            self.api = self.rest_api.api
            self.endpoint_url = self.rest_api.url
            description = f"MCP endpoint (REST API) of the {service} MCP server"
        else:
            assert endpoint.url_auth_type is not None
            self.url = self.alias.add_function_url(auth_type=endpoint.url_auth_type)
            self.endpoint_url = self.url.url
            description = f"Function URL of the {service} MCP server"
        self.url_output = CfnOutput(self, "Url", value=self.endpoint_url, description=description)
        self.public = (
            endpoint.url_auth_type == lambda_.FunctionUrlAuthType.NONE
            if endpoint.rest_api_props is None
            else endpoint.rest_api_props["authorization_type"] == apigw.AuthorizationType.NONE
        )
        """Whether anyone may call the endpoint without signing requests (SigV4): a Function URL with auth
        ``NONE`` or a REST API without IAM authorization."""

        self.tasks: McpTasks | None = None
        """The tasks' table, on-failure queue and metrics (with ``tasks``), or None."""
        if tasks is not None:
            assert function_name is not None
            self.tasks = McpTasks(
                self,
                "Tasks",
                function=self.function,
                function_name=function_name,
                alias=self.alias,
                encryption_key=self.encryption_key,
                metrics_namespace=self.metrics_namespace,
                metrics_service=self.metrics_service,
                options=tasks,
            )
            if (
                integration_timeout is not None
                and not (timeout.is_unresolved() or integration_timeout.is_unresolved())
                and timeout.to_milliseconds() > integration_timeout.to_milliseconds()
            ):
                Annotations.of(self).add_warning_v2(
                    "mcp:synchronousCallsCutOff",
                    f"the function may run {timeout.to_human_string()} (tasks), but the REST API answers 504 "
                    f"after {integration_timeout.to_human_string()}: synchronous calls longer than that (clients "
                    "without the Tasks extension, ordinary tools) are cut off while the function runs on",
                )
            if duration_alarm_threshold is None and not timeout.is_unresolved():
                duration_alarm_threshold = Duration.millis(
                    round(timeout.to_milliseconds() * _TASKS_DURATION_ALARM_FRACTION)
                )

        self.monitoring = McpServiceMonitoring(
            self,
            "Monitoring",
            service=self,
            api=self.rest_api,
            tasks=self.tasks,
            failed_tasks_threshold=tasks.failed_tasks_alarm_threshold if tasks is not None else 1,
            tools=tools,
            alarm_topic=alarm_topic,
            duration_threshold=duration_alarm_threshold,
            error_rate_percent=error_rate_alarm_percent,
        )
        """The alarms and the dashboard (see ``mcp_lambda_cdk.monitoring``)."""
        self.dashboard: cloudwatch.Dashboard = self.monitoring.dashboard
        """The service's CloudWatch dashboard; add widgets to it with ``add_widgets``."""

        self.database = database
        """The database the service is wired to, or None."""
        self.migrations: list[McpSchemaMigrations] = []
        """The server's schema migrations on ``database``; the ``live`` alias moves only after them."""
        self.database_user: McpDatabaseUser | None = None
        """The server's own user on ``database`` (a server declaring ``grants``), or None (the master user)."""
        if database is not None:
            self._use_database(database)
        elif self.request_state_secret is not None:
            self._allow_https("Secrets Manager: the requestState key")
        self.auth = auth
        """The sign-in the service is protected by, or None."""
        if auth is not None:
            auth.protect(self)
            self._allow_https("the issuers' signing keys (JWKS), on the internet")
        if self.tasks is not None:
            self._allow_https("DynamoDB (task state, a gateway endpoint without a security group) and Lambda (workers)")
        if tracing is not None:
            self._allow_xray(database)
        self.tool_functions: dict[str, McpToolFunction] = {}
        """The functions of the server's placed tools (``ServerSpec.placements``), by placement name."""
        for placement in server.placements:
            # A placement without the database runs outside its VPC: Lambda's own route to the internet, no subnets.
            inside = server.placement_database(placement) or not server.database
            self.tool_functions[placement.name] = McpToolFunction(
                self, f"Tool-{placement.name}", server=server, placement=placement, code=code,
                encryption_key=self.encryption_key, memory_size=memory_size, timeout=timeout, environment=variables,
                architecture=architecture, runtime=runtime, log_retention=log_retention,
                vpc=vpc if inside else None, vpc_subnets=vpc_subnets if inside else None,
                security_groups=security_groups if inside else None, allow_all_outbound=allow_all_outbound,
                database=database if inside else None, migrations=self.migrations if inside else (),
                request_state_secret=self.request_state_secret, tracing=tracing, alarm_topic=alarm_topic,
            )
            if placement.tasks and self.tasks is not None:
                self.tool_functions[placement.name].run_tasks(self.tasks)
        if self.tool_functions:
            self._forward_to(list(self.tool_functions.values()))

    def _forward_to(self, tool_functions: list[McpToolFunction]) -> None:
        """Send each placed tool's calls to its function: ``MCP_TOOL_FUNCTIONS``, ``lambda:InvokeFunction`` on exactly
        those ``live`` aliases, the front's traffic moving only once they exist, their rows on the dashboard."""
        self.function.add_environment(c.MCP_TOOL_FUNCTIONS, json.dumps(
            {tool: each.function_arn for each in tool_functions for tool in each.placement.tools}))
        iam.Grant.add_to_principal(grantee=self.function, actions=["lambda:InvokeFunction"],
                                   resource_arns=[each.function_arn for each in tool_functions])
        self.alias.node.add_dependency(*(each.alias for each in tool_functions))
        if self._wires_egress and self.database is not None and not self.database.application_egress:
            # No route out of the application tier: Lambda's interface endpoint, traffic moving once it is open.
            endpoint = self.database.add_lambda_endpoint(self, "Placed tools' calls forwarded by the function")
            self.alias.node.add_dependency(endpoint, *endpoint.connections.security_groups)
        else:
            self._allow_https("Lambda: the placed tools' functions")
        for each in tool_functions:
            self.dashboard.add_widgets(*tool_function_widgets(each, each.placement.name, each.monitoring.alarms))

    def _allow_xray(self, database: McpDatabase | None) -> None:
        """Let the collector extension reach X-Ray: through the database's X-Ray endpoint in an application tier
        without egress (traffic moves once it is open), else HTTPS anywhere (the VPC's own route)."""
        if not self._wires_egress:
            return
        if database is not None and not database.application_egress:
            endpoint = database.add_xray_endpoint(self)
            self.alias.node.add_dependency(endpoint, *endpoint.connections.security_groups)
        else:
            self._allow_https("X-Ray: the ADOT collector extension sends the traces")

    def _allow_https(self, reason: str) -> None:
        """Let the service's own security group send HTTPS anywhere (where no narrower peer can be named)."""
        if self._wires_egress:
            self.function.connections.allow_to_any_ipv4(ec2.Port.tcp(443), f"HTTPS: {reason}")

    def _use_database(self, database: McpDatabase) -> None:
        """Migrate ``database`` and make the server's own user before traffic moves, connect as that user, reach
        AWS from its subnets, watch it."""
        for directory in self.server.migration_dirs:
            self.migrations.append(database.add_migrations(directory))
        if self.migrations:
            self.alias.node.add_dependency(*(migrations.resource for migrations in self.migrations))
        user = self.server.database_user
        if user is None:
            Annotations.of(self).add_warning_v2(
                "mcp:databaseOwner",
                f"the {self.server.name} server declares no grants, so it connects as the database's master user, "
                "which may drop, alter and read every table: declare what its tools do (ServerSpec(grants=...))",
            )
        elif not self.migrations:
            raise ValueError(f"the {self.server.name} server declares grants but no migrations: its user is made "
                             "after the migrations that create its tables (ServerSpec(migrations=...))")
        else:
            self.database_user = database.add_user(user, self.server.table_grants, migrations=self.migrations)
            self.alias.node.add_dependency(self.database_user.resource)
        database.connect_service(self, db_user=user)
        if self.request_state_secret is not None and self._wires_egress:
            database.allow_secrets_manager(self, "the requestState key")
        if self.function.is_bound_to_vpc:
            # Traffic moves once the function can reach the proxy: its own rules out, the proxy's rules in.
            self.alias.node.add_dependency(*self.connections.security_groups, database.proxy_security_group)
        if self.tasks is not None and not database.application_egress and self.function.is_bound_to_vpc:
            # Traffic reaches new code only once tasks can be stored and started from inside the VPC.
            endpoints = database.add_task_endpoints(self)
            self.alias.node.add_dependency(*endpoints, *endpoints[1].connections.security_groups)
        self.dashboard.add_widgets(*database_widgets(database))

    @property
    def connections(self) -> ec2.Connections:
        """The function's security groups; only a service created with a ``vpc`` has them."""
        if not self.function.is_bound_to_vpc:
            raise ValueError(f"{self.node.path} has no security groups: it was created without a vpc")
        return self.function.connections

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The function's execution role: what ``grant_*`` methods of other constructs grant to."""
        return self.function.grant_principal

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call the service's endpoint (needed with ``AWS_IAM``/``IAM`` authorization)."""
        if self.rest_api is not None:
            return self.rest_api.grant_invoke(grantee)
        return self.alias.grant_invoke_url(grantee)

    # -- metrics: every alarm and graph of the service is built from these ---------------------------

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric:
        """Invocations of the alias; takes ``cloudwatch.MetricOptions``. Default: sum over 5 minutes."""
        return self.alias.metric_invocations(**options)

    def metric_errors(self, **options: Any) -> cloudwatch.Metric:
        """Invocations of the alias that ended in a function error; takes ``cloudwatch.MetricOptions``.

        Default: the sum over 5 minutes.
        """
        return self.alias.metric_errors(**options)

    def metric_throttles(self, **options: Any) -> cloudwatch.Metric:
        """Invocations of the alias refused for lack of concurrency. Default: sum over 5 minutes."""
        return self.alias.metric_throttles(**options)

    def metric_duration(self, **options: Any) -> cloudwatch.Metric:
        """How long invocations of the alias took; takes ``cloudwatch.MetricOptions``.

        Default: the average over 5 minutes.
        """
        return self.alias.metric_duration(**options)

    def metric_concurrent_executions(self, **options: Any) -> cloudwatch.Metric:
        """Environments of the alias running at once. Default: maximum over 5 minutes."""
        return self.alias.metric(
            "ConcurrentExecutions", **{"statistic": cloudwatch.Stats.MAXIMUM, **options}
        )

    def metric_provisioned_concurrency_spillover(self, **options: Any) -> cloudwatch.Metric:
        """Invocations served on demand because the provisioned environments were busy (cold starts).

        Default: the sum over 5 minutes.
        """
        return self.alias.metric(
            "ProvisionedConcurrencySpilloverInvocations", **{"statistic": cloudwatch.Stats.SUM, **options}
        )

    def metric_provisioned_concurrency_utilization(self, **options: Any) -> cloudwatch.Metric:
        """Busy provisioned environments as a fraction of those provisioned (what auto scaling tracks).

        Default: the maximum over 5 minutes.
        """
        return self.alias.metric(
            "ProvisionedConcurrencyUtilization", **{"statistic": cloudwatch.Stats.MAXIMUM, **options}
        )

    def metric_error_rate(self, *, period: Duration | None = None, label: str | None = None) -> cloudwatch.MathExpression:
        """``100 * Errors / Invocations`` of the alias, in percent. Default: over 5-minute periods."""
        period = period or Duration.minutes(5)
        return cloudwatch.MathExpression(
            expression="100 * errors / invocations",
            using_metrics={
                "errors": self.metric_errors(period=period),
                "invocations": self.metric_invocations(period=period),
            },
            label=label or "Error rate (%)",
            period=period,
        )

    def metric_tool(self, metric_name: str, tool: str, **options: Any) -> cloudwatch.Metric:
        """One of the runtime's per-tool EMF metrics (``ToolCalls``, ``ToolErrors``, ``ToolLatency``).

        Default: the sum over 5 minutes.
        """
        return cloudwatch.Metric(
            namespace=self.metrics_namespace,
            metric_name=metric_name,
            dimensions_map={c.SERVICE_DIMENSION: self.metrics_service, c.TOOL_DIMENSION: tool},
            **{"statistic": cloudwatch.Stats.SUM, "period": Duration.minutes(5), **options},
        )

    def metric_tool_calls(self, tool: str, **options: Any) -> cloudwatch.Metric:
        """``tools/call`` requests for ``tool``. Default: sum over 5 minutes."""
        return self.metric_tool(c.TOOL_CALLS, tool, **options)

    def metric_tool_errors(self, tool: str, **options: Any) -> cloudwatch.Metric:
        """Calls of ``tool`` that failed or returned ``isError``. Default: sum over 5 minutes."""
        return self.metric_tool(c.TOOL_ERRORS, tool, **options)

    def metric_tool_latency(self, tool: str, **options: Any) -> cloudwatch.Metric:
        """How long ``tool`` took, in ms. Default: average over 5 minutes."""
        return self.metric_tool(c.TOOL_LATENCY, tool, **{"statistic": cloudwatch.Stats.AVERAGE, **options})

    def metric_all_tools(
        self, metric_name: str, *, statistic: str = "Sum", period: Duration | None = None
    ) -> cloudwatch.MathExpression:
        """A ``SEARCH`` over one per-tool metric of every tool this service reported (dashboards only:
        alarms cannot use ``SEARCH``). Default: over 5-minute periods."""
        period = period or Duration.minutes(5)
        query = (
            f"{{{self.metrics_namespace},service,tool}} "
            f'MetricName="{metric_name}" service="{self.metrics_service}"'
        )
        return cloudwatch.MathExpression(
            expression=f"SEARCH('{query}', '{statistic}', {int(period.to_seconds())})",
            using_metrics={},
            label="",
            period=period,
        )


def _check_integrations(server: ServerSpec, *, database: McpDatabase | None, auth: ServiceAuth | None) -> None:
    """What the server declares it needs must be given: it would fail at its first request otherwise."""
    if server.database and database is None:
        raise ValueError(f"the {server.name} server declares database=True: pass database=McpDatabase(...)")
    if server.sign_in and auth is None:
        raise ValueError(f"the {server.name} server declares sign_in=True: pass auth=McpOidcAuth(...) "
                         "or auth=McpAuthorizationServer(...)")


def _public_url_concurrency(*provisioned: int | float | None) -> int | float:
    """The default cap of a public Function URL, raised to the provisioned concurrency it must hold."""
    known = [p for p in provisioned if p is not None and not Token.is_unresolved(p)]
    return max([PUBLIC_URL_RESERVED_CONCURRENCY, *known])


def _whole(value: int | float) -> bool:
    return float(value).is_integer()


def _validate(
    *,
    memory_size: int | float,
    timeout: Duration,
    integration_timeout: Duration | None,
    reserved_concurrent_executions: int | float | None,
    provisioned_concurrency: int | float | None,
    max_provisioned_concurrency: int | float | None,
    provisioned_utilization_target: float,
    snap_start: bool,
    runtime: lambda_.Runtime,
    tasks: bool,
) -> None:
    """Reject impossible props at synth time rather than at deploy time; tokens are left to CloudFormation."""

    def known(value: object) -> bool:
        return value is not None and not Token.is_unresolved(value)

    if known(memory_size) and not (_whole(memory_size) and _MIN_MEMORY_MB <= memory_size <= _MAX_MEMORY_MB):
        raise ValueError(
            f"memory_size must be a whole number of MB from {_MIN_MEMORY_MB} to {_MAX_MEMORY_MB}, got {memory_size}"
        )
    if not timeout.is_unresolved():
        seconds = timeout.to_seconds()
        if not 1 <= seconds <= _MAX_TIMEOUT_SECONDS:
            raise ValueError(f"timeout must be from 1 second to 15 minutes, got {seconds} seconds")
        # With tasks the timeout is how long a task may run, in an invocation no gateway waits for.
        if integration_timeout is not None and not integration_timeout.is_unresolved() and not tasks:
            if timeout.to_milliseconds() > integration_timeout.to_milliseconds():
                raise ValueError(
                    f"timeout ({seconds} s) exceeds the REST API's integration timeout "
                    f"({integration_timeout.to_seconds(integral=False)} s): API Gateway would answer 504 while "
                    "the function runs on; lower the timeout, or raise integration_timeout (above 29 s needs "
                    "a quota increase)"
                )
    if known(reserved_concurrent_executions) and not (
        _whole(reserved_concurrent_executions) and reserved_concurrent_executions >= 0
    ):
        raise ValueError(
            f"reserved_concurrent_executions must be a whole number >= 0, got {reserved_concurrent_executions}"
        )
    if known(provisioned_concurrency) and not (_whole(provisioned_concurrency) and provisioned_concurrency >= 1):
        raise ValueError(f"provisioned_concurrency must be a positive whole number, got {provisioned_concurrency}")
    if max_provisioned_concurrency is not None:
        if provisioned_concurrency is None:
            raise ValueError("max_provisioned_concurrency needs provisioned_concurrency (the minimum)")
        if known(max_provisioned_concurrency) and not _whole(max_provisioned_concurrency):
            raise ValueError(f"max_provisioned_concurrency must be a whole number, got {max_provisioned_concurrency}")
        if (
            known(max_provisioned_concurrency)
            and known(provisioned_concurrency)
            and max_provisioned_concurrency < provisioned_concurrency
        ):
            raise ValueError(
                f"max_provisioned_concurrency ({max_provisioned_concurrency}) is below provisioned_concurrency "
                f"({provisioned_concurrency})"
            )
    if known(provisioned_utilization_target) and not (
        _MIN_UTILIZATION <= provisioned_utilization_target <= _MAX_UTILIZATION
    ):
        raise ValueError(
            f"provisioned_utilization_target must be from {_MIN_UTILIZATION} to {_MAX_UTILIZATION}, "
            f"got {provisioned_utilization_target}"
        )
    if known(reserved_concurrent_executions):
        highest = max_provisioned_concurrency if max_provisioned_concurrency is not None else provisioned_concurrency
        if known(highest) and highest > reserved_concurrent_executions:
            raise ValueError(
                f"provisioned concurrency ({highest}) cannot exceed reserved_concurrent_executions "
                f"({reserved_concurrent_executions})"
            )
    if snap_start:
        if provisioned_concurrency is not None:
            raise ValueError(
                "snap_start and provisioned_concurrency exclude each other (Lambda supports only one): "
                "SnapStart restores environments on demand, provisioned concurrency keeps them warm"
            )
        if not runtime.supports_snap_start:
            raise ValueError(f"SnapStart needs a runtime that supports it (Python 3.12+), got {runtime.name}")
