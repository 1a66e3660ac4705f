"""McpLambdaService(tracing=McpTracing.adot()): what the template holds with tracing on, and that none of it is
there with tracing off (the default). The runtime's own reader checks the environment it is given."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from mcp_lambda.settings import RuntimeSettings
from mcp_lambda_cdk import McpServerStack, McpTracing
from mcp_lambda_cdk.bundling import SKIP_BUNDLING_CONTEXT, PythonBundle, bundled_code
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_servers import MESSAGING
from tests.cdk.conftest import REPO_ROOT, spec
from tests.cdk.test_egress import egress, group

XRAY_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def function_of(template: Template) -> dict[str, Any]:
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    return function["Properties"]


def xray_statements(template: Template) -> list[dict[str, Any]]:
    return [statement for policy in template.find_resources("AWS::IAM::Policy").values()
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Action"] == XRAY_ACTIONS]


def weather_stack(make_app, **props: Any) -> tuple[cdk.Stack, Template]:
    stack = cdk.Stack(make_app(), "Stack", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    McpLambdaService(stack, "Weather", server=spec("weather"), **props)
    return stack, Template.from_stack(stack)


@pytest.mark.parametrize("architecture,layer", [(lambda_.Architecture.ARM_64, "arm64"),
                                                (lambda_.Architecture.X86_64, "amd64")])
def test_tracing_turns_on_active_tracing_the_collector_and_the_runtimes_traces(make_app, architecture, layer):
    _, template = weather_stack(make_app, tracing=McpTracing.adot(), architecture=architecture)

    function = function_of(template)
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Layers"] == [
        f"arn:aws:lambda:eu-west-1:901920570463:layer:aws-otel-collector-{layer}-ver-0-117-0:1"]
    variables = function["Environment"]["Variables"]
    assert (variables["MCP_TRACING"], variables["OTEL_EXPORTER_OTLP_ENDPOINT"]) == ("otlp", "http://localhost:4318")
    assert RuntimeSettings.from_env({k: v for k, v in variables.items() if isinstance(v, str)}).tracing == "otlp"
    # Lambda's active tracing gives the role what the collector's X-Ray exporter calls, and only that
    assert xray_statements(template) == [{"Action": XRAY_ACTIONS, "Effect": "Allow", "Resource": "*"}]


def test_tracing_off_leaves_no_trace_in_the_template(make_app):
    _, template = weather_stack(make_app)

    function = function_of(template)
    assert "TracingConfig" not in function and "Layers" not in function
    assert not {"MCP_TRACING", "OTEL_EXPORTER_OTLP_ENDPOINT"} & set(function["Environment"]["Variables"])
    assert xray_statements(template) == []


def test_a_collector_of_ones_own_and_variables_that_override(make_app):
    arn = "arn:aws:lambda:eu-west-1:123456789012:layer:my-collector:3"
    _, template = weather_stack(make_app, tracing=McpTracing.adot(collector_layer_arn=arn),
                                environment={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4319"})

    function = function_of(template)
    assert function["Layers"] == [arn]
    assert function["Environment"]["Variables"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4319"


def test_a_traced_function_ships_the_runtimes_tracing_extra(make_app):
    """The asset is the bundle of the runtime with its tracing extra (the real asset hash, rendered without
    building: it covers the requirements)."""
    app = make_app(**{"aws:cdk:bundling-stacks": [], SKIP_BUNDLING_CONTEXT: False})
    stack = cdk.Stack(app, "Stack")
    weather = REPO_ROOT / "servers" / "weather"
    traced = PythonBundle.for_server(weather, runtime=lambda_.Runtime.PYTHON_3_13,
                                     architecture=lambda_.Architecture.ARM_64, extras=("tracing",))
    services = {
        "traced": McpLambdaService(stack, "Traced", server=spec("weather"), tracing=McpTracing.adot()),
        "plain": McpLambdaService(stack, "Plain", server=spec("weather")),
        "tracing extra": McpLambdaService(stack, "Extra", server=spec("weather"), code=bundled_code(stack, traced)),
    }
    resources = Template.from_stack(stack).to_json()["Resources"]
    keys = {name: resources[stack.get_logical_id(service.function.node.default_child)]["Properties"]["Code"]["S3Key"]
            for name, service in services.items()}

    assert traced.requirements[0].startswith("mcp-lambda-runtime[tracing]==")
    assert keys["traced"] == keys["tracing extra"] != keys["plain"]


def test_in_a_database_vpc_without_egress_the_collector_reaches_x_ray_through_an_endpoint(make_app):
    stack = McpServerStack(make_app(), "Stack", server=MESSAGING, tracing=McpTracing.adot())
    template = Template.from_stack(stack)
    database, service = stack.database, stack.service
    assert database is not None and not database.application_egress

    endpoint = database.network.xray_endpoint
    assert endpoint is not None
    template.has_resource_properties("AWS::EC2::VPCEndpoint", {
        "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".xray"]]},
        "VpcEndpointType": "Interface", "PrivateDnsEnabled": True})
    endpoint_group = group(stack, endpoint.connections.security_groups[0])
    service_group = group(stack, service.connections.security_groups[0])
    assert ("tcp", 443, endpoint_group) in egress(template)[service_group]
    assert egress(template)[endpoint_group] == set(), "an endpoint answers and never calls"
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {
        "GroupId": {"Fn::GetAtt": [endpoint_group, "GroupId"]}, "FromPort": 443,
        "SourceSecurityGroupId": {"Fn::GetAtt": [service_group, "GroupId"]}})
    alias = stack.get_logical_id(service.alias.node.default_child)
    assert stack.get_logical_id(endpoint.node.default_child) in template.to_json()["Resources"][alias]["DependsOn"]


def test_without_tracing_a_database_vpc_gets_no_x_ray_endpoint(make_app):
    stack = McpServerStack(make_app(), "Stack", server=MESSAGING)
    Template.from_stack(stack).resource_properties_count_is(
        "AWS::EC2::VPCEndpoint", {"ServiceName": Match.object_like({"Fn::Join": Match.array_with([
            Match.array_with([".xray"])])})}, 0)
