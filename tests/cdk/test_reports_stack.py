"""The reports stack: a task-running server in a VPC without a route out, on the messaging schema; one snapshot."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from mcp_lambda_cdk import McpServerStack
from mcp_lambda_cdk.migrations import migration_files_hash
from mcp_servers import REPORTS
from tests.cdk.conftest import REPO_ROOT, without_migrations_hash
from tests.cdk.test_monitoring import dashboard_metrics


@pytest.fixture(scope="module")
def stack(make_app) -> McpServerStack:
    # Given the app as cdk.json configures it, when the reports stack is synthesized
    return McpServerStack(make_app(), "McpReportsStack", server=REPORTS)


@pytest.fixture(scope="module")
def template(stack: McpServerStack) -> Template:
    # Template.from_stack runs CloudFormation's validation at synthesis: no circular dependency, among others.
    return Template.from_stack(stack)


def ref(stack: cdk.Stack, construct: Any) -> dict[str, str]:
    return {"Ref": stack.get_logical_id(construct.node.default_child)}


def application_subnets(stack: McpServerStack) -> list[Any]:
    return [s for s in stack.database.vpc.isolated_subnets if s.node.id.startswith("Application")]


def test_template_matches_snapshot(template: Template, snapshot_json) -> None:
    # Then everything not asserted below is as reviewed in the snapshot (migrations hash asserted on its own).
    assert without_migrations_hash(template) == snapshot_json


def test_the_reports_function_runs_tasks_in_the_database_vpc(stack: McpServerStack, template: Template) -> None:
    reports = stack.service
    assert reports.tasks is not None
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "reports.server.handler",
            "Timeout": 900,
            "FunctionName": Match.string_like_regexp("^McpReportsStack-Reports-"),
            "VpcConfig": {
                "SubnetIds": [ref(stack, s) for s in application_subnets(stack)],
                "SecurityGroupIds": [{"Fn::GetAtt": [stack.get_logical_id(
                    reports.connections.security_groups[0].node.default_child), "GroupId"]}],
            },
            "Environment": {"Variables": Match.object_like({
                "POWERTOOLS_SERVICE_NAME": "reports",
                "MCP_DB_HOST": {"Fn::GetAtt": [stack.get_logical_id(stack.database.proxy.node.default_child),
                                               "Endpoint"]},
                "MCP_DB_IAM_AUTH": "true",
                "MCP_TASKS_TABLE": ref(stack, reports.tasks.table),
                "MCP_TASKS_WORKER_ARN": Match.any_value(),
            })},
        },
    )
    template.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM", "Qualifier": "live"})


def test_the_reports_function_connects_as_a_user_that_may_only_read(stack: McpServerStack, template: Template) -> None:
    user = stack.service.database_user
    (resource,) = template.find_resources("Custom::McpDatabaseUser").values()
    assert (resource["Properties"]["User"], resource["Properties"]["Grants"]) == ("mcp_reports", {"messages": ["SELECT"]})
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "reports.server.handler",
        "Environment": {"Variables": Match.object_like({"MCP_DB_USER": "mcp_reports"})}})
    (policy,) = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [
        ref(stack, stack.service.role)]}}).values()
    connects = [s["Resource"]["Fn::Join"][1][-1] for s in policy["Properties"]["PolicyDocument"]["Statement"]
                if s["Action"] == "rds-db:connect"]
    assert connects == ["/mcp_reports"]
    template.has_resource_properties("AWS::RDS::DBProxy", {"Auth": Match.array_with([
        Match.object_like({"IAMAuth": "REQUIRED", "SecretArn": ref(stack, user.secret)})])})


def test_tasks_reach_dynamodb_and_lambda_through_endpoints_only_the_function_may_use(
    stack: McpServerStack, template: Template
) -> None:
    # The application subnets have no NAT and no internet gateway: endpoints are the only way out.
    for resource_type in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::Route"):
        template.resource_count_is(resource_type, 0)
    route_tables = [{"Ref": stack.get_logical_id(s.node.find_child("RouteTable"))} for s in application_subnets(stack)]
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Gateway", "RouteTableIds": route_tables,
         "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".dynamodb"]]}},
    )
    lambda_endpoint_group = stack.database.task_endpoints[1].connections.security_groups[0]
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Interface", "PrivateDnsEnabled": True,
         "SubnetIds": [ref(stack, s) for s in application_subnets(stack)],
         "SecurityGroupIds": [{"Fn::GetAtt": [stack.get_logical_id(lambda_endpoint_group.node.default_child),
                                              "GroupId"]}],
         "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".lambda"]]}},
    )
    group = {"Fn::GetAtt": [stack.get_logical_id(lambda_endpoint_group.node.default_child), "GroupId"]}
    ingress = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {"GroupId": group}})
    assert [(r["Properties"]["FromPort"], r["Properties"]["SourceSecurityGroupId"]) for r in ingress.values()] == [
        (443, {"Fn::GetAtt": [stack.get_logical_id(
            stack.service.connections.security_groups[0].node.default_child), "GroupId"]})]
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup", {"SecurityGroupIngress": Match.absent(),
                                    "GroupDescription": "Lambda interface endpoint"})


def test_traffic_moves_only_after_the_schema_and_the_endpoints_exist(stack: McpServerStack, template: Template) -> None:
    expected_hash = migration_files_hash(REPO_ROOT / "servers" / "messaging" / "migrations")
    (migrations_id,) = template.find_resources(
        "Custom::McpSchemaMigrations", {"Properties": {"Service": "messaging", "MigrationsHash": expected_hash}}
    )
    (alias,) = template.find_resources("AWS::Lambda::Alias").values()
    group = stack.database.task_endpoints[1].connections.security_groups[0]
    (ingress_id,) = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {
        "GroupId": {"Fn::GetAtt": [stack.get_logical_id(group.node.default_child), "GroupId"]}}})
    assert set(alias["DependsOn"]) >= {
        migrations_id,
        stack.get_logical_id(stack.database.task_endpoints[0].node.default_child),
        stack.get_logical_id(stack.database.task_endpoints[1].node.default_child),
        ingress_id,  # the rule that lets the function reach the Lambda endpoint
    }


def test_the_dashboard_has_the_tasks_and_the_database(template: Template) -> None:
    lines = dashboard_metrics(template)
    names = {line[1] for line in lines if isinstance(line[0], str)}
    assert {"TasksStarted", "TasksFailed", "TaskRunningAge", "ApproximateNumberOfMessagesVisible",
            "CPUUtilization", "DatabaseConnections"} <= names
    # The tools come from what the server reports, not from a list kept in the stack
    searches = [line[0]["expression"] for line in lines if isinstance(line[0], dict)]
    assert any('MetricName="ToolCalls" service="reports"' in search for search in searches)
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
