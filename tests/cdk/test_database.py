"""McpDatabase: props validated early (tokens excepted), the network it creates or joins, client wiring,
migrations and metrics. What the messaging stack relies on is asserted in test_messaging_stack.py."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk.assertions import Match, Template

from mcp_lambda.spec import ServerSpec, TableGrant
from mcp_lambda_cdk.database import McpDatabase, McpDatabaseOptions
from mcp_lambda_cdk.migrations import migration_files_hash
from mcp_lambda_cdk.monitoring import database_widgets
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.oidc_auth import McpOidcAuth, McpOidcAuthOptions
from tests.cdk.conftest import spec


@pytest.fixture
def stack(make_app) -> cdk.Stack:
    return cdk.Stack(make_app(), "TestStack")


@pytest.fixture
def notes_migrations(servers_tree: Path) -> Path:
    """The minimal ``servers/`` tree plus a ``notes`` server with one migration; its migrations folder."""
    (servers_tree / "notes" / "migrations").mkdir(parents=True)
    (servers_tree / "notes" / "server.py").write_text("def handler(event, context):\n    return {}\n")
    (servers_tree / "notes" / "migrations" / "001_notes.sql").write_text("CREATE TABLE notes (id bigint);\n")
    return servers_tree / "notes" / "migrations"


def database(stack: cdk.Stack, **props: Any) -> McpDatabase:
    return McpDatabase(stack, "Database", **props)


@pytest.mark.parametrize(
    "props",
    [
        {"allocated_storage": 19},
        {"allocated_storage": 20.5},
        {"allocated_storage": 70000},
        {"allocated_storage": 100, "max_allocated_storage": 100},
        {"max_allocated_storage": 70000},
        {"backup_retention": cdk.Duration.days(0)},
        {"backup_retention": cdk.Duration.days(36)},
        {"backup_retention": cdk.Duration.hours(36)},
        {"preferred_backup_window": "3:00-3:30"},
        {"preferred_backup_window": "03:00-03:10"},
        {"preferred_maintenance_window": "Sun:04:00-Sun:04:30"},
        {"statement_timeout_ms": -1},
        {"statement_timeout_ms": 1.5},
        {"idle_in_transaction_session_timeout_ms": 2**31},
        {"username": "1admin"},
        {"username": "mcp-admin"},
        {"username": "rdsadmin"},
        {"database_name": "my db"},
        {"engine_version": rds.PostgresEngineVersion.VER_17},
        {"write_iops_anomaly_std_devs": 0},
        {"nat_gateways": 3},
        {"database_subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)},
    ],
    ids=lambda props: "-".join(f"{k}={v}" for k, v in props.items()),
)
def test_rejects_impossible_props(stack: cdk.Stack, props: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        database(stack, **props)


def test_accepts_tokens_and_leaves_them_to_cloudformation(stack: cdk.Stack) -> None:
    # Given props that are only known at deploy time
    storage = cdk.CfnParameter(stack, "Storage", type="Number", default=50).value_as_number
    timeout = cdk.CfnParameter(stack, "Timeout", type="Number", default=3000).value_as_number
    name = cdk.CfnParameter(stack, "Name", default="mcp").value_as_string

    # When the database is built from them
    db = database(stack, allocated_storage=storage, statement_timeout_ms=timeout, database_name=name)
    client = lambda_.Function(
        stack,
        "Client",
        code=lambda_.Code.from_inline("x = 1"),
        handler="index.handler",
        runtime=lambda_.Runtime.PYTHON_3_13,
        vpc=db.vpc,
        vpc_subnets=db.application_subnets,
    )
    db.connect_function(client)

    # Then they reach the template as references
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::RDS::DBInstance", {"AllocatedStorage": {"Ref": "Storage"}, "DBName": {"Ref": "Name"}}
    )
    template.has_resource_properties(
        "AWS::RDS::DBParameterGroup", {"Parameters": Match.object_like({"statement_timeout": {"Ref": "Timeout"}})}
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"MCP_DB_STATEMENT_TIMEOUT_MS": {"Ref": "Timeout"}})}},
    )


def test_joins_a_given_vpc_without_creating_network_resources(stack: cdk.Stack) -> None:
    # Given a VPC with public, private-with-egress and isolated subnets
    vpc = ec2.Vpc(
        stack,
        "Existing",
        max_azs=2,
        nat_gateways=1,
        subnet_configuration=[
            ec2.SubnetConfiguration(name=name, subnet_type=subnet_type)
            for name, subnet_type in (
                ("Public", ec2.SubnetType.PUBLIC),
                ("Private", ec2.SubnetType.PRIVATE_WITH_EGRESS),
                ("Isolated", ec2.SubnetType.PRIVATE_ISOLATED),
            )
        ],
    )

    # When the database is placed in it
    db = database(stack, vpc=vpc)

    # Then it creates no VPC, flow log or endpoint; the instance and the proxy use the isolated subnets,
    # the rotation function the private ones (which reach Secrets Manager through the NAT gateway)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    template.resource_count_is("AWS::EC2::FlowLog", 0)
    isolated = [{"Ref": stack.get_logical_id(s.node.default_child)} for s in vpc.isolated_subnets]
    private = [{"Ref": stack.get_logical_id(s.node.default_child)} for s in vpc.private_subnets]
    template.has_resource_properties("AWS::RDS::DBSubnetGroup", {"SubnetIds": isolated})
    template.has_resource_properties("AWS::RDS::DBProxy", {"VpcSubnetIds": isolated})
    template.has_resource_properties(
        "AWS::Serverless::Application",
        {"Parameters": Match.object_like({"vpcSubnetIds": {"Fn::Join": ["", [private[0], ",", private[1]]]}})},
    )
    assert db.secrets_manager_endpoint is None


def test_nat_gateways_give_the_application_tier_egress(stack: cdk.Stack) -> None:
    db = database(stack, nat_gateways=1)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    # The application tier is now the VPC's private-with-egress subnets; the database tier stays isolated.
    assert db.application_subnets.subnet_group_name == "Application"
    assert [s.node.id for s in db.vpc.private_subnets] == ["ApplicationSubnet1", "ApplicationSubnet2"]
    assert [s.node.id for s in db.vpc.isolated_subnets] == ["DatabaseSubnet1", "DatabaseSubnet2"]


def test_connect_service_refuses_a_service_outside_any_vpc(stack: cdk.Stack) -> None:
    db = database(stack)
    service = McpLambdaService(stack, "Service", server=spec("weather"), code=lambda_.Code.from_inline("x = 1"))
    with pytest.raises(ValueError, match="not in a VPC"):
        db.connect_service(service)


def test_a_service_signs_in_as_its_own_user_with_an_iam_token_never_the_secret(stack: cdk.Stack) -> None:
    # Given a service in the database's VPC
    db = database(stack)
    service = McpLambdaService(
        stack,
        "Service",
        server=spec("weather"),
        code=lambda_.Code.from_inline("x = 1"),
        vpc=db.vpc,
        vpc_subnets=db.application_subnets,
        request_state_secret=False,  # its own secret's grant would merge into the statement asserted below
    )

    # When it is connected with a user of its own
    db.connect_service(service, db_user="weather_app")

    # Then its role may sign in as that user, and neither reads the secret nor knows its ARN (the proxy
    # requires IAM authentication, so the password would be refused anyway)
    role = {"Ref": stack.get_logical_id(service.function.role.node.default_child)}
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [role],
            "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
                "Action": "rds-db:connect", "Resource": {"Fn::Join": ["", Match.array_with(["/weather_app"])]},
            })])},
        },
    )
    assert stack.get_logical_id(db.secret.node.default_child) not in json.dumps(
        [p for p in template.find_resources("AWS::IAM::Policy").values() if role in p["Properties"]["Roles"]])
    variables = template.find_resources("AWS::Lambda::Function")[
        stack.get_logical_id(service.function.node.default_child)]["Properties"]["Environment"]["Variables"]
    assert variables["MCP_DB_USER"] == "weather_app" and variables["MCP_DB_IAM_AUTH"] == "true"
    assert "MCP_DB_SECRET_ARN" not in variables


def test_is_connectable_with_the_proxy_port(stack: cdk.Stack) -> None:
    # Given the database and a security group of some client
    db = database(stack)
    client = ec2.SecurityGroup(stack, "Client", vpc=db.vpc)

    # When the client is allowed to the database's default port
    client.connections.allow_to_default_port(db)

    # Then the proxy's security group lets it in on 5432
    proxy_sg = {"Fn::GetAtt": [stack.get_logical_id(db.proxy_security_group.node.default_child), "GroupId"]}
    client_sg = {"Fn::GetAtt": [stack.get_logical_id(client.node.default_child), "GroupId"]}
    Template.from_stack(stack).has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {"GroupId": proxy_sg, "SourceSecurityGroupId": client_sg, "FromPort": 5432, "ToPort": 5432},
    )


def test_migrations_hash_covers_names_and_contents(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    first = migration_files_hash(directory)
    assert migration_files_hash(directory) == first
    (directory / "001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
    second = migration_files_hash(directory)
    (directory / "002_b.sql").write_text("CREATE TABLE b (id int);\n")
    third = migration_files_hash(directory)
    (directory / "002_b.sql").rename(directory / "003_b.sql")
    assert len({first, second, third, migration_files_hash(directory)}) == 4


def test_migrations_need_sql_files(stack: cdk.Stack, servers_tree: Path) -> None:
    db = database(stack)
    with pytest.raises(FileNotFoundError, match="migrations"):
        db.add_migrations(servers_tree / "weather" / "migrations", service="weather")


def test_migrations_run_from_their_own_bundle_with_a_hash_of_the_sql(
    stack: cdk.Stack, notes_migrations: Path
) -> None:
    # Given a server folder with a migrations folder
    db = database(stack)

    # When its migrations are added
    db.add_migrations(notes_migrations, service="notes")

    # Then a custom resource carries the hash of the SQL files, and its handler runs the runtime's migrator
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::McpSchemaMigrations",
        {"Service": "notes", "MigrationsHash": migration_files_hash(notes_migrations)},
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "mcp_lambda.migrations.handler",
            "Environment": {"Variables": Match.object_like({"MCP_MIGRATIONS_DIR": "migrations"})},
            "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
        },
    )


def test_metrics_name_the_instance_and_the_proxy(stack: cdk.Stack) -> None:
    db = database(stack)
    instance = {"Ref": stack.get_logical_id(db.instance.node.default_child)}
    for metric, name in (
        (db.metric_cpu_utilization(), "CPUUtilization"),
        (db.metric_free_storage_space(), "FreeStorageSpace"),
        (db.metric_database_connections(), "DatabaseConnections"),
        (db.metric_write_iops(), "WriteIOPS"),
    ):
        assert (metric.namespace, metric.metric_name) == ("AWS/RDS", name)
        assert stack.resolve(metric.dimensions) == {"DBInstanceIdentifier": instance}
    clients = db.metric_proxy_client_connections()
    assert (clients.metric_name, clients.statistic, clients.period.to_seconds()) == ("ClientConnections", "Sum", 60)
    assert stack.resolve(clients.dimensions) == {
        "ProxyName": {"Ref": stack.get_logical_id(db.proxy.node.default_child)}
    }
    assert db.metric_write_iops(statistic="Maximum").statistic == "Maximum"
    assert len(database_widgets(db)) == 4


def test_performance_insights_are_encrypted_with_the_key(stack: cdk.Stack) -> None:
    db = database(stack, performance_insights=True)
    key = {"Fn::GetAtt": [stack.get_logical_id(db.encryption_key.node.default_child), "Arn"]}
    Template.from_stack(stack).has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "EnablePerformanceInsights": True,
            "PerformanceInsightsKMSKeyId": key,
            "PerformanceInsightsRetentionPeriod": 7,
        },
    )


def test_destroy_policy_also_lets_the_key_go(stack: cdk.Stack) -> None:
    database(stack, removal_policy=cdk.RemovalPolicy.DESTROY, deletion_protection=False)
    template = Template.from_stack(stack)
    template.has_resource("AWS::RDS::DBInstance", {"DeletionPolicy": "Delete"})
    template.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete"})


def test_the_development_profile_is_single_az_and_leaves_nothing_behind(stack: cdk.Stack) -> None:
    database(stack, development=True)
    template = Template.from_stack(stack)
    template.has_resource("AWS::RDS::DBInstance", {
        "DeletionPolicy": "Delete",
        "Properties": Match.object_like({"MultiAZ": False, "DeletionProtection": False, "BackupRetentionPeriod": 1,
                                         "DBInstanceClass": "db.t4g.micro"}),
    })
    template.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete"})
    template.resource_count_is("AWS::RDS::DBProxy", 1)  # each server still signs in as its own user with IAM


def test_explicit_props_win_over_the_development_profile(stack: cdk.Stack) -> None:
    database(stack, development=True, multi_az=True, removal_policy=cdk.RemovalPolicy.SNAPSHOT,
             deletion_protection=True)
    template = Template.from_stack(stack)
    template.has_resource("AWS::RDS::DBInstance", {
        "DeletionPolicy": "Snapshot",
        "Properties": Match.object_like({"MultiAZ": True, "DeletionProtection": True, "BackupRetentionPeriod": 1}),
    })


# -- the service's database prop ---------------------------------------------------------------------------------


def test_a_service_given_a_database_wires_itself(stack: cdk.Stack, notes_migrations: Path) -> None:
    # Given a database and a server declared with it, whose folder has migrations
    db = database(stack)
    notes = ServerSpec("notes", notes_migrations.parent, database=True)

    # When the service is defined with database=
    service = McpLambdaService(stack, "Notes", server=notes, database=db)

    # Then it runs in the application subnets, knows the proxy, may connect, and is let through on 5432
    template = Template.from_stack(stack)
    function = template.find_resources("AWS::Lambda::Function")[stack.get_logical_id(service.function.node.default_child)]
    application = [{"Ref": stack.get_logical_id(s.node.default_child)} for s in db.vpc.isolated_subnets
                   if s.node.id.startswith("Application")]
    assert function["Properties"]["VpcConfig"]["SubnetIds"] == application
    assert function["Properties"]["Environment"]["Variables"]["MCP_DB_IAM_AUTH"] == "true"
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {
        "FromPort": 5432,
        "GroupId": {"Fn::GetAtt": [stack.get_logical_id(db.proxy_security_group.node.default_child), "GroupId"]},
        "SourceSecurityGroupId": {"Fn::GetAtt": [
            stack.get_logical_id(service.connections.security_groups[0].node.default_child), "GroupId"]},
    })
    # And its migrations are the database's, applied before the alias moves
    (migrations,) = service.migrations
    assert migrations is db.add_migrations(notes_migrations)
    alias = template.find_resources("AWS::Lambda::Alias")[stack.get_logical_id(service.alias.node.default_child)]
    assert stack.get_logical_id(migrations.resource.node.default_child) in alias["DependsOn"]
    # And the dashboard has the database's row
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert "PostgreSQL CPU" in json.dumps(dashboard)


def test_two_services_sharing_migrations_apply_them_once(stack: cdk.Stack, notes_migrations: Path) -> None:
    db = database(stack)
    for name in ("notes", "notes-admin"):
        McpLambdaService(stack, name, server=ServerSpec(name, notes_migrations.parent, database=True), database=db,
                         code=lambda_.Code.from_inline("x = 1"))
    Template.from_stack(stack).resource_count_is("Custom::McpSchemaMigrations", 1)


def test_services_on_one_database_each_connect_as_their_own_user(stack: cdk.Stack, notes_migrations: Path) -> None:
    db = database(stack)
    services = {
        name: McpLambdaService(stack, name, database=db, code=lambda_.Code.from_inline("x = 1"), server=ServerSpec(
            name, notes_migrations.parent, database=True, grants=grants))
        for name, grants in (("notes", {"notes": ("SELECT", "INSERT", "UPDATE")}), ("notes-reader", {"notes": "SELECT"}))
    }
    template = Template.from_stack(stack)
    users = {r["Properties"]["User"]: r["Properties"]["Grants"]
             for r in template.find_resources("Custom::McpDatabaseUser").values()}
    assert users == {"mcp_notes": {"notes": ["SELECT", "INSERT", "UPDATE"]}, "mcp_notes_reader": {"notes": ["SELECT"]}}
    # Each function may sign in as its own user only; the proxy knows the master's secret and one per user.
    for name, service in services.items():
        (policy,) = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [
            {"Ref": stack.get_logical_id(service.role.node.default_child)}]}}).values()
        users_connected = [s["Resource"]["Fn::Join"][1][-1] for s in policy["Properties"]["PolicyDocument"]["Statement"]
                           if s["Action"] == "rds-db:connect"]
        assert users_connected == [f"/{service.server.database_user}"]
    (proxy,) = template.find_resources("AWS::RDS::DBProxy").values()
    assert [entry["SecretArn"] for entry in proxy["Properties"]["Auth"]] == [
        {"Ref": stack.get_logical_id(secret.node.default_child)}
        for secret in (db.secret, services["notes"].database_user.secret, services["notes-reader"].database_user.secret)]
    assert {entry["IAMAuth"] for entry in proxy["Properties"]["Auth"]} == {"REQUIRED"}


def test_a_user_is_one_declaration(stack: cdk.Stack, notes_migrations: Path) -> None:
    db = database(stack)
    migrations = [db.add_migrations(notes_migrations)]
    first = db.add_user("mcp_notes", (TableGrant("notes", ("SELECT",)),), migrations=migrations)
    assert db.add_user("mcp_notes", (TableGrant("notes", ("SELECT",)),), migrations=migrations) is first
    with pytest.raises(ValueError, match="other grants"):
        db.add_user("mcp_notes", (TableGrant("notes", ("INSERT",)),), migrations=migrations)


def test_grants_need_the_migrations_that_create_the_tables(stack: cdk.Stack, tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text("handler = None\n")
    with pytest.raises(ValueError, match="no migrations"):
        McpLambdaService(stack, "Bare", database=database(stack), code=lambda_.Code.from_inline("x = 1"),
                         server=ServerSpec("bare", tmp_path, database=True, grants={"notes": ["SELECT"]}))


def test_a_task_service_in_an_isolated_tier_gets_the_endpoints_tasks_need(stack: cdk.Stack) -> None:
    db = database(stack)
    reports = McpLambdaService(stack, "Reports", server=spec("reports", database=True, tasks=True), database=db)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 3)  # Secrets Manager (rotation), DynamoDB, Lambda
    assert reports.tasks is not None  # declared tasks=True: the default TasksOptions
    assert db.task_endpoints is not None and not db.application_egress
    # With egress (a NAT gateway) there is nothing to add
    egress = McpDatabase(stack, "Egress", nat_gateways=1)
    McpLambdaService(stack, "Other", server=spec("reports", database=True, tasks=True), database=egress)
    assert egress.application_egress and egress.task_endpoints is None


@pytest.mark.parametrize(
    "declared, message",
    [({"database": True}, "database=McpDatabase"), ({"sign_in": True}, "auth=McpOidcAuth")],
    ids=["database", "sign-in"],
)
def test_what_the_server_declares_it_needs_must_be_given(stack: cdk.Stack, declared, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        McpLambdaService(stack, "Notes", server=spec("messaging", **declared))


@pytest.mark.parametrize("construct, options", [(McpDatabase, McpDatabaseOptions), (McpOidcAuth, McpOidcAuthOptions)])
def test_options_are_exactly_the_constructs_props(construct, options) -> None:
    """One definition of the props: the options value mirrors the constructor, name for name and default for
    default (a prop added to one and not the other fails here)."""
    parameters = {name: p.default for name, p in inspect.signature(construct.__init__).parameters.items()
                  if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert {f.name: f.default for f in dataclasses.fields(options)} == parameters
