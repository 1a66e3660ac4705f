"""`make diagrams` (tools/diagrams.py, tools/dashboards.py): what the pictures show is read from the synthesized
templates. The drawing libraries are `make diagrams`' own (not installed here); these tests check the models they
draw from, and that every stack has its pictures checked in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.conftest import ROOT
from mcp_lambda import contract as c
from tools import diagrams
from tools.dashboards import widgets
from tools.diagrams import architecture
from tools.templates import Template, load

STACKS = ("McpWeatherStack", "McpMessagingStack", "McpSecureMessagingStack", "McpReportsStack",
          "McpMessagingPlacedStack")


@pytest.fixture(scope="module")
def stacks(templates) -> dict[str, Template]:
    return {template.name: template for template in load(templates)}


def test_the_weather_stack_is_one_public_function(stacks):
    model = architecture(stacks["McpWeatherStack"])
    [service] = model.services
    assert (service.name, service.endpoint, service.tasks) == ("weather", "URL auth NONE", False)
    assert service.size == "python3.13 arm64\n1024 MB"
    assert (model.vpc_azs, model.database, model.proxy, model.nat_gateways) == (0, None, False, 0)
    assert (model.keys, model.secrets, model.alarms, model.dashboards) == (1, 1, 2, 1)


def test_the_messaging_stack_is_drawn_in_its_vpc_with_the_database_it_has(stacks):
    model = architecture(stacks["McpMessagingStack"])
    [service] = model.services
    assert service.endpoint == "URL auth AWS_IAM"
    assert model.vpc_azs == 2 and model.nat_gateways == 0
    assert model.interface_endpoints == ["secretsmanager"] and model.gateway_endpoints == []
    assert model.proxy and model.migrations
    assert model.database == "PostgreSQL 17.9\ndb.t4g.micro\nMulti-AZ\n20 GB gp3"
    assert not model.authorization_server and model.user_pool is None


def test_sign_in_is_drawn_with_the_pool_the_authorization_server_and_the_nat(stacks):
    model = architecture(stacks["McpSecureMessagingStack"])
    assert [s.endpoint for s in model.services] == ["URL auth NONE"], "the authorization server is no MCP service"
    assert model.authorization_server and model.nat_gateways == 1
    assert model.user_pool is not None and model.user_pool.startswith("Cognito user pool\nPLUS")


def test_tasks_are_drawn_with_their_table_queue_and_endpoints(stacks):
    model = architecture(stacks["McpReportsStack"])
    [service] = model.services
    assert service.tasks and model.task_table and model.failed_worker_queue
    assert model.gateway_endpoints == ["dynamodb"]
    assert sorted(model.interface_endpoints) == ["lambda", "secretsmanager"]


def test_placed_tools_are_drawn_as_functions_of_their_own_with_their_database_users(stacks):
    model = architecture(stacks["McpMessagingPlacedStack"])
    [service] = model.services
    assert service.name == "messaging-placed" and service.endpoint == "URL auth AWS_IAM"
    assert sorted((t.tools, t.database_user) for t in model.tool_functions) == [
        ("get_messages", "mcp_messaging_placed_get_messages"), ("post_message", "mcp_messaging_placed_post_message")]
    assert "lambda" in model.interface_endpoints
    assert architecture(stacks["McpMessagingStack"]).tool_functions == []


def test_the_models_names_are_the_runtimes_contract():
    assert (diagrams._SERVICE_NAME, diagrams._TASKS_TABLE, diagrams._TOOL_FUNCTION_TOOLS, diagrams._DB_USER) == (
        c.POWERTOOLS_SERVICE_NAME, c.MCP_TASKS_TABLE, c.MCP_TOOL_FUNCTION_TOOLS, c.MCP_DB_USER)


def test_the_dashboard_picture_follows_the_dashboard_body(stacks):
    weather = stacks["McpWeatherStack"]
    items = widgets(weather)
    titles = [w.title for w in items]
    assert titles[:3] == ["Invocations, errors and error rate", "Duration (ms)", "Concurrency and throttles"]
    assert [(w.x, w.y, w.width, w.height) for w in items][:2] == [(0, 0, 8, 6), (8, 0, 8, 6)]
    [duration] = [w for w in items if w.title == "Duration (ms)"]
    assert [s.label for s in duration.series] == ["p50", "p99"]
    assert (3000.0, "p99 alarm", False) in duration.thresholds
    [rate] = [w for w in items if w.title.startswith("Invocations")]
    assert [(s.label, s.right) for s in rate.series] == [
        ("Invocations (Sum)", False), ("Errors (Sum)", False), ("Error rate (%)", True)]
    [alarms] = [w for w in items if w.kind == "alarm"]
    described = {a.properties["AlarmDescription"] for a in weather.of_type("AWS::CloudWatch::Alarm")}
    assert set(alarms.alarms) == described and len(alarms.alarms) == 2
    [calls] = [w for w in items if w.title == "Tool calls"]
    assert [s.label for s in calls.series] == ["ToolCalls per tool (Sum, SEARCH)"]


def test_graphs_of_alarms_show_the_alarms_metric_and_band(stacks):
    items = widgets(stacks["McpSecureMessagingStack"])
    [iops] = [w for w in items if w.title == "Write IOPS and its anomaly band"]
    assert iops.band and [s.label for s in iops.series] == ["WriteIOPS (Average)"]
    [failures] = [w for w in items if w.title.endswith("sign-in failures")]
    assert [s.label for s in failures.series] == ["AuthFailures (Sum)"] and failures.thresholds


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_its_pictures_checked_in(stack):
    images = ROOT / "docs" / "images"
    for name in (f"{stack}.png", f"{stack}-dashboard.png"):
        picture = images / name
        assert picture.is_file(), f"{picture} is missing: run make diagrams"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"images/{name}" in (ROOT / "docs" / "deploy.md").read_text(), f"docs/deploy.md shows {name}"


def test_the_readme_shows_the_pictures():
    readme = (ROOT / "README.md").read_text()
    assert "docs/images/McpSecureMessagingStack.png" in readme
    assert Path(ROOT / "docs" / "images" / "McpSecureMessagingStack.png").is_file()
