"""Task state in DynamoDB: one item per task, written only under a condition, expired by DynamoDB's TTL.

Table schema (created by the CDK side): partition key `task_id` (S), no sort key, TTL attribute
`expires_at` (N, epoch seconds), on-demand billing. Each item keeps the whole record as zlib-compressed
JSON in `record` (B), so results up to a few megabytes of text fit in DynamoDB's 400 KB item limit, plus
plain `status`, `tool`, `updated_at` and `version` attributes for conditions and for reading the table by hand.

Writes are conditional: creation on `attribute_not_exists(task_id)`, every later write on the version it
was decided from (`version = :read`), so of two racing writers (a completion and a cancellation, two
`tasks/update`s) exactly one wins and the other re-reads. Reads are strongly consistent, so a task is
visible to `tasks/get` as soon as `CreateTaskResult` is sent. DynamoDB deletes expired items lazily (up
to days later), so reads treat an item past `expires_at` as gone.

IAM: dynamodb:GetItem, dynamodb:PutItem on the table.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from typing import Any

from mcp_lambda import contract as c
from mcp_lambda.tasks.record import TaskRecord, record_from_dict, record_to_dict
from mcp_lambda.tasks.store import RecordTooLarge, TaskExists, TaskStore


class DynamoDBTaskStore(TaskStore):
    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # in the Lambda runtime; loaded only by functions that keep tasks

            self._client = boto3.client("dynamodb")
        return self._client

    def create(self, record: TaskRecord) -> None:
        try:
            self._put(record, f"attribute_not_exists({c.TASK_TABLE_PARTITION_KEY})", {})
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise TaskExists(record.task_id) from exc

    def get(self, task_id: str) -> TaskRecord | None:
        item = self.client.get_item(TableName=self.table, Key={c.TASK_TABLE_PARTITION_KEY: {"S": task_id}}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        record = record_from_dict(json.loads(zlib.decompress(item["record"]["B"])))
        return record if record.expires_at > time.time() else None

    def replace(self, record: TaskRecord, expected_version: int) -> bool:
        try:
            self._put(record, "version = :read", {":read": {"N": str(expected_version)}})
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _put(self, record: TaskRecord, condition: str, values: dict[str, Any]) -> None:
        body = zlib.compress(json.dumps(record_to_dict(record), separators=(",", ":")).encode())
        item = {
            c.TASK_TABLE_PARTITION_KEY: {"S": record.task_id},
            "version": {"N": str(record.version)},
            "status": {"S": record.status},
            "tool": {"S": record.tool},
            "updated_at": {"N": repr(record.updated_at)},
            c.TASK_TABLE_TTL_ATTRIBUTE: {"N": str(math.ceil(record.expires_at))},
            "record": {"B": body},
        }
        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression=condition,
                                 **({"ExpressionAttributeValues": values} if values else {}))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationException" and "size" in str(exc).lower():
                raise RecordTooLarge(f"{len(body)} bytes compressed") from exc
            raise
