"""The CDK side and the runtime agree: the task table as `McpLambdaService(tasks=...)` synthesizes it is one the
store works with, and the role is granted exactly the DynamoDB calls the store makes (recorded from botocore
while a task goes through its whole life on that table, in moto server mode)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from mcp_lambda_cdk.bundling import SKIP_BUNDLING_CONTEXT
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.tasks import TasksOptions
from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda.tasks.dynamodb import DynamoDBTaskStore
from mcp_lambda.tasks.lifecycle import TaskLifecycle, completed
from mcp_lambda.tasks.record import TaskRecord
from tests.cdk.conftest import cdk_json_context, spec


def synthesized(outdir: Path) -> dict[str, Any]:
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(), SKIP_BUNDLING_CONTEXT: True})
    stack = cdk.Stack(app, "Contract")
    McpLambdaService(stack, "Reports", server=spec("reports"), tasks=TasksOptions())
    return Template.from_stack(stack).to_json()["Resources"]


def test_the_synthesized_table_serves_the_store_and_grants_exactly_its_calls(dynamodb: Any, tmp_path: Path) -> None:
    # Given the table and the role's DynamoDB permissions as synthesized
    resources = synthesized(tmp_path)
    (table,) = (r["Properties"] for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table")
    granted = {
        action
        for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("dynamodb:")
    }
    name = f"contract-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=name, KeySchema=table["KeySchema"], BillingMode=table["BillingMode"],
                          AttributeDefinitions=table["AttributeDefinitions"])
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=table["TimeToLiveSpecification"])
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        # When a task is created, claimed, kept alive, raced, finished and read on it
        lifecycle = TaskLifecycle(DynamoDBTaskStore(name, client=dynamodb), TaskConfig(heartbeat_seconds=1))
        now = time.time()
        record = TaskRecord(task_id=str(uuid.uuid4()), tool="messages_report", arguments={}, meta={}, created_at=now,
                            ttl_ms=60_000, poll_interval_ms=2000, lease_until=now + 300)
        lifecycle.create(record)
        assert lifecycle.claim(record.task_id, 1, "worker", deadline=now + 900) is not None
        assert lifecycle.claim(record.task_id, 1, "another worker", deadline=now + 900) is None
        assert lifecycle.heartbeat(record.task_id, 1, "worker")
        assert lifecycle.finish(record.task_id, 1, "worker", completed({"content": []}))
        assert lifecycle.cancel(record.task_id).status == "completed"  # type: ignore[union-attr]
        store_calls = set(calls)
        item = dynamodb.get_item(TableName=name, Key={"task_id": {"S": record.task_id}})["Item"]
    finally:
        dynamodb.delete_table(TableName=name)

    # Then the item expires by the table's TTL attribute, and the store needed exactly what the role may do
    assert int(item[table["TimeToLiveSpecification"]["AttributeName"]]["N"]) >= now + 60
    assert {f"dynamodb:{operation}" for operation in store_calls} == granted == {"dynamodb:GetItem", "dynamodb:PutItem"}
