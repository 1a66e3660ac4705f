"""What the DynamoDB store writes: the item the CDK table must accommodate, and results too large for an item."""

from __future__ import annotations

import math
import os
import time
import uuid
from typing import Any

from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda.tasks.dynamodb import DynamoDBTaskStore
from mcp_lambda.tasks.lifecycle import TaskLifecycle, completed
from mcp_lambda.tasks.record import TaskRecord


def record(ttl_ms: int = 3_600_000) -> TaskRecord:
    now = time.time()
    return TaskRecord(task_id=str(uuid.uuid4()), tool="report", arguments={}, meta={}, created_at=now,
                      ttl_ms=ttl_ms, poll_interval_ms=2000, lease_until=now + 300)


def test_the_item_has_the_key_the_ttl_attribute_and_readable_attributes(dynamodb: Any, dynamodb_store: DynamoDBTaskStore) -> None:
    task = record()
    dynamodb_store.create(task)
    item = dynamodb.get_item(TableName=dynamodb_store.table, Key={"task_id": {"S": task.task_id}})["Item"]
    assert set(item) == {"task_id", "version", "status", "tool", "updated_at", "expires_at", "record"}
    assert item["expires_at"] == {"N": str(math.ceil(task.created_at + 3600))}, "epoch seconds, for DynamoDB's TTL"
    assert item["status"] == {"S": "working"} and item["tool"] == {"S": "report"} and item["version"] == {"N": "1"}
    assert "B" in item["record"]


def test_a_large_result_is_compressed_and_one_too_large_fails_the_task_instead(dynamodb_store: DynamoDBTaskStore) -> None:
    lifecycle = TaskLifecycle(dynamodb_store, TaskConfig())
    text = " ".join(["every message summarised, line after line"] * 40_000)  # 1.7 MB of text
    fits, too_large = record(), record()
    for task in (fits, too_large):
        dynamodb_store.create(task)
        lifecycle.claim(task.task_id, 1, "worker", deadline=time.time() + 60)

    assert lifecycle.finish(fits.task_id, 1, "worker", completed({"content": [{"type": "text", "text": text}]}))
    assert dynamodb_store.get(fits.task_id).result["content"][0]["text"] == text

    noise = os.urandom(450_000).hex()  # incompressible
    assert lifecycle.finish(too_large.task_id, 1, "worker", completed({"content": [{"type": "text", "text": noise}]}))
    failed = dynamodb_store.get(too_large.task_id)
    assert failed.status == "failed" and "too large" in failed.error["message"]


def test_stale_writes_lose(dynamodb_store: DynamoDBTaskStore) -> None:
    task = record()
    dynamodb_store.create(task)
    first, second = dynamodb_store.get(task.task_id), dynamodb_store.get(task.task_id)
    first.version = 2
    assert dynamodb_store.replace(first, 1)
    second.version = 2
    assert not dynamodb_store.replace(second, 1)
