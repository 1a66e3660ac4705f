"""The weather stack (Case 1): what must hold for the public, stateless server, and one snapshot."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from mcp_lambda_cdk import McpServerStack
from mcp_servers import WEATHER



@pytest.fixture(scope="module")
def template(make_app) -> Template:
    # Given the app as cdk.json configures it, when the weather stack is synthesized
    app = make_app()
    return Template.from_stack(McpServerStack(app, "McpWeatherStack", server=WEATHER))


def test_template_matches_snapshot(template: Template, snapshot_json) -> None:
    # Then everything not asserted below is as reviewed in the snapshot
    assert template.to_json() == snapshot_json


def test_function_runs_the_weather_handler_on_python_313_arm64(template: Template) -> None:
    template.resource_count_is("AWS::Lambda::Function", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Architectures": ["arm64"],
            "Runtime": "python3.13",
            "Handler": "weather.server.handler",
            "MemorySize": 1024,
            "Timeout": 30,
            "Environment": {
                "Variables": {
                    "POWERTOOLS_SERVICE_NAME": "weather",
                    "POWERTOOLS_METRICS_NAMESPACE": "McpServers",
                }
            },
        },
    )


def test_alias_live_points_at_the_published_version(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "FunctionVersion": {"Fn::GetAtt": [Match.string_like_regexp("CurrentVersion"), "Version"]}},
    )


def test_function_url_is_public_and_on_the_alias(template: Template) -> None:
    template.has_resource_properties("AWS::Lambda::Url", {"AuthType": "NONE", "Qualifier": "live"})
    # Public URLs need both permissions, each granted to anyone but only through the URL.
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE", "Principal": "*"},
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True, "Principal": "*"},
    )


def test_logs_go_to_a_log_group_with_retention(template: Template) -> None:
    log_groups = template.find_resources("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 30}})
    assert len(log_groups) == 1
    (log_group_id,) = log_groups
    template.has_resource_properties(
        "AWS::Lambda::Function", {"LoggingConfig": {"LogGroup": {"Ref": log_group_id}}}
    )


def test_url_is_a_stack_output(template: Template) -> None:
    outputs = template.find_outputs("*", {"Value": {"Fn::GetAtt": [Match.any_value(), "FunctionUrl"]}})
    assert len(outputs) == 1
