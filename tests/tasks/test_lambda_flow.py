"""The Lambda path, in-process: a request creates the task and sends `lambda:Invoke` (Event) to its own alias;
that event, handed to another execution environment, runs the tool; a third environment answers `tasks/get`.
State is in DynamoDB (moto server mode) only; the Lambda client is a recording fake.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda.tasks.local import LocalContext
from mcp_lambda.tasks.store import MemoryTaskStore
from tests.runtime.lambda_events import FakeContext, response_json, v2_event
from tests.tasks.harness import ALIAS_ARN, CONFIG, FakeLambda, Function, call
from tests.tasks.sample_server import TASKS

@pytest.fixture
def function(dynamodb_store: Any) -> Any:
    made = Function(dynamodb_store)
    yield made
    made.close()


def test_a_call_becomes_a_task_that_another_environment_runs_and_a_third_reports(function: Function) -> None:
    front, worker, poller = function.environment(), function.environment(), function.environment()
    created = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 0.1}})["result"]
    assert created["resultType"] == "task" and created["status"] == "working"
    assert created["ttlMs"] == 600_000 and created["pollIntervalMs"] == 750

    (invocation,) = function.lambda_client.invocations
    assert invocation["FunctionName"] == ALIAS_ARN, "the alias the request came through"
    assert invocation["InvocationType"] == "Event"
    assert function.lambda_client.event() == {"mcp_task": {"task_id": created["taskId"], "run": 1}}

    pending = call(poller, "tasks/get", {"taskId": created["taskId"]})["result"]
    assert pending["status"] == "working" and pending["resultType"] == "complete"

    outcome = worker(function.lambda_client.event(), LocalContext(ALIAS_ARN, timeout_seconds=60))
    assert outcome == {"taskId": created["taskId"], "outcome": "recorded"}
    done = call(poller, "tasks/get", {"taskId": created["taskId"]})["result"]
    assert done["status"] == "completed"
    # Lifespans started in the order the environments served: front, poller, then the worker.
    assert done["result"]["content"][0]["text"] == "paused 0.1 s in environment-3"

    assert worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))["outcome"] == "skipped", \
        "Lambda's retry of the same event finds the run taken"


def test_the_worker_arn_can_be_configured(dynamodb_store: Any) -> None:
    config = TaskConfig(table="tasks", on_lambda=True, worker_arn="arn:aws:lambda:us-east-1:123456789012:function:w:live")
    function = Function(dynamodb_store, config)
    try:
        call(function.environment(), "tools/call", {"name": "pause", "arguments": {"seconds": 0}})
        assert function.lambda_client.invocations[0]["FunctionName"] == config.worker_arn
    finally:
        function.close()


def test_a_worker_reaching_the_function_timeout_records_why(function: Function) -> None:
    front, worker = function.environment(), function.environment()
    task_id = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 30}})["result"]["taskId"]
    started = time.monotonic()
    outcome = worker(function.lambda_client.event(), LocalContext(ALIAS_ARN, timeout_seconds=2.5))
    assert outcome["outcome"] == "recorded" and time.monotonic() - started < 2.5, "stopped before Lambda's timeout"
    failed = call(front, "tasks/get", {"taskId": task_id})["result"]
    assert failed["status"] == "failed" and "ran out of time" in failed["error"]["message"]
    assert failed["statusMessage"] == failed["error"]["message"]


def test_cancelling_stops_the_running_worker(function: Function) -> None:
    front, worker = function.environment(), function.environment()
    task_id = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 30}})["result"]["taskId"]
    thread, outcome = function.run_worker_in_background(worker)
    time.sleep(0.5)
    ack = call(front, "tasks/cancel", {"taskId": task_id})["result"]
    assert ack["resultType"] == "complete" and not {"taskId", "status", "result", "error"} & set(ack)
    thread.join(5)
    assert outcome == {"taskId": task_id, "outcome": "stopped"}
    assert call(front, "tasks/get", {"taskId": task_id})["result"]["status"] == "cancelled"


def test_a_crashed_worker_is_reported_failed_on_the_next_get(function: Function) -> None:
    front = function.environment()
    task_id = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 30}})["result"]["taskId"]
    # A worker claims the run and dies without a word (out of memory, killed): no heartbeat, no outcome.
    assert function.tasks.lifecycle.claim(task_id, 1, "dead-worker", deadline=time.time() + 900)
    assert call(front, "tasks/get", {"taskId": task_id})["result"]["status"] == "working"
    time.sleep(CONFIG.lease_seconds + 0.2)
    failed = call(front, "tasks/get", {"taskId": task_id})["result"]
    assert failed["status"] == "failed" and "stopped responding" in failed["error"]["message"]


def test_a_worker_that_cannot_be_started_fails_the_task_at_once(dynamodb_store: Any) -> None:
    function = Function(dynamodb_store, lambda_client=FakeLambda(fail=True))
    try:
        created = call(function.environment(), "tools/call", {"name": "pause", "arguments": {"seconds": 0}})["result"]
        assert created["resultType"] == "task" and created["status"] == "failed"
        assert "could not be started" in created["statusMessage"]
    finally:
        function.close()


def test_clients_without_the_extension_get_results_or_minus_32021(function: Function) -> None:
    front = function.environment()
    synchronous = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 0}}, declare=False)["result"]
    assert synchronous["resultType"] == "complete" and "paused 0 s" in synchronous["content"][0]["text"]
    refused = call(front, "tools/call", {"name": "only_as_task", "arguments": {}}, declare=False)["error"]
    assert refused["code"] == -32021
    assert refused["data"]["requiredCapabilities"]["extensions"] == {TASKS: {}}
    legacy = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "pause", "arguments": {"seconds": 0}}}
    reply = response_json(front(v2_event(legacy, headers={"mcp-protocol-version": "2025-11-25"}), FakeContext()))
    assert "paused 0 s" in reply["result"]["content"][0]["text"], "handshake revisions have no tasks"
    assert call(front, "tools/call", {"name": "plain", "arguments": {}})["result"]["content"][0]["text"] == "plain"
    assert not function.lambda_client.invocations


def test_task_requests_are_checked(function: Function) -> None:
    front = function.environment()
    task_id = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 0}})["result"]["taskId"]
    assert call(front, "tasks/get", {"taskId": task_id}, name="another-task")["error"]["code"] == -32020
    assert call(front, "tasks/get", {"taskId": task_id}, declare=False)["error"]["code"] == -32021
    assert call(front, "tasks/get", {"taskId": "no-such-task"})["error"]["code"] == -32602
    assert call(front, "tasks/cancel", {"taskId": "no-such-task"})["error"]["code"] == -32602
    assert call(front, "tasks/list", {}, name="")["error"]["code"] == -32601
    assert call(front, "tasks/result", {"taskId": task_id})["error"]["code"] == -32601

    record = function.tasks.lifecycle.store.get(task_id)
    record.owner, version = "someone else", record.version
    record.version += 1
    assert function.tasks.lifecycle.store.replace(record, version)
    assert call(front, "tasks/get", {"taskId": task_id})["error"]["code"] == -32602, "another caller's task is unknown"


def test_on_lambda_without_a_table_task_tools_answer_synchronously() -> None:
    config = TaskConfig(on_lambda=True)
    function = Function(MemoryTaskStore(), config)
    try:
        front = function.environment()
        result = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 0}})["result"]
        assert result["resultType"] == "complete"
        assert call(front, "tools/call", {"name": "only_as_task", "arguments": {}})["error"]["code"] == -32603
    finally:
        function.close()
