"""DynamoDB for the task store tests: moto in server mode on a loopback port, a fresh table per test.

The table is made as the CDK side makes it (partition key `task_id`, TTL on `expires_at`), and the store
talks to it over real HTTP with botocore, so conditional writes and their failures are DynamoDB's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from mcp_lambda.tasks.dynamodb import DynamoDBTaskStore
from tests.loopback import moto_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs longer than API Gateway's 29 s limit (run once, by default)")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def dynamodb(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def task_table(dynamodb: Any) -> Iterator[str]:
    name = f"mcp-tasks-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}])
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def dynamodb_store(dynamodb: Any, task_table: str) -> DynamoDBTaskStore:
    return DynamoDBTaskStore(task_table, client=dynamodb)
