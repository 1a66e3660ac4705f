"""Placed tools on AWS (``ServerSpec.placements``, issue 18): each tool function holds only its own grants, the front
may invoke exactly its tool functions, and nothing else reaches them.

The messaging example of mcp_servers.py (``MESSAGING_PLACED``: post_message on a function whose database user may
only insert, get_messages on one whose user may only select, a front whose user may do nothing) as its stack
synthesizes, with memory, timeout, provisioned concurrency and SnapStart varied per placement; a server without
a database (outside any VPC); and a tool placed without the database of its server (outside the database's VPC).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from mcp_lambda import contract as c
from mcp_lambda.spec import ToolPlacement
from mcp_lambda_cdk import McpServerStack
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_servers import MESSAGING_PLACED, SECURE_MESSAGING
from tests.cdk.conftest import spec

POST, GET = "post-message", "get-messages"


@pytest.fixture(scope="module")
def stack(make_app) -> McpServerStack:
    # Given the placed messaging example, post_message with less memory and a shorter timeout, get_messages kept warm
    post, get = MESSAGING_PLACED.placements
    server = dataclasses.replace(MESSAGING_PLACED, placements=(
        dataclasses.replace(post, memory_size=256, timeout=10), dataclasses.replace(get, provisioned_concurrency=1)))
    return McpServerStack(make_app(), "McpMessagingPlacedStack", server=server)


@pytest.fixture(scope="module")
def template(stack: McpServerStack) -> dict[str, Any]:
    return Template.from_stack(stack).to_json()


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


def statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement of every inline policy attached to the role."""
    return [statement for resource in template["Resources"].values() if resource["Type"] == "AWS::IAM::Policy"
            and {"Ref": role_id} in resource["Properties"]["Roles"]
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def database_users(template: dict[str, Any], statements_: list[dict[str, Any]]) -> set[str]:
    """The database users ``rds-db:connect`` statements name (the ARN's last segment)."""
    users = set()
    for statement in statements_:
        if "rds-db:connect" in actions(statement):
            parts = statement["Resource"]["Fn::Join"][1]
            users.add(parts[-1].rsplit("/", 1)[-1])
    return users


def test_each_tool_function_connects_as_its_own_user_and_holds_nothing_else(stack, template):
    service = stack.service
    assert set(service.tool_functions) == {POST, GET}
    for name, user in ((POST, "mcp_messaging_placed_post_message"), (GET, "mcp_messaging_placed_get_messages")):
        tool = service.tool_functions[name]
        granted = statements(template, logical_id(stack, tool.role))
        # Then its database user is its own, and the only one its role may sign in as
        assert database_users(template, granted) == {user}
        environment = template["Resources"][logical_id(stack, tool.function)]["Properties"]["Environment"]["Variables"]
        assert environment[c.MCP_DB_USER] == user
        assert environment[c.MCP_TOOL_FUNCTION_TOOLS] == tool.placement.tools[0]
        # and it may do nothing but write its logs, read the requestState key and connect: no invoke, no tasks
        assert sorted(a for s in granted for a in actions(s)) == sorted([
            "logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue", "rds-db:connect"])
        secrets = [s["Resource"] for s in granted if "secretsmanager:GetSecretValue" in actions(s)]
        assert secrets == [{"Ref": logical_id(stack, service.request_state_secret)}]


def test_each_placed_user_holds_exactly_its_placements_grants_and_the_front_none(stack, template):
    users = {r["Properties"][c.DATABASE_USER_PROPERTY]: r["Properties"][c.DATABASE_USER_GRANTS_PROPERTY]
             for r in template["Resources"].values() if r["Type"] == c.DATABASE_USER_RESOURCE_TYPE}
    assert users == {
        "mcp_messaging_placed": {},
        "mcp_messaging_placed_post_message": {"messages": ["INSERT"]},
        "mcp_messaging_placed_get_messages": {"messages": ["SELECT"]},
    }
    front = statements(template, logical_id(stack, stack.service.role))
    assert database_users(template, front) == {"mcp_messaging_placed"}


def test_the_front_may_invoke_exactly_its_tool_functions_live_aliases(stack, template):
    service = stack.service
    front = statements(template, logical_id(stack, service.role))
    invoke = [s for s in front if any(a.startswith("lambda:") for a in actions(s))]
    aliases = [{"Ref": logical_id(stack, service.tool_functions[name].alias)} for name in (GET, POST)]
    assert len(invoke) == 1 and actions(invoke[0]) == ["lambda:InvokeFunction"]
    assert sorted(invoke[0]["Resource"], key=json.dumps) == sorted(aliases, key=json.dumps)
    for name in (POST, GET):
        alias = template["Resources"][logical_id(stack, service.tool_functions[name].alias)]
        assert alias["Properties"]["Name"] == c.TOOL_FUNCTION_ALIAS
    # Each placed tool's calls go to its function's alias (the runtime's reader parses what the front is given)
    from mcp_lambda.placement import tool_functions

    environment = template["Resources"][logical_id(stack, service.function)]["Properties"]["Environment"]["Variables"]
    joined = "".join(part if isinstance(part, str) else json.dumps(part["Ref"])[1:-1]
                     for part in environment[c.MCP_TOOL_FUNCTIONS]["Fn::Join"][1])
    assert tool_functions({c.MCP_TOOL_FUNCTIONS: joined}) == {
        "post_message": logical_id(stack, service.tool_functions[POST].alias),
        "get_messages": logical_id(stack, service.tool_functions[GET].alias)}


def test_no_tool_function_is_reachable_but_through_the_fronts_role(stack, template):
    service = stack.service
    urls = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
    assert len(urls) == 1
    assert urls[0]["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [logical_id(stack, service.function), "Arn"]}
    tool_ids = {logical_id(stack, t.function) for t in service.tool_functions.values()} | {
        logical_id(stack, t.alias) for t in service.tool_functions.values()}
    permissions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    assert not [p for p in permissions if any(i in json.dumps(p["Properties"]["FunctionName"]) for i in tool_ids)]


def test_memory_timeout_and_provisioned_concurrency_are_each_placements(stack, template):
    service = stack.service
    props = {name: template["Resources"][logical_id(stack, t.function)]["Properties"]
             for name, t in service.tool_functions.items()}
    assert (props[POST]["MemorySize"], props[POST]["Timeout"]) == (256, 10)
    front = template["Resources"][logical_id(stack, service.function)]["Properties"]
    assert (props[GET]["MemorySize"], props[GET]["Timeout"]) == (front["MemorySize"], front["Timeout"])
    aliases = {name: template["Resources"][logical_id(stack, t.alias)]["Properties"]
               for name, t in service.tool_functions.items()}
    assert "ProvisionedConcurrencyConfig" not in aliases[POST]
    assert aliases[GET]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 1}
    assert {p["Handler"] for p in props.values()} == {front["Handler"]}
    assert {json.dumps(p["Code"]) for p in props.values()} == {json.dumps(front["Code"])}


def test_tool_functions_send_only_to_the_proxy_and_secrets_manager_and_the_front_reaches_lambda(stack, template):
    service, database = stack.service, stack.database

    def egress(function: Any) -> set[tuple[str, int]]:
        group = {"Fn::GetAtt": [logical_id(stack, function.connections.security_groups[0]), "GroupId"]}
        return {(r["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0], r["Properties"]["FromPort"])
                for r in template["Resources"].values()
                if r["Type"] == "AWS::EC2::SecurityGroupEgress" and r["Properties"]["GroupId"] == group}

    proxy = (logical_id(stack, database.proxy_security_group), 5432)
    secrets = (logical_id(stack, database.secrets_manager_endpoint.connections.security_groups[0]), 443)
    lambda_endpoint = (logical_id(stack, database.network.lambda_endpoint.connections.security_groups[0]), 443)
    for tool in service.tool_functions.values():
        assert egress(tool.function) == {proxy, secrets}
    assert egress(service.function) == {proxy, secrets, lambda_endpoint}
    # The front's traffic moves only once its tool functions' aliases (and the way to them) exist
    depends = set(template["Resources"][logical_id(stack, service.alias)]["DependsOn"])
    assert {logical_id(stack, t.alias) for t in service.tool_functions.values()} <= depends
    assert logical_id(stack, database.network.lambda_endpoint) in depends


def test_the_dashboard_and_alarms_watch_each_tool_function(stack, template):
    service = stack.service
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    body = json.dumps(template["Resources"][logical_id(stack, service.dashboard)]["Properties"]["DashboardBody"])
    for name, tool in service.tool_functions.items():
        watched = {a["MetricName"] for a in alarms if a.get("Dimensions") and
                   {"Name": "Resource", "Value": {"Fn::Join": ["", [
                       {"Ref": logical_id(stack, tool.function)}, f":{c.TOOL_FUNCTION_ALIAS}"]]}} in a["Dimensions"]}
        assert watched == {"Errors", "Throttles"}, name
        for title in ("invocations and errors", "duration (ms)", "throttles"):
            assert f"Tool function {name}: {title}" in body


def test_a_placement_without_a_database_runs_outside_any_vpc_with_snap_start(make_app):
    stack = cdk.Stack(make_app(), "PlacedWeather")
    server = spec("weather", public=True, placements=(ToolPlacement("get_weather", memory_size=2048, snap_start=True),))
    service = McpLambdaService(stack, "Weather", server=server)
    template = Template.from_stack(stack).to_json()
    tool = service.tool_functions["get-weather"]
    props = template["Resources"][logical_id(stack, tool.function)]["Properties"]
    assert props["MemorySize"] == 2048 and props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert "VpcConfig" not in props
    granted = statements(template, logical_id(stack, tool.role))
    assert not [s for s in granted if "rds-db:connect" in actions(s) or any(a.startswith("lambda:") for a in actions(s))]
    assert [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Url"][0]["Properties"][
        "TargetFunctionArn"] == {"Fn::GetAtt": [logical_id(stack, service.function), "Arn"]}


def test_a_placement_without_its_servers_database_runs_outside_the_vpc_with_no_way_to_the_database(make_app):
    # Given secure messaging with whoami (which reads only the caller's claims) placed with database=False, and
    # get_messages placed with the server's database user
    server = dataclasses.replace(SECURE_MESSAGING, placements=(
        ToolPlacement("whoami", database=False), ToolPlacement("get_messages")))
    stack = McpServerStack(make_app(), "McpWhoamiPlacedStack", server=server)
    template = Template.from_stack(stack).to_json()
    whoami, get = stack.service.tool_functions["whoami"], stack.service.tool_functions["get-messages"]
    props = template["Resources"][logical_id(stack, whoami.function)]["Properties"]
    variables = props["Environment"]["Variables"]
    granted = statements(template, logical_id(stack, whoami.role))
    # Then whoami's function is in no VPC, says it has no database and knows no way to one
    assert "VpcConfig" not in props and whoami.function.is_bound_to_vpc is False
    assert variables[c.MCP_NO_DATABASE] == "true"
    assert not {k for k in variables if k.startswith("MCP_DB_")}
    # and its role may not connect to any database, nor manage a VPC's network interfaces (AWS's managed policy)
    assert database_users(template, granted) == set()
    assert not [a for s in granted for a in actions(s) if a.startswith(("rds-db:", "ec2:"))]
    assert "ManagedPolicyArns" not in template["Resources"][logical_id(stack, whoami.role)]["Properties"]
    # while get_messages' function stays in the VPC as the server's user
    get_props = template["Resources"][logical_id(stack, get.function)]["Properties"]
    assert "VpcConfig" in get_props and c.MCP_NO_DATABASE not in get_props["Environment"]["Variables"]
    assert database_users(template, statements(template, logical_id(stack, get.role))) == {"mcp_secure_messaging"}


def test_only_a_placement_of_task_tools_runs_tasks_with_the_task_table_and_nothing_more(make_app):
    # Given a tasks server whose slow_compute runs on a function of its own, with greet placed on another
    stack = cdk.Stack(make_app(), "PlacedTasks")
    server = spec("conformance", public=True, tasks=True, placements=(
        ToolPlacement("slow_compute", name="jobs", tasks=True), ToolPlacement("greet")))
    service = McpLambdaService(stack, "Conformance", server=server)
    template = Template.from_stack(stack).to_json()
    assert service.tasks is not None
    table_id = stack.get_logical_id(service.tasks.table.node.default_child)
    queue_id = stack.get_logical_id(service.tasks.failure_queue.node.default_child)

    def uses(statement: dict[str, Any], resource_id: str) -> bool:
        return resource_id in json.dumps(statement["Resource"])

    jobs, greet = service.tool_functions["jobs"], service.tool_functions["greet"]
    for tool, runs_tasks in ((jobs, True), (greet, False)):
        granted = statements(template, logical_id(stack, tool.role))
        table = [a for s in granted if uses(s, table_id) for a in actions(s)]
        queue = [a for s in granted if uses(s, queue_id) for a in actions(s)]
        variables = template["Resources"][logical_id(stack, tool.function)]["Properties"]["Environment"]["Variables"]
        configs = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"
                   and r["Properties"]["FunctionName"] == {"Ref": logical_id(stack, tool.function)}]
        if runs_tasks:
            # Then the task tools' function reads and writes task state, with the task settings
            assert sorted(table) == ["dynamodb:GetItem", "dynamodb:PutItem"]
            assert variables[c.MCP_TASKS_TABLE] == {"Ref": table_id}
            assert c.MCP_TASKS_HEARTBEAT_SECONDS in variables
            # and the events the front dispatches to its alias are retried, then kept in the front's queue
            assert "sqs:SendMessage" in queue
            [config] = configs
            assert stack.get_logical_id(tool.alias.node.default_child) in json.dumps(config["Properties"]["Qualifier"])
            assert config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
                "Fn::GetAtt": [queue_id, "Arn"]}
        else:
            # and the other holds none of it
            assert table == [] and queue == [] and configs == []
            assert not {k for k in variables if k.startswith("MCP_TASKS_")}
        # Neither may dispatch a task (the front does) nor invoke anything
        assert c.MCP_TASKS_WORKER_ARN not in variables
        assert not [s for s in granted if any(a.startswith("lambda:") for a in actions(s))]
