"""The messaging stack (Case 2): what must hold for a write-capable server on PostgreSQL, and one snapshot."""

from __future__ import annotations

import dataclasses
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from mcp_lambda_cdk import McpDatabaseOptions, McpServerStack
from mcp_lambda_cdk.migrations import migration_files_hash
from mcp_servers import MESSAGING
from tests.cdk.conftest import REPO_ROOT, without_migrations_hash


@pytest.fixture(scope="module")
def stack(make_app) -> McpServerStack:
    # Given the app as cdk.json configures it, when the messaging stack is synthesized
    return McpServerStack(make_app(), "McpMessagingStack", server=MESSAGING)


@pytest.fixture(scope="module")
def template(stack: McpServerStack) -> Template:
    return Template.from_stack(stack)


def ref(stack: cdk.Stack, construct: Any) -> dict[str, str]:
    return {"Ref": stack.get_logical_id(construct.node.default_child)}


def group_id(stack: cdk.Stack, security_group: Any) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [stack.get_logical_id(security_group.node.default_child), "GroupId"]}


def test_template_matches_snapshot(template: Template, snapshot_json) -> None:
    # Then everything not asserted below is as reviewed in the snapshot. The migrations hash is asserted
    # on its own (below), so that adding a migration does not churn the snapshot.
    assert without_migrations_hash(template) == snapshot_json


def test_proxy_requires_tls_and_iam_auth_in_the_database_subnets(stack: McpServerStack, template: Template) -> None:
    db = stack.database
    template.resource_count_is("AWS::RDS::DBProxy", 1)
    template.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "EngineFamily": "POSTGRESQL",
            "RequireTLS": True,
            # The master's secret (the migrations sign in as it) and the messaging server's own user's.
            "Auth": [
                {"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED", "SecretArn": ref(stack, db.secret)},
                {"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED",
                 "SecretArn": ref(stack, stack.service.database_user.secret)},
            ],
            "VpcSubnetIds": [ref(stack, s) for s in db.vpc.isolated_subnets if s.node.id.startswith("Database")],
            "VpcSecurityGroupIds": [group_id(stack, db.proxy_security_group)],
        },
    )
    template.has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup", {"DBInstanceIdentifiers": [ref(stack, db.instance)]}
    )


def test_database_is_private_in_isolated_subnets(stack: McpServerStack, template: Template) -> None:
    db = stack.database
    database_subnets = [s for s in db.vpc.isolated_subnets if s.node.id.startswith("Database")]
    assert len(database_subnets) == 2
    template.has_resource_properties("AWS::RDS::DBInstance", {"PubliclyAccessible": False})
    template.has_resource_properties(
        "AWS::RDS::DBSubnetGroup", {"SubnetIds": [ref(stack, s) for s in database_subnets]}
    )
    # Isolated: the VPC has no internet gateway and no NAT, so no subnet has a route out.
    for resource_type in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::Route"):
        template.resource_count_is(resource_type, 0)
    for subnet in database_subnets:
        template.has_resource_properties(
            "AWS::EC2::Subnet",
            {
                "MapPublicIpOnLaunch": False,
                "Tags": Match.array_with([{"Key": "aws-cdk:subnet-type", "Value": "Isolated"}]),
                "CidrBlock": subnet.ipv4_cidr_block,
            },
        )


def test_instance_is_multi_az_gp3_with_storage_autoscaling_on_a_pinned_minor_version(template: Template) -> None:
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": Match.string_like_regexp(r"^17\.\d+$"),
            "DBInstanceClass": "db.t4g.micro",
            "MultiAZ": True,
            "StorageType": "gp3",
            "AllocatedStorage": "20",
            "MaxAllocatedStorage": 100,
            "BackupRetentionPeriod": 7,
            "PreferredBackupWindow": "03:00-03:30",
            "PreferredMaintenanceWindow": "sun:04:00-sun:04:30",
            "DeletionProtection": True,
            "EnableCloudwatchLogsExports": ["postgresql"],
            "MasterUsername": "mcp_admin",
            "DBName": "mcp",
        },
    )
    template.has_resource("AWS::RDS::DBInstance", {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"})


def test_storage_and_secret_are_encrypted_with_a_rotating_kms_key(stack: McpServerStack, template: Template) -> None:
    key = {"Fn::GetAtt": [stack.get_logical_id(stack.database.encryption_key.node.default_child), "Arn"]}
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Retain"})  # snapshots outlive the stack
    template.has_resource_properties("AWS::RDS::DBInstance", {"StorageEncrypted": True, "KmsKeyId": key})
    template.has_resource_properties("AWS::SecretsManager::Secret", {"KmsKeyId": key})


def test_parameter_group_sets_timeouts_and_requires_tls(stack: McpServerStack, template: Template) -> None:
    template.has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {
            "Family": "postgres17",
            "Parameters": {
                "statement_timeout": "5000",
                "idle_in_transaction_session_timeout": "60000",
                "rds.force_ssl": "1",
            },
        },
    )
    template.has_resource_properties(
        "AWS::RDS::DBInstance", {"DBParameterGroupName": ref(stack, stack.database.parameter_group)}
    )


def test_secret_rotates_through_the_secrets_manager_endpoint(stack: McpServerStack, template: Template) -> None:
    db = stack.database
    template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "SecretId": ref(stack, db.secret),
            "RotationRules": {"ScheduleExpression": "rate(30 days)"},
            "RotationLambdaARN": {
                "Fn::GetAtt": [Match.string_like_regexp("RotationSingleUser"), "Outputs.RotationLambdaARN"]
            },
        },
    )
    application = [ref(stack, s) for s in db.vpc.isolated_subnets if s.node.id.startswith("Application")]
    template.has_resource_properties(
        "AWS::Serverless::Application",
        {
            "Parameters": Match.object_like(
                {
                    "vpcSubnetIds": {"Fn::Join": ["", [application[0], ",", application[1]]]},
                    "endpoint": {
                        "Fn::Join": ["", Match.array_with(["https://", ref(stack, db.secrets_manager_endpoint)])]
                    },
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".secretsmanager"]]},
            "PrivateDnsEnabled": True,
            "SubnetIds": application,
        },
    )


def test_vpc_has_flow_logs(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )


def test_function_runs_in_the_application_subnets_with_the_database_environment(
    stack: McpServerStack, template: Template
) -> None:
    db, messaging = stack.database, stack.service
    application = [ref(stack, s) for s in db.vpc.isolated_subnets if s.node.id.startswith("Application")]
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "messaging.server.handler",
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "VpcConfig": {
                "SubnetIds": application,
                "SecurityGroupIds": [group_id(stack, messaging.connections.security_groups[0])],
            },
            "Environment": {
                "Variables": {
                    "POWERTOOLS_SERVICE_NAME": "messaging",
                    "POWERTOOLS_METRICS_NAMESPACE": "McpServers",
                    "MCP_DB_HOST": {"Fn::GetAtt": [stack.get_logical_id(db.proxy.node.default_child), "Endpoint"]},
                    "MCP_DB_PORT": "5432",
                    "MCP_DB_NAME": "mcp",
                    "MCP_DB_USER": "mcp_messaging",
                    "MCP_DB_IAM_AUTH": "true",
                    "MCP_DB_STATEMENT_TIMEOUT_MS": "5000",
                }
            },
        },
    )


def test_function_may_sign_in_to_the_proxy_but_not_read_the_password(
    stack: McpServerStack, template: Template
) -> None:
    role = ref(stack, stack.service.function.role)
    proxy_id = {
        "Fn::Select": [
            6,
            {
                "Fn::Split": [
                    ":",
                    {"Fn::GetAtt": [stack.get_logical_id(stack.database.proxy.node.default_child), "DBProxyArn"]},
                ]
            },
        ]
    }
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [role]}})
    (policy,) = policies.values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    # Nothing on the database's secrets (the master's, its own user's) or key: only its own log group, its own
    # requestState secret (whose key policy lets the role decrypt through Secrets Manager), and rds-db:connect as
    # its own user, never the master.
    for secret in (stack.database.secret, stack.service.database_user.secret):
        assert stack.get_logical_id(secret.node.default_child) not in str(statements)
    assert stack.get_logical_id(stack.database.encryption_key.node.default_child) not in str(statements)
    assert [s["Action"] for s in statements] == [
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "rds-db:connect",
    ]
    log_group_arn = {"Fn::GetAtt": [stack.get_logical_id(stack.service.log_group.node.default_child), "Arn"]}
    assert statements[0]["Resource"] == log_group_arn  # its own log group, not every log group of the account
    assert statements[1]["Resource"] == ref(stack, stack.service.request_state_secret)
    assert statements[2:] == [
        {
            "Action": "rds-db:connect",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":rds-db:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":dbuser:",
                        proxy_id,
                        "/mcp_messaging",
                    ],
                ]
            },
        }
    ]


def test_only_clients_reach_the_proxy_and_only_the_proxy_and_rotation_reach_the_instance(
    stack: McpServerStack, template: Template
) -> None:
    db = stack.database
    proxy_sg, instance_sg = group_id(stack, db.proxy_security_group), group_id(stack, db.security_group)
    to_proxy = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {"GroupId": proxy_sg}})
    assert {(r["Properties"]["FromPort"], r["Properties"]["ToPort"]) for r in to_proxy.values()} == {(5432, 5432)}
    sources = {r["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in to_proxy.values()}
    assert sources == {
        stack.get_logical_id(stack.service.connections.security_groups[0].node.default_child),
        stack.get_logical_id(
            db.node.find_child("Migrations-messaging")
            .node.find_child("Function")
            .connections.security_groups[0]
            .node.default_child
        ),
    }
    to_instance = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {"GroupId": instance_sg}})
    sources = {r["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in to_instance.values()}
    assert sources == {
        stack.get_logical_id(db.proxy_security_group.node.default_child),
        stack.get_logical_id(db.rotation_security_group.node.default_child),
    }
    # The instance's group has no inline rules other than CDK's "no traffic" egress placeholder.
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"GroupDescription": "PostgreSQL instance", "SecurityGroupIngress": Match.absent()},
    )


def test_migrations_run_at_deploy_time_and_again_when_the_sql_changes(
    stack: McpServerStack, template: Template
) -> None:
    expected_hash = migration_files_hash(REPO_ROOT / "servers" / "messaging" / "migrations")
    resources = template.find_resources(
        "Custom::McpSchemaMigrations", {"Properties": {"Service": "messaging", "MigrationsHash": expected_hash}}
    )
    assert len(resources) == 1
    (migrations_id,) = resources
    # After the proxy and its target exist, so that the handler can connect.
    depends_on = resources[migrations_id]["DependsOn"]
    for construct in (stack.database.proxy, stack.database.instance):
        assert stack.get_logical_id(construct.node.default_child) in depends_on
    assert stack.get_logical_id(stack.database.proxy.node.find_child("ProxyTargetGroup")) in depends_on
    # The handler is the runtime's migrator, in the VPC, migrating the messaging package.
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "mcp_lambda.migrations.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {"MCP_MIGRATIONS_DIR": "migrations", "MCP_DB_IAM_AUTH": "true"}
                )
            },
            "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
        },
    )
    # The live alias moves to new code only after its schema is in place.
    (alias,) = template.find_resources("AWS::Lambda::Alias").values()
    assert migrations_id in alias["DependsOn"]


def test_the_server_has_a_user_of_its_own_made_after_the_migrations_with_its_declared_grants(
    stack: McpServerStack, template: Template
) -> None:
    db, user = stack.database, stack.service.database_user
    (migrations_id,) = template.find_resources("Custom::McpSchemaMigrations")
    migrations = db.node.find_child("Migrations-messaging")
    # Made by the migration function (the master user), after the migrations, with exactly the declaration.
    resources = template.find_resources("Custom::McpDatabaseUser")
    assert list(resources) == [stack.get_logical_id(user.resource.node.default_child)]
    (resource,) = resources.values()
    assert resource["Properties"] == {
        "ServiceToken": {"Fn::GetAtt": [stack.get_logical_id(
            migrations.provider.node.find_child("framework-onEvent").node.default_child), "Arn"]},
        "User": "mcp_messaging",
        "Grants": {"messages": ["SELECT", "INSERT"]},
        "SecretArn": ref(stack, user.secret),
    }
    # After the migrations, and once the function may reach Secrets Manager for the password.
    endpoint_group = db.secrets_manager_endpoint.connections.security_groups[0]
    (to_endpoint,) = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {
        "GroupId": {"Fn::GetAtt": [stack.get_logical_id(endpoint_group.node.default_child), "GroupId"]},
        "SourceSecurityGroupId": {"Fn::GetAtt": [stack.get_logical_id(
            migrations.function.connections.security_groups[0].node.default_child), "GroupId"]}}})
    assert set(resource["DependsOn"]) >= {
        migrations_id, stack.get_logical_id(endpoint_group.node.default_child), to_endpoint}
    # Traffic moves once the user exists.
    (alias,) = template.find_resources("AWS::Lambda::Alias").values()
    assert stack.get_logical_id(user.resource.node.default_child) in alias["DependsOn"]
    # Its secret: a generated password under the database's key, for that user, with the instance's host.
    template.has_resource_properties("AWS::SecretsManager::Secret", {
        "KmsKeyId": {"Fn::GetAtt": [stack.get_logical_id(db.encryption_key.node.default_child), "Arn"]},
        "GenerateSecretString": Match.object_like({"SecretStringTemplate": '{"username":"mcp_messaging","dbname":"mcp"}',
                                                   "GenerateStringKey": "password"}),
    })
    template.has_resource_properties("AWS::SecretsManager::SecretTargetAttachment", {
        "SecretId": {"Ref": stack.get_logical_id(user.node.find_child("Secret").node.default_child)},
        "TargetId": ref(stack, db.instance), "TargetType": "AWS::RDS::DBInstance"})
    # Rotated like the master's, by the same function, once the user exists (the first rotation is at once).
    schedules = template.find_resources("AWS::SecretsManager::RotationSchedule",
                                        {"Properties": {"SecretId": ref(stack, user.secret)}})
    (schedule,) = schedules.values()
    (master_schedule,) = template.find_resources("AWS::SecretsManager::RotationSchedule",
                                                 {"Properties": {"SecretId": ref(stack, db.secret)}}).values()
    assert schedule["Properties"]["RotationLambdaARN"] == master_schedule["Properties"]["RotationLambdaARN"]
    assert schedule["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    assert schedule["DependsOn"] == [stack.get_logical_id(user.resource.node.default_child)]


def secret_readers(stack: McpServerStack, template: Template, secret: Any) -> set[str]:
    """The roles whose policies may read `secret`."""
    readers = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if "secretsmanager:GetSecretValue" in statement["Action"] and ref(stack, secret) in resources:
                readers |= {role["Ref"] for role in policy["Properties"]["Roles"]}
    return readers


def test_only_the_proxy_and_the_migration_function_read_the_users_password(
    stack: McpServerStack, template: Template
) -> None:
    db, user = stack.database, stack.service.database_user
    migrations = db.node.find_child("Migrations-messaging")
    assert secret_readers(stack, template, user.secret) == {
        ref(stack, db.proxy.node.find_child("IAMRole"))["Ref"], ref(stack, migrations.function.role)["Ref"]}
    # The master's password: the proxy only (the rotation function's own policy comes with it from AWS).
    assert secret_readers(stack, template, db.secret) == {ref(stack, db.proxy.node.find_child("IAMRole"))["Ref"]}


def test_a_server_without_grants_connects_as_the_master_user_with_a_warning(make_app) -> None:
    app = make_app()
    stack = McpServerStack(app, "Owner", server=dataclasses.replace(MESSAGING, grants=None))
    assert stack.service.database_user is None
    Template.from_stack(stack).resource_count_is("Custom::McpDatabaseUser", 0)
    Annotations.from_stack(stack).has_warning("/Owner/Messaging", Match.string_like_regexp("declares no grants"))
    Template.from_stack(stack).has_resource_properties("AWS::Lambda::Function", {
        "Handler": "messaging.server.handler",
        "Environment": {"Variables": Match.object_like({"MCP_DB_USER": "mcp_admin"})}})


def test_write_iops_anomaly_alarm_watches_the_upper_band(stack: McpServerStack, template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "ComparisonOperator": "GreaterThanUpperThreshold",
            "ThresholdMetricId": "expr_1",
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Id": "expr_1", "Expression": "ANOMALY_DETECTION_BAND(m0, 3)"}),
                    Match.object_like(
                        {
                            "Id": "m0",
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "AWS/RDS",
                                    "MetricName": "WriteIOPS",
                                    "Dimensions": [
                                        {"Name": "DBInstanceIdentifier", "Value": ref(stack, stack.database.instance)}
                                    ],
                                },
                                "Period": 300,
                                "Stat": "Average",
                            },
                        }
                    ),
                ]
            ),
        },
    )


def test_url_requires_iam_by_default(template: Template) -> None:
    template.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM", "Qualifier": "live"})
    template.resource_count_is("AWS::Lambda::Permission", 0)
    assert len(template.find_outputs("*", {"Value": {"Fn::GetAtt": [Match.any_value(), "FunctionUrl"]}})) == 1


def test_a_public_url_is_possible_but_flagged(make_app) -> None:
    stack = McpServerStack(make_app(), "Public", server=MESSAGING, url_auth_type=lambda_.FunctionUrlAuthType.NONE)
    Template.from_stack(stack).has_resource_properties("AWS::Lambda::Url", {"AuthType": "NONE"})
    Annotations.from_stack(stack).has_warning("/Public/Messaging", Match.string_like_regexp("no authentication"))


def test_database_props_pass_through(make_app) -> None:
    stack = McpServerStack(
        make_app(),
        "Dev",
        server=MESSAGING,
        database=McpDatabaseOptions(multi_az=False, deletion_protection=False, removal_policy=cdk.RemovalPolicy.DESTROY),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::RDS::DBInstance", {"MultiAZ": False, "DeletionProtection": False})
    template.has_resource("AWS::RDS::DBInstance", {"DeletionPolicy": "Delete"})


def test_tagging_the_app_still_synthesizes(make_app) -> None:
    # Tags reach the proxy's target group; the synth-time validator's schema wrongly rejects them (F3002),
    # which McpDatabase acknowledges for that resource only.
    app = make_app()
    stack = McpServerStack(app, "Tagged", server=MESSAGING)
    cdk.Tags.of(app).add("project", "mcp")
    Template.from_stack(stack).has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup", {"Tags": [{"Key": "project", "Value": "mcp"}]}
    )
