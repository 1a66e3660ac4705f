"""The alarms and dashboard of a service (mcp_lambda_cdk/monitoring.py), built from its metric_* methods."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from tests.cdk.conftest import spec


def build(make_app, **props: Any) -> tuple[cdk.Stack, McpLambdaService, Template]:
    stack = cdk.Stack(make_app(), "TestStack")
    service = McpLambdaService(stack, "Weather", server=spec("weather"), **props)
    return stack, service, Template.from_stack(stack)


def dashboard_metrics(template: Template) -> list[list[Any]]:
    """Every metric line of the dashboard's graphs (tokens such as the function name read as 'X')."""
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(part if isinstance(part, str) else "X" for part in parts))
    return [line for widget in body["widgets"] for line in widget["properties"].get("metrics", [])]


def metric_names(lines: list[list[Any]]) -> set[str]:
    return {line[1] for line in lines if isinstance(line[0], str)}


def test_p99_duration_alarm_over_3000_ms(make_app) -> None:
    stack, service, template = build(make_app)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Duration",
            "Namespace": "AWS/Lambda",
            "ExtendedStatistic": "p99",
            "Period": 60,
            "Threshold": 3000,
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 3,
            "TreatMissingData": "notBreaching",
            "Dimensions": Match.array_with([{"Name": "Resource", "Value": Match.any_value()}]),
        },
    )
    assert service.monitoring.duration_alarm in service.monitoring.alarms


def test_error_rate_alarm_over_1_percent_for_5_consecutive_minutes(make_app) -> None:
    _, _, template = build(make_app)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": 1,
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 5,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Expression": "100 * errors / invocations", "ReturnData": True}),
                    Match.object_like(
                        {"Id": "errors", "MetricStat": Match.object_like({"Period": 60, "Stat": "Sum",
                                                                          "Metric": Match.object_like({"MetricName": "Errors"})})}
                    ),
                    Match.object_like(
                        {"Id": "invocations",
                         "MetricStat": Match.object_like({"Metric": Match.object_like({"MetricName": "Invocations"})})}
                    ),
                ]
            ),
        },
    )


def test_alarms_notify_the_topic(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    topic = sns.Topic(stack, "Alarms")
    McpLambdaService(stack, "Weather", server=spec("weather"), alarm_topic=topic)
    topic_ref = {"Ref": stack.get_logical_id(topic.node.default_child)}
    alarms = Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 2
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [topic_ref] == alarm["Properties"]["OKActions"]


def test_dashboard_graphs_what_the_guide_asks(make_app) -> None:
    _, service, template = build(make_app, tools=["get_weather", "get_forecast"])
    lines = dashboard_metrics(template)
    assert {"Invocations", "Duration", "Errors", "Throttles", "ConcurrentExecutions",
            "ProvisionedConcurrencySpilloverInvocations", "ToolCalls", "ToolErrors", "ToolLatency"} <= metric_names(lines)
    durations = [line[-1]["stat"] for line in lines if line[:2] == ["AWS/Lambda", "Duration"]]
    assert sorted(durations) == ["p50", "p99"]
    # One line per tool and metric, from the runtime's EMF metrics (namespace McpServers, dimensions service, tool)
    tools = [line[:6] for line in lines if line[0] == "McpServers"]
    assert ["McpServers", "ToolCalls", "service", "weather", "tool", "get_forecast"] in tools
    assert len(tools) == 6
    assert not any("SEARCH" in line[0]["expression"] for line in lines if isinstance(line[0], dict))
    assert service.dashboard is service.monitoring.dashboard


def test_without_tools_the_dashboard_searches_every_tool(make_app) -> None:
    _, _, template = build(make_app, environment={"POWERTOOLS_METRICS_NAMESPACE": "Custom"})
    expressions = [line[0]["expression"] for line in dashboard_metrics(template) if isinstance(line[0], dict)]
    assert "SEARCH('{Custom,service,tool} MetricName=\"ToolCalls\" service=\"weather\"', 'Sum', 60)" in expressions


def test_rest_api_adds_request_and_waf_graphs(make_app) -> None:
    _, _, template = build(make_app, endpoint=McpEndpoint.rest_api())
    assert {"Count", "4XXError", "5XXError", "Latency", "BlockedRequests"} <= metric_names(dashboard_metrics(template))


@pytest.mark.parametrize(
    "props",
    [{"tools": "get_weather"}, {"tools": ["a", "a"]}, {"error_rate_alarm_percent": 0},
     {"duration_alarm_threshold": cdk.Duration.millis(0)}],
    ids=["tools-string", "tools-duplicate", "zero-rate", "zero-duration"],
)
def test_rejects_impossible_monitoring_props(make_app, props: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build(make_app, **props)
