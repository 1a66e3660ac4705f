"""McpDatabase: PostgreSQL on RDS behind an RDS Proxy, for MCP servers on Lambda.

Why an RDS Proxy: every Lambda execution environment holds its own connection (see
``mcp_lambda/database.py``), and Lambda can start hundreds of environments in seconds. The proxy
pools them onto a few server connections, survives failovers without dropping clients, and lets the
functions sign in with short-lived IAM tokens (``iam_auth``) instead of a password.

Why this network, and its tiers: ``mcp_lambda_cdk.database_network``. The props and their validation:
``mcp_lambda_cdk.database_props``. Its graphs: ``mcp_lambda_cdk.monitoring.database_widgets``.

Why IAM authentication for the functions: the proxy requires it (``IAMAuth: REQUIRED``), so the generated
passwords only ever open the database from the proxy and the rotation function, and functions are not
granted a secret (``grant_secret_read`` exists for tools of other kinds, such as an administrator's).

Why a user per server: the master user may do anything to every table. A server that declares ``grants``
gets a user of its own with exactly those (``add_user``, ``mcp_lambda_cdk.database_users``): its secret is
registered with the proxy, and its function may sign in as that user only. The master user is then the
migrations' and the rotation's alone.

Why migrations at deploy time: tools never create or alter tables. ``add_migrations`` defines an
``McpSchemaMigrations`` (``mcp_lambda_cdk.migrations``) for a server's ``migrations/`` folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol

import jsii
from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Tokenization, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from mcp_lambda import contract as c
from mcp_lambda.spec import TableGrant

from mcp_lambda_cdk.database_network import define_network
from mcp_lambda_cdk.database_props import DEFAULT_ENGINE_VERSION, McpDatabaseOptions, validate_props
from mcp_lambda_cdk.database_users import McpDatabaseUser
from mcp_lambda_cdk.migrations import McpSchemaMigrations, schema_owner
from mcp_lambda_cdk.policy import acknowledge, allow_cloudwatch_logs

#: PostgreSQL's port; the proxy listens on it too.
POSTGRES_PORT = 5432

#: The id of aws-cdk-lib's stack-wide LogRetention function (a fixed singleton id).
_LOG_RETENTION_SINGLETON = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"


class _VpcFunctionHolder(Protocol):
    """What ``connect_service`` needs: an McpLambdaService, or anything with a VPC-bound ``function``."""

    function: lambda_.Function


@jsii.implements(ec2.IConnectable)
class McpDatabase(Construct):
    """PostgreSQL on RDS, reached through an RDS Proxy with TLS and IAM authentication.

    Clients are wired with ``connect_service`` (environment, IAM grant, security groups) or, piecemeal,
    with ``grant_connect`` and ``connections`` (the proxy's security group, default port 5432).

    :param scope: the parent construct.
    :param id: the construct id.
    :param vpc: the VPC to run in. Default: a new VPC over 2 AZs with an isolated ``Database`` tier, an
        ``Application`` tier (isolated, or private with egress when ``nat_gateways`` > 0), VPC flow logs
        to CloudWatch Logs and a Secrets Manager interface endpoint.
    :param nat_gateways: NAT gateways of the created VPC; ignored when ``vpc`` is given.
        Default: 0 (no internet egress; AWS is reached through the interface endpoint).
    :param database_subnets: where the instance and the proxy run. Default: the ``Database`` tier of the
        created VPC, or the isolated subnets of a given one.
    :param application_subnets: where the rotation and migration functions run; put the services there
        too. Default: the ``Application`` tier of the created VPC, or the private subnets with egress of a
        given one.
    :param secrets_manager_endpoint: the interface endpoint the rotation function uses.
        Default: the endpoint created with the VPC; none for a given VPC (its subnets need egress).
    :param engine_version: the PostgreSQL version, with a minor version.
        Default: ``PostgresEngineVersion.VER_17_9``.
    :param instance_type: the instance class. Default: ``db.t4g.micro``.
    :param development: a cheaper database that is destroyed with its stack, for development and trial
        deployments: what the props below leave unset becomes single-AZ, 1 day of backups, no deletion
        protection and ``RemovalPolicy.DESTROY`` (no final snapshot; the key goes too). The instance class,
        the proxy (how each server signs in as its own database user with IAM) and the network stay.
        Explicit props win. Default: False.
    :param multi_az: run a synchronous standby in a second AZ. Default: True (False with ``development``).
    :param allocated_storage: initial gp3 storage in GiB, at least 20 (the RDS minimum). Default: 20.
    :param max_allocated_storage: the ceiling of storage autoscaling in GiB. Default: 100.
    :param database_name: the database created on the instance. Default: ``mcp``.
    :param username: the generated master user, kept in Secrets Manager. Default: ``mcp_admin``.
    :param backup_retention: how long automated backups are kept, 1 to 35 days. Default: 7 days (1 day with
        ``development``).
    :param preferred_backup_window: daily backup window, UTC ``hh24:mi-hh24:mi``. Default: ``03:00-03:30``.
    :param preferred_maintenance_window: weekly maintenance window, UTC ``ddd:hh24:mi-ddd:hh24:mi``.
        Default: ``sun:04:00-sun:04:30``.
    :param deletion_protection: refuse to delete the instance. Default: True (False with ``development``).
    :param removal_policy: what happens to the instance when it leaves the stack. Default:
        ``RemovalPolicy.SNAPSHOT`` (``DESTROY`` with ``development``). The KMS key is kept unless this is
        ``DESTROY``, so that snapshots stay restorable.
    :param statement_timeout_ms: the server cancels statements running longer (``statement_timeout``);
        0 disables it. Default: 5000.
    :param idle_in_transaction_session_timeout_ms: the server ends sessions idle inside a transaction
        for longer (a frozen Lambda environment must not hold locks). Default: 60000.
    :param secret_rotation: how often the master password, and each server's own (``add_user``), is rotated
        (single-user rotation). Default: 30 days.
    :param performance_insights: enable Performance Insights (7 days, encrypted with the key).
        Default: False.
    :param log_retention: retention of the exported ``postgresql`` log and of the flow logs.
        Default: ``RetentionDays.ONE_MONTH``.
    :param write_iops_anomaly_std_devs: width of the WriteIOPS anomaly band in standard deviations;
        see ``write_iops_alarm``. Default: 3.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc | None = None,
        nat_gateways: int = 0,
        database_subnets: ec2.SubnetSelection | None = None,
        application_subnets: ec2.SubnetSelection | None = None,
        secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None = None,
        engine_version: rds.PostgresEngineVersion = DEFAULT_ENGINE_VERSION,
        instance_type: ec2.InstanceType | None = None,
        development: bool = False,
        multi_az: bool | None = None,
        allocated_storage: int | float = 20,
        max_allocated_storage: int | float = 100,
        database_name: str = "mcp",
        username: str = "mcp_admin",
        backup_retention: Duration | None = None,
        preferred_backup_window: str = "03:00-03:30",
        preferred_maintenance_window: str = "sun:04:00-sun:04:30",
        deletion_protection: bool | None = None,
        removal_policy: RemovalPolicy | None = None,
        statement_timeout_ms: int | float = 5000,
        idle_in_transaction_session_timeout_ms: int | float = 60000,
        secret_rotation: Duration | None = None,
        performance_insights: bool = False,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        write_iops_anomaly_std_devs: int | float = 3,
    ) -> None:
        super().__init__(scope, id)
        # The development profile changes defaults only; what was given explicitly stays.
        multi_az = (not development) if multi_az is None else multi_az
        backup_retention = backup_retention or Duration.days(1 if development else 7)
        deletion_protection = (not development) if deletion_protection is None else deletion_protection
        if removal_policy is None:
            removal_policy = RemovalPolicy.DESTROY if development else RemovalPolicy.SNAPSHOT
        self.development = development
        """Whether this is the development profile (see the prop)."""
        secret_rotation = secret_rotation or Duration.days(30)
        validate_props(
            engine_version=engine_version,
            nat_gateways=nat_gateways,
            allocated_storage=allocated_storage,
            max_allocated_storage=max_allocated_storage,
            database_name=database_name,
            username=username,
            backup_retention=backup_retention,
            preferred_backup_window=preferred_backup_window,
            preferred_maintenance_window=preferred_maintenance_window,
            statement_timeout_ms=statement_timeout_ms,
            idle_in_transaction_session_timeout_ms=idle_in_transaction_session_timeout_ms,
            write_iops_anomaly_std_devs=write_iops_anomaly_std_devs,
            database_subnets=database_subnets,
        )
        self.database_name = database_name
        """The database the services connect to."""
        self.username = username
        """The master user: the migrations' and the rotation's; the user IAM tokens are issued for by default."""
        self.secret_rotation = secret_rotation
        """How often the passwords are rotated."""
        self.port = POSTGRES_PORT
        self.statement_timeout_ms = statement_timeout_ms
        self._migrations: dict[Path, McpSchemaMigrations] = {}
        self._users: dict[str, McpDatabaseUser] = {}

        self.encryption_key = kms.Key(
            self,
            "Key",
            description="Encrypts the MCP database storage, its secret, Performance Insights and its log groups",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY if removal_policy == RemovalPolicy.DESTROY else RemovalPolicy.RETAIN,
        )
        """The customer managed key of the storage, the snapshots, the secret and the log groups (rotated yearly)."""
        allow_cloudwatch_logs(self, self.encryption_key)


        self.network = define_network(
            self, vpc=vpc, nat_gateways=nat_gateways, database_subnets=database_subnets,
            application_subnets=application_subnets, secrets_manager_endpoint=secrets_manager_endpoint,
            log_retention=log_retention, encryption_key=self.encryption_key,
        )
        """Where the database and its clients run (``mcp_lambda_cdk.database_network``)."""
        self.vpc = self.network.vpc
        """The VPC."""
        self.database_subnets = self.network.database_subnets
        """The isolated tier of the instance and the proxy."""
        self.application_subnets = self.network.application_subnets
        """Where functions that use the database run."""
        self.secrets_manager_endpoint = self.network.secrets_manager_endpoint
        """The rotation function's way to Secrets Manager (None for a given VPC)."""
        self.application_egress = self.network.application_egress
        """Whether the application tier routes to the internet: a created VPC with NAT gateways, or a given
        VPC (whose application subnets default to its private subnets with egress)."""


        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=self.vpc, description="PostgreSQL instance", allow_all_outbound=False
        )
        """The instance's security group: only the proxy and the rotation function get in."""
        self.proxy_security_group = ec2.SecurityGroup(
            self, "ProxySecurityGroup", vpc=self.vpc, description="RDS Proxy for PostgreSQL", allow_all_outbound=False
        )
        """The proxy's security group: clients are allowed in with ``connections``."""

        engine = rds.DatabaseInstanceEngine.postgres(version=engine_version)
        self.parameter_group = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="MCP PostgreSQL: statement timeouts and TLS only",
            parameters={
                "statement_timeout": Tokenization.stringify_number(statement_timeout_ms),
                "idle_in_transaction_session_timeout": Tokenization.stringify_number(
                    idle_in_transaction_session_timeout_ms
                ),
                "rds.force_ssl": "1",
            },
        )
        """The instance parameters: ``statement_timeout``, ``idle_in_transaction_session_timeout``, TLS only."""

        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            instance_type=instance_type
            or ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON, ec2.InstanceSize.MICRO),
            vpc=self.vpc,
            vpc_subnets=self.database_subnets,
            security_groups=[self.security_group],
            publicly_accessible=False,
            multi_az=multi_az,
            database_name=database_name,
            credentials=rds.Credentials.from_generated_secret(username, encryption_key=self.encryption_key),
            parameter_group=self.parameter_group,
            storage_type=rds.StorageType.GP3,
            allocated_storage=allocated_storage,
            max_allocated_storage=max_allocated_storage,
            storage_encrypted=True,
            storage_encryption_key=self.encryption_key,
            # The proxy signs clients in with IAM; on the instance too, so no password is ever needed there.
            iam_authentication=True,
            ca_certificate=rds.CaCertificate.RDS_CA_RSA2048_G1,
            backup_retention=backup_retention,
            preferred_backup_window=preferred_backup_window,
            preferred_maintenance_window=preferred_maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=log_retention,
            enable_performance_insights=performance_insights,
            performance_insight_encryption_key=self.encryption_key if performance_insights else None,
            performance_insight_retention=(rds.PerformanceInsightRetention.DEFAULT if performance_insights else None),
        )
        """The PostgreSQL instance."""

        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "only the proxy's security group reaches the instance, in isolated subnets; a non-default port "
            "would hide nothing from a client that is already inside (and the proxy listens on 5432 anyway)",
        )
        # The instance's log export retention runs through CDK's stack-wide LogRetention function.
        log_retention_function = Stack.of(self).node.try_find_child(_LOG_RETENTION_SINGLETON)
        if log_retention_function is not None:
            acknowledge(
                log_retention_function,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "aws-cdk-lib's LogRetention custom resource (the retention of the exported postgresql log)",
            )
            acknowledge(
                log_retention_function,
                "AwsSolutions-IAM5[Resource::*]",
                "aws-cdk-lib's LogRetention custom resource sets retention on log groups RDS creates later, by name",
            )

        secret = self.instance.secret
        assert secret is not None  # from_generated_secret always creates one
        self.secret = secret
        """The generated master credentials (``username``, ``password``, ``host``, ...), KMS-encrypted."""

        self.rotation_security_group = ec2.SecurityGroup(
            self, "RotationSecurityGroup", vpc=self.vpc, description="Password rotation function",
            allow_all_outbound=False,
        )
        """The rotation function's security group: out to the instance, and to Secrets Manager over HTTPS."""
        self.rotation = self.instance.add_rotation_single_user(
            automatically_after=secret_rotation,
            vpc_subnets=self.application_subnets,
            endpoint=self.secrets_manager_endpoint,
            security_group=self.rotation_security_group,
        )
        """Single-user rotation of the master password (the AWS Serverless Application Repository function)."""
        self.allow_secrets_manager(self.rotation_security_group, "rotating passwords")
        self.rotation_function: lambda_.IFunction = self.rotation.node.find_child("RotationLambda")  # type: ignore[assignment]
        """The single-user rotation function; it rotates the servers' own secrets too (its policy lets it rotate
        any secret that names it, and decrypt with ``encryption_key``)."""

        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_instance(self.instance),
            secrets=[self.secret],
            vpc=self.vpc,
            vpc_subnets=self.database_subnets,
            security_groups=[self.proxy_security_group],
            require_tls=True,
            iam_auth=True,
            debug_logging=False,
        )
        """The RDS Proxy the services connect to: TLS and an IAM token required."""
        self._proxy_secrets: list[secretsmanager.ISecret] = [self.secret]  # the Auth list, in order
        # Tags applied to the stack or app (``Tags.of(app).add``) reach the proxy's target group, which the
        # CloudFormation schema allows (``AWS::RDS::DBProxyTargetGroup`` is taggable; cfn-lint 1.58 agrees),
        # but the schema bundled with this aws-cdk-lib's synth-time validator predates that and reports
        # F3002 "'Tags' was unexpected", failing the synth. Acknowledged on that one resource, for that rule.
        Validations.of(self.proxy.node.find_child("ProxyTargetGroup")).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::F3002",
                reason="AWS::RDS::DBProxyTargetGroup accepts Tags; the validator's bundled schema predates them",
            )
        )

        # Binding the proxy to the instance already opens the instance's port to the proxy's security group
        # (the ``IndirectPort`` rules); a second, literal-port rule would be a duplicate EC2 rejects. The
        # proxy's own ``connections`` has no default port in this aws-cdk-lib, hence a Connections object
        # over the proxy's security group with 5432 spelled out.
        self._connections = ec2.Connections(
            security_groups=[self.proxy_security_group], default_port=ec2.Port.tcp(POSTGRES_PORT)
        )

        self.write_iops_alarm = cloudwatch.AnomalyDetectionAlarm(
            self,
            "WriteIopsAnomaly",
            metric=self.metric_write_iops(),
            std_devs=write_iops_anomaly_std_devs,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                "PostgreSQL WriteIOPS above its anomaly band (a spike well over its usual level, "
                "the guide's '>200% of baseline') in 2 of the last 3 five-minute periods"
            ),
        )
        """WriteIOPS above the upper edge of its anomaly-detection band.

        The guide asks to alert on a write spike over 200 % of the baseline. CloudWatch anomaly detection
        learns the baseline (with its daily and weekly pattern) and draws the band in standard deviations
        of that model, not in percent, so the two can only be matched for a typical spread: the upper edge
        ``baseline + k * sigma`` reaches twice the baseline when ``sigma = baseline / k``. With ``k = 3``
        that is a workload whose five-minute WriteIOPS varies by about a third around its pattern, which is
        common for a small OLTP database; a steadier workload gets a tighter band (it is then alerted
        earlier, as it should), a noisier one a wider band (fewer false alarms). The CloudWatch default of
        2 would flag about one normal datapoint in twenty for Gaussian noise; 3 flags about one in 370, and
        requiring 2 of 3 periods keeps single checkpoint bursts (WAL flushes, autovacuum) from paging.
        Only the upper edge alarms: a drop in writes is not an incident for this database. The model needs
        about two weeks of data before the band is meaningful.
        """

    @classmethod
    def from_options(cls, scope: Construct, id: str, options: McpDatabaseOptions | None = None) -> McpDatabase:
        """An ``McpDatabase`` with the props ``options`` holds. Default: the production defaults."""
        options = options or McpDatabaseOptions()
        return cls(scope, id, **{f.name: getattr(options, f.name) for f in fields(options)})

    # -- clients ---------------------------------------------------------------------------------------

    @property
    def connections(self) -> ec2.Connections:
        """The proxy's security group with port 5432: ``db.connections.allow_default_port_from(client)``."""
        return self._connections

    def grant_connect(self, grantee: iam.IGrantable, db_user: str | None = None) -> iam.Grant:
        """Let ``grantee`` sign in to the proxy as ``db_user`` with an IAM token (``rds-db:connect``).

        Default ``db_user``: the master user ``username``.
        """
        return self.proxy.grant_connect(grantee, db_user or self.username)

    def add_user(
        self, username: str, grants: Sequence[TableGrant], *, migrations: Sequence[McpSchemaMigrations]
    ) -> McpDatabaseUser:
        """A user of its own for a server, with exactly ``grants``, made by the last of ``migrations`` after all
        of them; see ``McpDatabaseUser``. One per name: adding it again with the same grants returns the first.

        :param username: the role (``ServerSpec.database_user``).
        :param grants: what it may do to which tables (``ServerSpec.table_grants``).
        :param migrations: the migrations creating those tables (``McpLambdaService.migrations``).
        """
        existing = self._users.get(username)
        if existing is not None:
            if existing.grants != tuple(grants):
                raise ValueError(f"the database user {username} is already declared with other grants")
            return existing
        self._users[username] = McpDatabaseUser(
            self, f"User-{username}", database=self, username=username, grants=grants, migrations=migrations
        )
        return self._users[username]

    def add_proxy_secret(self, secret: secretsmanager.ISecret) -> None:
        """Let the proxy sign in to PostgreSQL as the user of ``secret`` (one more ``Auth`` entry, IAM
        authentication required of clients, as for the master), and read and decrypt that secret."""
        resource: rds.CfnDBProxy = self.proxy.node.default_child  # type: ignore[assignment]
        resource.add_property_override(
            f"Auth.{len(self._proxy_secrets)}",
            {"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED", "SecretArn": secret.secret_arn},
        )
        self._proxy_secrets.append(secret)
        role: iam.Role = self.proxy.node.find_child("IAMRole")  # type: ignore[assignment]
        secret.grant_read(role)
        if secret.encryption_key is not None:
            secret.encryption_key.grant_decrypt(role)

    def allow_secrets_manager(self, client: ec2.IConnectable, reason: str) -> None:
        """Let ``client`` reach Secrets Manager over HTTPS: the interface endpoint, or (a given VPC without one)
        anywhere, through the VPC's own route to it."""
        description = f"HTTPS to Secrets Manager: {reason}"
        if self.secrets_manager_endpoint is not None:
            self.secrets_manager_endpoint.connections.allow_default_port_from(client, description)
        else:
            client.connections.allow_to_any_ipv4(ec2.Port.tcp(443), description)

    def grant_secret_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the master credentials (and decrypt them with the key)."""
        return self.secret.grant_read(grantee)

    def client_environment(self, *, db_user: str | None = None) -> dict[str, str]:
        """The variables ``mcp_lambda.database`` reads to reach this database through the proxy, signing in
        with an IAM token (the proxy requires one: the secret's password would be refused)."""
        return {
            c.MCP_DB_HOST: self.proxy.endpoint,
            c.MCP_DB_PORT: str(POSTGRES_PORT),
            c.MCP_DB_NAME: self.database_name,
            c.MCP_DB_USER: db_user or self.username,
            c.MCP_DB_IAM_AUTH: "true",
            c.MCP_DB_STATEMENT_TIMEOUT_MS: Tokenization.stringify_number(self.statement_timeout_ms),
        }

    def connect_function(self, function: lambda_.Function, *, db_user: str | None = None) -> None:
        """Wire a VPC-bound function to the proxy: environment, ``rds-db:connect`` and port 5432.

        :param db_user: the database user of the IAM token. Default: ``username``.
        """
        if not function.is_bound_to_vpc:
            raise ValueError(
                f"{function.node.path} is not in a VPC; give it vpc=database.vpc and "
                "vpc_subnets=database.application_subnets to reach the proxy"
            )
        for key, value in self.client_environment(db_user=db_user).items():
            function.add_environment(key, value)
        self.grant_connect(function, db_user)
        self.connections.allow_default_port_from(function, "PostgreSQL clients to RDS Proxy")

    def connect_service(self, service: _VpcFunctionHolder, *, db_user: str | None = None) -> None:
        """Wire an ``McpLambdaService`` (created with ``vpc=database.vpc``) to the database.

        Sets ``MCP_DB_HOST`` (the proxy endpoint), ``MCP_DB_PORT``, ``MCP_DB_NAME``, ``MCP_DB_USER``,
        ``MCP_DB_IAM_AUTH=true`` and ``MCP_DB_STATEMENT_TIMEOUT_MS``, grants ``rds-db:connect`` on the
        proxy and lets the service's security groups in on port 5432. See ``connect_function``.
        """
        self.connect_function(service.function, db_user=db_user)

    @property
    def task_endpoints(self) -> tuple[ec2.GatewayVpcEndpoint, ec2.InterfaceVpcEndpoint] | None:
        """The DynamoDB and Lambda endpoints of ``add_task_endpoints``, or None before its first call."""
        return self.network.task_endpoints

    def add_task_endpoints(self, service: ec2.IConnectable) -> tuple[ec2.GatewayVpcEndpoint, ec2.InterfaceVpcEndpoint]:
        """The VPC endpoints a service with tasks needs in an application tier without egress, defined once
        and opened to ``service`` (see ``DatabaseNetwork.task_endpoints_for``)."""
        return self.network.task_endpoints_for(self, service)

    def add_lambda_endpoint(self, service: ec2.IConnectable, reason: str) -> ec2.InterfaceVpcEndpoint:
        """The Lambda endpoint a service that invokes functions (its placed tools') needs in an application tier
        without egress, defined once and opened to ``service`` (see ``DatabaseNetwork.lambda_endpoint_for``)."""
        return self.network.lambda_endpoint_for(self, service, reason)

    def add_xray_endpoint(self, service: ec2.IConnectable) -> ec2.InterfaceVpcEndpoint:
        """The X-Ray endpoint a traced service needs in an application tier without egress, defined once and
        opened to ``service`` (see ``DatabaseNetwork.xray_endpoint_for``)."""
        return self.network.xray_endpoint_for(self, service)

    # -- migrations ------------------------------------------------------------------------------------

    def add_migrations(
        self,
        directory: Path | str,
        *,
        service: str | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_13,
        timeout: Duration | None = None,
    ) -> McpSchemaMigrations:
        """Apply ``directory/*.sql`` (a server's ``migrations/``) to this database at deploy time; see
        ``McpSchemaMigrations``. One per directory: adding the same directory again returns the first.

        :param directory: the folder of numbered ``*.sql`` files.
        :param service: the name of the schema's owner, naming the resources. Default: the name of the
            server folder holding ``directory`` (``messaging`` for ``servers/messaging/migrations``).
        :param architecture: the function's CPU. Default: ``Architecture.ARM_64``.
        :param runtime: the Python runtime. Default: ``Runtime.PYTHON_3_13``.
        :param timeout: the migration function's timeout. Default: 5 minutes.
        :returns: the migrations; make what needs the schema depend on them.
        """
        directory = Path(directory).resolve()
        if directory not in self._migrations:
            name = service or schema_owner(directory)
            self._migrations[directory] = McpSchemaMigrations(
                self, f"Migrations-{name}", database=self, directory=directory, service=name,
                architecture=architecture, runtime=runtime, timeout=timeout,
            )
        return self._migrations[directory]

    # -- metrics ------------------------------------------------------------------------

    def metric_cpu_utilization(self, **options: Any) -> cloudwatch.Metric:
        """The instance's CPU in percent; takes ``cloudwatch.MetricOptions``. Default: average over 5 minutes."""
        return self.instance.metric_cpu_utilization(**options)

    def metric_free_storage_space(self, **options: Any) -> cloudwatch.Metric:
        """Free storage in bytes; takes ``cloudwatch.MetricOptions``. Default: average over 5 minutes."""
        return self.instance.metric_free_storage_space(**options)

    def metric_database_connections(self, **options: Any) -> cloudwatch.Metric:
        """Server connections (the proxy's pool plus the rotation); default: average over 5 minutes."""
        return self.instance.metric_database_connections(**options)

    def metric_write_iops(self, **options: Any) -> cloudwatch.Metric:
        """Write operations per second on the instance's storage; default: average over 5 minutes."""
        return self.instance.metric_write_iops(**options)

    def metric_proxy_client_connections(self, **options: Any) -> cloudwatch.Metric:
        """Client connections to the proxy (one per warm Lambda environment); default: sum over 1 minute.

        RDS reports this every minute; the sum is the statistic AWS recommends.
        """
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name="ClientConnections",
            dimensions_map={"ProxyName": self.proxy.db_proxy_name},
            **{"statistic": cloudwatch.Stats.SUM, "period": Duration.minutes(1), **options},
        )
