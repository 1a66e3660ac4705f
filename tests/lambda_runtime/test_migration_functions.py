"""Every schema-migration function of the app, run as Lambda runs it, against a throwaway database.

CloudFormation reaches a migration function through the CDK provider framework, whose `onEvent` function passes
on each custom resource event; here each custom resource the function serves (found in the template by the
provider that names the function) gets the events a deployment sends: Create, then an Update with the same
properties, then Delete. The database is new and empty, reached over TCP (database_link.py) with the local
`DATABASE_URL` in place of the RDS Proxy configuration (stand_ins.py). Create applies every migration file of the
function's bundle, Update applies none, Delete leaves the schema; each invocation closes its connection.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pg8000.native
import pytest

from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.local.database import ensure_database
from tests.lambda_runtime.conftest import by_kind
from tests.lambda_runtime.database_link import DatabaseLink
from tests.lambda_runtime.environment import ExecutionEnvironment
from tests.lambda_runtime.harness import Deployment
from tests.lambda_runtime.synthesized import SynthesizedFunction

#: Custom resources a migration function serves that are not sent here, and why.
NOT_SENT = {
    # Database users are roles of the whole PostgreSQL server, not of the throwaway database: making them here
    # would reach into every other test's database.
    "Custom::McpDatabaseUser": "roles are server-wide",
}


def served_resources(function: SynthesizedFunction) -> list[tuple[str, dict[str, Any]]]:
    """The custom resources whose provider's onEvent function hands their events to `function`, in the order
    CloudFormation creates them (their DependsOn among one another)."""
    resources = function.template["Resources"]
    providers = {logical_id for logical_id, resource in resources.items()
                 if resource["Type"] == "AWS::Lambda::Function"
                 and resource["Properties"].get("Environment", {}).get("Variables", {}).get(
                     "USER_ON_EVENT_FUNCTION_ARN") == {"Fn::GetAtt": [function.logical_id, "Arn"]}}
    served = {logical_id: resource for logical_id, resource in resources.items()
              if resource["Type"].startswith("Custom::")
              and resource["Properties"].get("ServiceToken", {}).get("Fn::GetAtt", [None])[0] in providers}
    ordered: list[tuple[str, dict[str, Any]]] = []
    while len(ordered) < len(served):
        done = {logical_id for logical_id, _ in ordered}
        for logical_id, resource in served.items():
            depends = resource.get("DependsOn", [])
            depends = {depends} if isinstance(depends, str) else set(depends)
            if logical_id not in done and not (depends & set(served)) - done:
                ordered.append((logical_id, resource))
                break
    return ordered


def event(request_type: str, function: SynthesizedFunction, deployment: Deployment, logical_id: str,
          resource: dict[str, Any], physical_id: str | None = None) -> dict[str, Any]:
    """What the provider framework's onEvent hands the function (CloudFormation's request, its properties
    rendered)."""
    properties = {name: deployment.stand_ins.render(function.stack, function.template, value)
                  for name, value in resource["Properties"].items() if name != "ServiceToken"}
    message = {"RequestType": request_type, "RequestId": str(uuid.uuid4()), "ResourceType": resource["Type"],
               "LogicalResourceId": logical_id, "ResponseURL": "https://cloudformation-custom-resource.invalid/",
               "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{function.stack}/{uuid.uuid4()}",
               "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider-onEvent",
               "ResourceProperties": {"ServiceToken": "provider", **properties}}
    if physical_id is not None:
        message["PhysicalResourceId"] = physical_id
    if request_type == "Update":
        message["OldResourceProperties"] = message["ResourceProperties"]
    return message


def tables(url: str) -> tuple[set[str], list[str]]:
    connection = connect(DatabaseConfig.from_url(url))
    try:
        names = {row[0] for row in connection.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        applied = [row[0] for row in connection.run("SELECT name FROM schema_migrations ORDER BY name")] \
            if "schema_migrations" in names else []
        return names, applied
    finally:
        connection.close()


@pytest.mark.timeout(600)
def test_each_migration_function_migrates_a_new_database(deployment, admin_url):
    functions = by_kind(deployment.functions, "migrations")
    assert functions, "the app's database stacks migrate their schema with a function"
    for function in functions:
        served = served_resources(function)
        kinds = {resource["Type"] for _, resource in served}
        assert "Custom::McpSchemaMigrations" in kinds and kinds <= {"Custom::McpSchemaMigrations", *NOT_SENT}, kinds
        name = f"mcp_migrations_{uuid.uuid4().hex[:12]}"
        url = ensure_database(admin_url, name)
        link = DatabaseLink(url)
        configured = deployment.configure(function, link.url)
        files = sorted(p.name for p in Path(configured.task_root, configured.variables["MCP_MIGRATIONS_DIR"])
                       .glob("*.sql"))
        environment = deployment.start(configured)
        try:
            assert tables(url) == (set(), []), "a new database"
            for logical_id, resource in served:
                if resource["Type"] in NOT_SENT:
                    continue
                created = answer(environment, event("Create", function, deployment, logical_id, resource))
                assert created["Data"]["Applied"] == ",".join(files), function.path
                names, applied = tables(url)
                assert applied == files and names > {"schema_migrations"}, (names, applied)
                physical_id = created["PhysicalResourceId"]
                updated = answer(environment, event("Update", function, deployment, logical_id, resource, physical_id))
                assert updated == {"PhysicalResourceId": physical_id, "Data": {"Applied": "none"}}
                deleted = answer(environment, event("Delete", function, deployment, logical_id, resource, physical_id))
                assert deleted == {"PhysicalResourceId": physical_id}
                assert tables(url)[1] == files, "Delete leaves the schema"
            link.wait_closed(timeout=10)
            assert link.open == 0 and link.goodbyes == link.connections > 0, "each invocation closes its connection"
        finally:
            environment.close()
            link.close()
            drop(admin_url, name)


def answer(environment: ExecutionEnvironment, message: dict[str, Any]) -> dict[str, Any]:
    kind, body = environment.invoke(message)
    assert kind == "response", f"{kind}: {body}\n{environment.output()[-3000:]}"
    return body


def drop(admin_url: str, name: str) -> None:
    admin = connect(DatabaseConfig.from_url(admin_url))
    try:
        admin.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(name)} WITH (FORCE)")
    finally:
        admin.close()
