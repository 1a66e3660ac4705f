"""McpLambdaService: one MCP server as a Lambda function behind a Function URL.

Why one construct: every service needs the same shape -- the bundled code, a published version behind
a stable ``live`` alias (so provisioned concurrency and the URL survive deployments), a Function URL on
that alias, a log group with a retention, and the environment the runtime reads (service name, metrics
namespace). Stacks then differ only in what is specific to their case (database, sign-in, WAF).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import CfnOutput, Duration, RemovalPolicy, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib.bundling import PythonBundle, bundled_code

#: The CloudWatch namespace of the EMF metrics every service emits (Powertools Metrics).
METRICS_NAMESPACE = "McpServers"

#: The alias the URL, provisioned concurrency and metrics point at.
ALIAS_NAME = "live"

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
_MIN_MEMORY_MB, _MAX_MEMORY_MB = 128, 10240
_MAX_TIMEOUT_SECONDS = 900


@jsii.implements(ec2.IConnectable, iam.IGrantable)
class McpLambdaService(Construct):
    """An MCP server running on Lambda, reachable through a Function URL on its ``live`` alias.

    The service is ``IGrantable`` (grants go to the function's role) and, when it runs in a VPC,
    ``IConnectable`` (its security groups), so ``database.grant_connect(service)`` and
    ``database.connections.allow_default_port_from(service)`` work on it directly.

    :param scope: the parent construct.
    :param id: the construct id.
    :param service: the service's public name (``weather``, ``secure-messaging``); used for the
        Powertools service name and ``MCP_SERVICE``.
    :param package: the Python package under ``lambdas/`` holding the service.
        Default: ``service`` with ``-`` replaced by ``_``.
    :param handler: the Lambda handler. Default: ``<package>.server.handler``.
    :param code: the function's code. Default: ``lambdas/mcp_lambda`` + ``lambdas/<package>`` + the
        pinned dependencies, bundled locally for ``architecture`` (see ``constructs_lib.bundling``).
    :param lambdas_dir: where the packages and ``requirements.txt`` live; ignored when ``code`` is
        given. Default: the repository's ``lambdas/`` folder.
    :param memory_size: memory in MB, 128 to 10240; CPU scales with it. Default: 1024.
    :param timeout: the function timeout, at most 15 minutes. Default: 30 seconds.
    :param environment: extra environment variables; they override the defaults. Default: none.
    :param architecture: the CPU architecture. Default: ``Architecture.ARM_64``.
    :param runtime: the Python runtime. Default: ``Runtime.PYTHON_3_13``.
    :param url_auth_type: who may call the Function URL: ``AWS_IAM`` (SigV4-signed callers that were
        granted with ``grant_invoke``) or ``NONE`` (public; the server authenticates, if at all).
        Default: ``FunctionUrlAuthType.AWS_IAM``.
    :param provisioned_concurrency: environments kept initialized on the alias. Default: none (on demand).
    :param log_retention: how long the function's logs are kept. Default: ``RetentionDays.ONE_MONTH``.
        The log group is destroyed with the stack; call ``log_group.apply_removal_policy`` to keep it.
    :param vpc: run the function in this VPC (to reach a database). Default: none (Lambda's own network).
    :param vpc_subnets: where in ``vpc``; public subnets are refused. Default: the VPC's private subnets
        with egress if it has any, else its isolated ones (pass ``McpDatabase.application_subnets`` for a
        VPC created by ``McpDatabase``).
    :param security_groups: the function's security groups in ``vpc``. Default: one new group, all
        outbound traffic allowed, no inbound.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        service: str,
        package: str | None = None,
        handler: str | None = None,
        code: lambda_.Code | None = None,
        lambdas_dir: Path | str | None = None,
        memory_size: int | float = 1024,
        timeout: Duration | None = None,
        environment: Mapping[str, str] | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_13,
        url_auth_type: lambda_.FunctionUrlAuthType = lambda_.FunctionUrlAuthType.AWS_IAM,
        provisioned_concurrency: int | float | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
    ) -> None:
        super().__init__(scope, id)
        package = package or service.replace("-", "_")
        handler = handler or f"{package}.server.handler"
        timeout = timeout or Duration.seconds(30)
        _validate(service, handler, memory_size, timeout, provisioned_concurrency)
        if vpc is None and (vpc_subnets is not None or security_groups):
            raise ValueError("vpc_subnets and security_groups need a vpc")

        self.service = service

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        """Where the function logs; created here so its retention is part of the stack."""

        if code is None:
            bundle = PythonBundle.for_function(
                package, runtime=runtime, architecture=architecture, lambdas_dir=lambdas_dir
            )
            code = bundled_code(self, bundle)

        self.function = lambda_.Function(
            self,
            "Function",
            code=code,
            handler=handler,
            runtime=runtime,
            architecture=architecture,
            memory_size=memory_size,
            timeout=timeout,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "MCP_SERVICE": service,
                **(environment or {}),
            },
            log_group=self.log_group,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) if security_groups else None,
        )
        """The function; configure it further through its L2 API."""

        self.alias = lambda_.Alias(
            self,
            "Alias",
            alias_name=ALIAS_NAME,
            version=self.function.current_version,
            provisioned_concurrent_executions=provisioned_concurrency,
        )
        """The ``live`` alias on the latest published version; the URL and the metrics point here."""

        self.url = self.alias.add_function_url(auth_type=url_auth_type)
        """The Function URL of the alias."""

        self.url_output = CfnOutput(
            self, "Url", value=self.url.url, description=f"Function URL of the {service} MCP server"
        )

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
        """Let ``grantee`` call the service through its Function URL (needed with ``AWS_IAM`` auth)."""
        return self.alias.grant_invoke_url(grantee)

    def metric_errors(self, **options: Any) -> cloudwatch.Metric:
        """Invocations of the alias that ended in a function error; takes ``cloudwatch.MetricOptions``.

        Default: the sum over 5 minutes.
        """
        return self.alias.metric_errors(**options)

    def metric_duration(self, **options: Any) -> cloudwatch.Metric:
        """How long invocations of the alias took; takes ``cloudwatch.MetricOptions``.

        Default: the average over 5 minutes.
        """
        return self.alias.metric_duration(**options)


def _validate(
    service: str,
    handler: str,
    memory_size: int | float,
    timeout: Duration,
    provisioned_concurrency: int | float | None,
) -> None:
    """Reject impossible props at synth time rather than at deploy time; tokens are left to CloudFormation."""
    if not Token.is_unresolved(service) and not _SERVICE_NAME.match(service):
        raise ValueError(f"service must be lower-case letters, digits and '-', got {service!r}")
    if not Token.is_unresolved(handler) and not _HANDLER.match(handler):
        raise ValueError(f"handler must look like 'package.module.function', got {handler!r}")
    if not Token.is_unresolved(memory_size) and not (
        float(memory_size).is_integer() and _MIN_MEMORY_MB <= memory_size <= _MAX_MEMORY_MB
    ):
        raise ValueError(
            f"memory_size must be a whole number of MB from {_MIN_MEMORY_MB} to {_MAX_MEMORY_MB}, got {memory_size}"
        )
    if not timeout.is_unresolved():
        seconds = timeout.to_seconds()
        if not 1 <= seconds <= _MAX_TIMEOUT_SECONDS:
            raise ValueError(f"timeout must be from 1 second to 15 minutes, got {seconds} seconds")
    if provisioned_concurrency is not None and not Token.is_unresolved(provisioned_concurrency):
        if not (float(provisioned_concurrency).is_integer() and provisioned_concurrency >= 1):
            raise ValueError(f"provisioned_concurrency must be a positive whole number, got {provisioned_concurrency}")
