"""McpSchemaMigrations: a server's SQL migrations, applied to an McpDatabase at deploy time.

Why at deploy time: tools never create or alter tables, and the ``live`` alias of a server moves to new
code only after the schema that code expects exists (``McpLambdaService(database=...)`` makes the alias
depend on its server's migrations). The migrations run ``mcp_lambda.migrations.handler`` as a
CloudFormation custom resource whose properties carry a hash of the SQL files, so a new or changed
migration file (and only that) runs it again on the next deployment; applied files are recorded in the
database and never run twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from mcp_lambda import contract as c
from mcp_lambda.spec import MIGRATIONS_FOLDER, NAME_PATTERN

from mcp_lambda_cdk.bundling import PythonBundle, bundled_code
from mcp_lambda_cdk.policy import acknowledge

if TYPE_CHECKING:
    from mcp_lambda_cdk.database import McpDatabase



def schema_owner(directory: Path) -> str:
    """The name a migrations folder goes by: its server folder's (``servers/messaging/migrations`` ->
    ``messaging``), or its own when it is not a server's ``migrations/``."""
    folder = directory.parent if directory.name == MIGRATIONS_FOLDER else directory
    return folder.name.replace("_", "-").lower()


def migration_files_hash(directory: Path) -> str:
    """A hash of the names and contents of ``directory/*.sql``; changes when a migration does."""
    files = sorted(directory.glob("*.sql")) if directory.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no migrations (*.sql) in {directory}")
    digest = hashlib.sha256(b"mcp-migrations/1")
    for path in files:
        for part in (path.name.encode(), path.read_bytes()):
            digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


class McpSchemaMigrations(Construct):
    """The numbered ``*.sql`` files of ``directory``, applied to ``database`` on every deployment that
    changes them. Usually defined with ``McpDatabase.add_migrations``.

    The custom resource's handler is ``mcp_lambda.migrations.handler``, bundled with the directory (the
    runtime and the folder, nothing else), running in the database's application subnets and signing in
    to the proxy as its master user with an IAM token. Its ``MigrationsHash`` property covers the names and
    contents of the SQL files, so CloudFormation sends an Update (and the handler applies what is pending)
    exactly when a migration is added or changed.

    :param scope: the parent construct.
    :param id: the construct id.
    :param database: the database to migrate.
    :param directory: the folder of numbered ``*.sql`` files.
    :param service: the schema owner's name (lower-case letters, digits, ``-``), naming the resources.
    :param architecture: the function's CPU. Default: ``Architecture.ARM_64``.
    :param runtime: the Python runtime. Default: ``Runtime.PYTHON_3_13``.
    :param timeout: the migration function's timeout. Default: 5 minutes.

    Attributes: ``directory``, ``migrations_hash``, ``function``, ``log_group``, ``provider``, ``resource``
    (the custom resource: what depends on the schema depends on it, or on this construct).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        database: McpDatabase,
        directory: Path | str,
        service: str,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_13,
        timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not NAME_PATTERN.match(service):
            raise ValueError(f"service must be lower-case letters, digits and '-', got {service!r}")
        self.directory = Path(directory).resolve()
        """The folder of SQL files."""
        self.migrations_hash = migration_files_hash(self.directory)
        """The hash of the SQL files' names and contents (the custom resource's ``MigrationsHash``)."""
        bundle = PythonBundle.for_server(self.directory, runtime=runtime, architecture=architecture)

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=logs.RetentionDays.ONE_MONTH,
            encryption_key=database.encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        """The migration function's logs."""
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Applies the {service} schema migrations (CloudFormation custom resource)",
            code=bundled_code(self, bundle),
            handler=c.MIGRATIONS_HANDLER,
            runtime=runtime,
            architecture=architecture,
            memory_size=512,
            timeout=timeout or Duration.minutes(5),
            vpc=database.vpc,
            vpc_subnets=database.application_subnets,
            # Out to the proxy only (connect_function), and to Secrets Manager for the users' passwords.
            allow_all_outbound=False,
            environment={
                c.MCP_MIGRATIONS_DIR: bundle.package,
                c.POWERTOOLS_SERVICE_NAME: f"{service}-migrations",
            },
            environment_encryption=database.encryption_key,
            log_group=self.log_group,
        )
        """The custom resource's handler."""
        database.connect_function(self.function)

        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            provider_function_env_encryption=database.encryption_key,
            log_group=logs.LogGroup(
                self,
                "ProviderLogGroup",
                retention=logs.RetentionDays.ONE_MONTH,
                encryption_key=database.encryption_key,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        """aws-cdk-lib's custom resource provider framework around ``function``."""
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::McpSchemaMigrations",
            properties={"Service": service, "MigrationsHash": self.migrations_hash},
        )
        """The custom resource: it completes once every migration is applied."""
        # The function reaches the database only once the proxy has its target and every security group
        # rule on the way exists (its own group's rules out, the proxy's and the instance's in); the
        # environment variables alone order it after the proxy, not those.
        self.resource.node.add_dependency(
            database.proxy, database.instance, database.security_group, database.proxy_security_group,
            *self.function.connections.security_groups,
        )
        function_id = Stack.of(self).get_logical_id(self.function.node.default_child)
        for rule, reason in (
            (
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "a deploy-time custom resource (handler and aws-cdk-lib's provider framework) writing its own logs",
            ),
            (
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
                "Lambda's VPC networking needs ec2 network-interface actions on '*'; AWS's policy is that minimal set",
            ),
            ("AwsSolutions-L1", f"{runtime.name}: the same bundle and runtime as the service it migrates"),
            (
                f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                "aws-cdk-lib's provider framework invokes any version of the migration handler (and only it)",
            ),
        ):
            acknowledge(self, rule, reason)
