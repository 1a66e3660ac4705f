"""Every MCP server function app.py deploys, run as Lambda runs it (the harness: conftest.py, harness.py).

Each function's bundle (built by the project's bundler for this CPU) is served by awslambdaric from a read-only
task root as another user, with the variables of its synthesized template rendered to local stand-ins (moto,
the development issuer over HTTPS in place of Cognito, the local PostgreSQL in place of RDS Proxy), frozen between
invocations. Per function: initialize, tools/list, a tools/call that succeeds, the 2026-07-28 server/discover,
a body that is not JSON (a JSON-RPC parse error with 400, which is a response, not a function error), and
SIGTERM (exit 0, the lifespan closed: the SDK's session manager says so, and a database server's connection,
one per environment and reused, goes away). The task tool's work runs in another environment of the same
function, which gets it through Lambda's Invoke API as an asynchronous event. A server with placed tools runs with
an environment of each tool function beside its front, which forwards each call through Lambda's Invoke API
(`RequestResponse` to the tool function's `live` alias, as its template names it): the calls run there, each tool
function on a connection of its own, and the front, which runs none of its tools, opens none.

When the tests run as root the functions run as `nobody`; otherwise as the session's own user (image.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.lambda_runtime.conftest import by_kind
from tests.lambda_runtime.database_link import DatabaseLink
from tests.lambda_runtime.environment import ExecutionEnvironment, LambdaFunction
from tests.lambda_runtime.harness import MODERN, Client, Deployment
from tests.lambda_runtime.image import function_user

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
SESSION_CLOSED = "StreamableHTTP session manager shutting down"
EMAIL = "alice@company.com"


@dataclass(frozen=True)
class Server:
    """What one server is expected to answer."""

    tools: frozenset[str]
    call: tuple[str, dict[str, Any]]  # a tools/call that succeeds


SERVERS = {
    "weather": Server(frozenset({"get_weather"}), ("get_weather", {"city": "Lisbon"})),
    "messaging": Server(frozenset({"post_message", "get_messages"}), ("post_message", {"text": "under Lambda"})),
    "secure-messaging": Server(frozenset({"post_message", "get_messages", "whoami"}),
                               ("post_message", {"text": "signed in under Lambda"})),
    "reports": Server(frozenset({"messages_report"}), ("messages_report", {})),
    "messaging-placed": Server(frozenset({"post_message", "get_messages"}),
                               ("post_message", {"text": "placed under Lambda"})),
}


def test_every_server_function_of_the_app_is_run_here(synthesized):
    """The servers below are the app's: a new one fails here until it has its expected answers. Their placed tools'
    functions are run with them (`ToolEnvironments`)."""
    assert sorted(f.name for f in by_kind(synthesized, "service")) == sorted(SERVERS)
    assert sorted(f.name for f in by_kind(synthesized, "tool")) == [
        "messaging-placed/get-messages", "messaging-placed/post-message"]


def test_every_python_function_with_a_bundle_is_one_the_harness_runs(synthesized):
    """Every Python function of the app whose code is an asset (a bundle) is a service's, a migration's or the
    authorization server's, which the tests here run. The others carry their code inline in the template (the
    Cognito pool's access-token trigger, a few lines of the standard library): no bundle, no runtime of ours."""
    ours = {(f.stack, f.logical_id) for f in synthesized}
    templates = {f.stack: f.template for f in synthesized}
    bundled, inline = set(), set()
    for stack, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Function" and props.get("Runtime", "").startswith("python"):
                (inline if "ZipFile" in props["Code"] else bundled).add((stack, logical_id))
    assert bundled == ours
    assert not inline & ours


def server_function(deployment: Deployment, name: str):
    (function,) = [f for f in by_kind(deployment.functions, "service") if f.name == name]
    return function


class ToolEnvironments:
    """An environment of each placed tool's function of a server, each with its own link to the database, reached
    by the front through Lambda's Invoke API (`RequestResponse`, routed by function name)."""

    def __init__(self, deployment: Deployment, server: str, database_url: str) -> None:
        self.links: dict[str, DatabaseLink] = {}
        self.environments: dict[str, ExecutionEnvironment] = {}
        for function in by_kind(deployment.functions, "tool"):
            if function.server["name"] != server:
                continue
            link = self.links[function.placement] = DatabaseLink(database_url)
            configured = deployment.configure(function, link.url if function.server["database"] else None)
            environment = self.environments[function.placement] = deployment.start(configured)
            deployment.lambda_api.route(configured.name, environment.api)

    def close(self) -> None:
        for environment in self.environments.values():
            environment.close()
        for link in self.links.values():
            link.close()


def token_for(deployment: Deployment, function, environment: ExecutionEnvironment) -> str:
    """An access token from the issuer standing in for the function's Cognito pool, for the audience the
    function's synthesized MCP_AUTH_CONFIG names for it."""
    config = json.loads(environment.function.variables["MCP_AUTH_CONFIG"])
    for provider in config["providers"]:
        for (stack, _), issuer in deployment.stand_ins.issuers.items():
            if stack == function.stack and provider["issuer"] == issuer.issuer:
                return issuer.mint(EMAIL, audience=provider["audiences"][0], scopes=("messages:write",))
    raise AssertionError(f"no stand-in issuer among {config['providers']}")


def process_uid(environment: ExecutionEnvironment) -> int:
    status = Path(f"/proc/{environment.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(SERVERS))
def test_the_function_serves_mcp_under_the_runtime_interface_client(name, deployment, database_url):
    function = server_function(deployment, name)
    expected = SERVERS[name]
    link = DatabaseLink(database_url)
    configured = deployment.configure(function, link.url if function.server["database"] else None)
    host, auth_type = deployment.url(function)
    tools = ToolEnvironments(deployment, name, database_url)
    environment = deployment.start(configured)
    try:
        assert process_uid(environment) == (function_user() or (os.getuid(),))[0]
        client = Client(environment, host, auth_type)
        if function.server["sign_in"]:
            challenge = client.request("initialize", initialize_params())
            assert challenge.status == 401 and "resource_metadata=" in challenge.headers["www-authenticate"]
            client.token = token_for(deployment, function, environment)

        initialized = client.request("initialize", initialize_params())
        assert initialized.status == 200, initialized.body
        assert initialized.json()["result"]["protocolVersion"] == "2025-11-25"

        listed = client.request("tools/list")
        assert {tool["name"] for tool in listed.json()["result"]["tools"]} == expected.tools

        tool, arguments = expected.call
        called = client.request("tools/call", {"name": tool, "arguments": arguments}).json()["result"]
        assert called["isError"] is False, called
        check_result(name, called, client)

        discovered = client.modern("server/discover")
        assert discovered.status == 200, discovered.body
        assert MODERN in discovered.json()["result"]["supportedVersions"]

        malformed = client.post(b'{"jsonrpc": "2.0", "id": 1, "method": ', {"mcp-protocol-version": "2025-11-25"})
        assert malformed.status == 400 and malformed.json()["error"]["code"] == -32700

        if function.server["database"] and not tools.environments:
            assert (link.connections, link.open) == (1, 1), "one connection per environment, reused"
        if tools.environments:
            # A placed server's calls ran on its tool functions, each on its own connection; the front, which runs
            # none of its tools, opened none.
            assert link.connections == 0, "the front of placed tools does not connect"
            invoked = [i for i in deployment.lambda_api.invocations if i["type"] == "RequestResponse"]
            assert {tools.environments[p].function.name for p in tools.environments} <= {i["function"] for i in invoked}
            assert {i["qualifier"] for i in invoked} == {"live"}
            for placement, tool_link in tools.links.items():
                assert (tool_link.connections, tool_link.open) == (1, 1), placement
            # A tool function has no URL; an HTTP event that reaches it anyway is refused as HTTP, not served.
            for placement, tool_environment in tools.environments.items():
                straight = Client(tool_environment, host, auth_type).request("tools/list")
                assert straight.status == 403 and straight.json()["error"]["code"] == -32600, placement

        # Frozen after its answer (Lambda's freeze between invocations), thawed by the next event.
        environment.api.wait_idle(timeout=30)  # a guard: it asks for the next event right after answering
        assert environment.api.frozen
        assert client.request("ping").json()["result"] == {}
        if function.server["tasks"]:
            run_a_task_in_another_environment(deployment, configured, client, database_url)

        returncode = environment.shut_down()
        assert returncode == 0, f"exit {returncode} after SIGTERM:\n{environment.output()[-3000:]}"
        assert SESSION_CLOSED in environment.output(), "the lifespan closed"
        if function.server["database"] and not tools.environments:
            link.wait_closed(timeout=10)
            assert (link.open, link.goodbyes, link.vanished) == (0, 1, 0), "the lifespan closed its connection"
        for placement, tool_environment in tools.environments.items():
            assert tool_environment.shut_down() == 0, f"{placement}:\n{tool_environment.output()[-3000:]}"
            tools.links[placement].wait_closed(timeout=10)
            assert (tools.links[placement].open, tools.links[placement].goodbyes) == (0, 1), placement
    finally:
        environment.close()
        tools.close()
        link.close()


def initialize_params() -> dict[str, Any]:
    return {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "harness", "version": "1"}}


def check_result(name: str, result: dict[str, Any], client: Client) -> None:
    """The tools/call of `name` did what it says."""
    if name == "weather":
        assert result["content"][0]["text"] == "Weather in Lisbon: Thunderstorms, 40°F"
    elif name in ("messaging", "secure-messaging", "messaging-placed"):
        text = SERVERS[name].call[1]["text"]
        latest = client.request("tools/call", {"name": "get_messages", "arguments": {"limit": 1}}).json()["result"]
        assert latest["structuredContent"]["result"][0]["text"] == text
        if name == "secure-messaging":
            assert latest["structuredContent"]["result"][0]["author"] == EMAIL
            whoami = client.request("tools/call", {"name": "whoami", "arguments": {}}).json()["result"]
            assert whoami["structuredContent"]["email"] == EMAIL, whoami
    elif name == "reports":
        assert result["structuredContent"]["messages"] >= 0, result
    else:
        raise AssertionError(f"no check for {name}")


def run_a_task_in_another_environment(deployment: Deployment, configured: LambdaFunction, client: Client,
                                      database_url: str) -> None:
    """A 2026-07-28 call that declares the Tasks extension becomes a task; its work is an asynchronous Invoke of
    the same function (through Lambda's Invoke API), run by a second environment; the first reports it done."""
    link = DatabaseLink(database_url)
    worker = deployment.start(replace(configured, variables={**configured.variables, "DATABASE_URL": link.url}))
    lambda_api = deployment.lambda_api
    lambda_api.route(configured.name, worker.api)
    try:
        tool, arguments = SERVERS["reports"].call
        created = client.modern("tools/call", {"name": tool, "arguments": arguments}, name=tool,
                                capabilities={"extensions": {TASKS_EXTENSION: {}}}).json()["result"]
        assert created["resultType"] == "task", created
        invocation = lambda_api.invocations[-1]
        assert invocation["function"] == configured.name and invocation["qualifier"] == "live"
        assert invocation["event"] == {"mcp_task": {"task_id": created["taskId"], "run": 1}}
        kind, outcome = worker.api.answer(invocation["request_id"])
        assert (kind, outcome) == ("response", {"taskId": created["taskId"], "outcome": "recorded"}), \
            worker.output()[-3000:]
        done = client.modern("tasks/get", {"taskId": created["taskId"]}, name=created["taskId"],
                             capabilities={"extensions": {TASKS_EXTENSION: {}}}).json()["result"]
        assert done["status"] == "completed", done
        assert done["result"]["structuredContent"]["messages"] >= 0
        assert worker.shut_down() == 0, worker.output()[-3000:]
        link.wait_closed(timeout=10)
        assert (link.connections, link.goodbyes) == (1, 1), "the worker's own connection, closed at SIGTERM"
    finally:
        worker.close()
        link.close()

