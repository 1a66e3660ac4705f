"""Input asked from inside a running task, and who may see a task, on the Lambda path with DynamoDB."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_lambda.local.oidc_issuer import DEV_AUDIENCE, serve_issuer
from mcp_lambda.auth import SIGNED_IN, Access
from mcp_lambda.tasks.local import LocalContext
from tests.tasks.harness import ALIAS_ARN, Function, call

ACCEPT = {"action": "accept", "content": {"sure": True}}


@pytest.fixture
def function(dynamodb_store: Any) -> Any:
    made = Function(dynamodb_store)
    yield made
    made.close()


def test_a_task_asks_for_input_twice_and_resumes_in_new_invocations(function: Function) -> None:
    front, worker = function.environment(), function.environment()
    task_id = call(front, "tools/call", {"name": "confirm", "arguments": {"filename": "a.txt"}})["result"]["taskId"]
    for run in (1, 2):
        assert function.lambda_client.event() == {"mcp_task": {"task_id": task_id, "run": run}}
        assert worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))["outcome"] == "recorded"
        waiting = call(front, "tasks/get", {"taskId": task_id})["result"]
        assert waiting["status"] == "input_required"
        assert list(waiting["inputRequests"]) == [f"sure.{run}"], "the same tool key, a new key per round"
        assert waiting["inputRequests"][f"sure.{run}"]["method"] == "elicitation/create"
        assert "requestState" not in waiting, "the tool's state stays server-side"
        assert call(front, "tasks/update", {"taskId": task_id, "inputResponses": {f"sure.{run}": ACCEPT}})["result"]["resultType"] == "complete"
        assert call(front, "tasks/get", {"taskId": task_id})["result"]["status"] == "working"
    assert worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))["outcome"] == "recorded"
    done = call(front, "tasks/get", {"taskId": task_id})["result"]
    assert done["status"] == "completed" and done["result"]["content"][0]["text"] == "a.txt deleted after 2 rounds"
    assert len(function.lambda_client.invocations) == 3


def test_an_invalid_answer_is_refused_and_answers_to_other_keys_ignored(function: Function) -> None:
    front, worker = function.environment(), function.environment()
    task_id = call(front, "tools/call", {"name": "confirm", "arguments": {"filename": "b.txt"}})["result"]["taskId"]
    worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))
    refused = call(front, "tasks/update", {"taskId": task_id, "inputResponses": {"sure.1": {"action": "maybe"}}})
    assert refused["error"]["code"] == -32602
    ignored = call(front, "tasks/update", {"taskId": task_id, "inputResponses": {"sure.9": ACCEPT}})
    assert ignored["result"]["resultType"] == "complete"
    assert call(front, "tasks/get", {"taskId": task_id})["result"]["status"] == "input_required"
    assert len(function.lambda_client.invocations) == 1, "nothing resumed"


def test_tasks_belong_to_their_caller_and_the_tool_sees_the_callers_claims(function: Function, monkeypatch) -> None:
    with serve_issuer() as issuer:
        monkeypatch.setenv("MCP_AUTH_CONFIG", json.dumps({
            "resource": "https://tasks.example/mcp", "providers": [{"issuer": issuer.issuer, "audiences": [DEV_AUDIENCE]}]}))
        access = Access(default=SIGNED_IN)
        front, worker = function.environment(access), function.environment(access)
        alice, bob = issuer.mint("alice@company.com"), issuer.mint("bob@company.com")

        task_id = call(front, "tools/call", {"name": "whoami", "arguments": {}}, token=alice)["result"]["taskId"]
        assert worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))["outcome"] == "recorded"
        done = call(front, "tasks/get", {"taskId": task_id}, token=alice)["result"]
        assert done["result"]["content"][0]["text"] == "alice@company.com", "the worker ran it as alice"

        # Another caller is told no such task; an anonymous one is challenged to sign in before anything else.
        for stranger, code in ((bob, -32602), (None, -32001)):
            for method in ("tasks/get", "tasks/cancel"):
                assert call(front, method, {"taskId": task_id}, token=stranger)["error"]["code"] == code
        assert call(front, "tasks/get", {"taskId": task_id}, token=alice)["result"]["status"] == "completed"
        record = function.tasks.lifecycle.store.get(task_id)
        assert "token" not in record.caller, "the bearer token itself is never stored"
