"""Task metrics as CloudWatch reads them: EMF documents on stdout, namespace `McpServers`, dimension `service`.

The Lambda path in-process (harness.py): a request creates the task, another execution environment runs it
with heartbeats, pollers and cancellers end tasks; the EMF lines each step prints are what is asserted.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest

from mcp_lambda.tasks.local import LocalContext
from mcp_lambda.tasks.store import MemoryTaskStore
from tests.tasks.harness import ALIAS_ARN, CONFIG, Function, call

TASK_METRICS = ("TasksStarted", "TasksCompleted", "TasksFailed", "TasksCancelled", "TaskRunningAge")


@pytest.fixture
def function(monkeypatch: pytest.MonkeyPatch) -> Iterator[Function]:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    made = Function(MemoryTaskStore())
    yield made
    made.close()


def task_metrics(out: str) -> list[tuple[str, float]]:
    """(name, value) of every task metric printed, in order; each checked to be a valid, alarmable document."""
    found = []
    for line in out.splitlines():
        if not line.startswith("{") or "_aws" not in line:
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        names = [metric["Name"] for metric in directive["Metrics"]]
        if not set(names) & set(TASK_METRICS):
            continue
        assert directive["Namespace"] == "McpServers"
        assert directive["Dimensions"] == [["service"]], "service only: alarms cannot sum over tools"
        assert document["service"] == "tasks-sample"
        (name,) = names
        unit = {m["Name"]: m["Unit"] for m in directive["Metrics"]}[name]
        assert unit == ("Seconds" if name == "TaskRunningAge" else "Count")
        (value,) = document[name]  # Powertools writes each value as a one-element list
        found.append((name, value))
    return found


def counts(found: list[tuple[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for name, value in found:
        if name != "TaskRunningAge":
            totals[name] = totals.get(name, 0) + value
    return totals


def test_a_task_counts_as_started_reports_its_age_while_running_and_counts_as_completed_once(
    function: Function, capsys: pytest.CaptureFixture[str]
) -> None:
    front, worker = function.environment(), function.environment()
    capsys.readouterr()
    task_id = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 1.0}})["result"]["taskId"]
    assert task_metrics(capsys.readouterr().out) == [("TasksStarted", 1.0)]

    assert worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))["outcome"] == "recorded"
    found = task_metrics(capsys.readouterr().out)
    ages = [value for name, value in found if name == "TaskRunningAge"]
    # One age per heartbeat (every 0.2 s over a 1 s run), growing: the period's Maximum is the oldest task's age.
    assert len(ages) >= 3 and ages == sorted(ages) and 0 < ages[0] < ages[-1] < 2
    assert found[-1] == ("TasksCompleted", 1.0) and counts(found) == {"TasksCompleted": 1.0}

    assert worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))["outcome"] == "skipped"
    assert call(front, "tasks/get", {"taskId": task_id})["result"]["status"] == "completed"
    assert task_metrics(capsys.readouterr().out) == [], "a repeated event and a poll count nothing"


def test_a_task_whose_worker_never_starts_counts_as_failed_once(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    function = Function(MemoryTaskStore(), dataclasses.replace(CONFIG, start_timeout_seconds=0.2))
    try:
        front, poller = function.environment(), function.environment()
        task_id = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 0}})["result"]["taskId"]
        time.sleep(0.3)
        capsys.readouterr()
        assert call(poller, "tasks/get", {"taskId": task_id})["result"]["status"] == "failed"
        assert call(poller, "tasks/get", {"taskId": task_id})["result"]["status"] == "failed"
        assert task_metrics(capsys.readouterr().out) == [("TasksFailed", 1.0)]
    finally:
        function.close()


def test_a_cancelled_task_counts_as_cancelled_once_and_its_worker_adds_nothing(
    function: Function, capsys: pytest.CaptureFixture[str]
) -> None:
    front, worker = function.environment(), function.environment()
    task_id = call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 30}})["result"]["taskId"]
    thread, outcome = function.run_worker_in_background(worker)
    time.sleep(0.5)
    capsys.readouterr()
    call(front, "tasks/cancel", {"taskId": task_id})
    call(front, "tasks/cancel", {"taskId": task_id})
    thread.join(5)
    assert outcome["outcome"] == "stopped"
    assert counts(task_metrics(capsys.readouterr().out)) == {"TasksCancelled": 1.0}


def test_disabled_metrics_print_nothing(function: Function, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    front, worker = function.environment(), function.environment()
    capsys.readouterr()
    call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 0.5}})
    worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))
    assert task_metrics(capsys.readouterr().out) == []


def tool_calls(out: str) -> list[tuple[str, float, float]]:
    """(tool, ToolCalls, ToolErrors) of every per-tool document printed (observability.py), in order."""
    found = []
    for line in out.splitlines():
        if line.startswith("{") and '"ToolCalls"' in line:
            document = json.loads(line)
            found.append((document["tool"], document["ToolCalls"], document["ToolErrors"]))
    return found


def test_a_task_tool_counts_once_in_tool_calls_when_its_worker_runs_it(
    function: Function, capsys: pytest.CaptureFixture[str]
) -> None:
    """The request that creates the task has not run the tool: only the worker's run is a tool call."""
    front, worker = function.environment(), function.environment()
    capsys.readouterr()
    call(front, "tools/call", {"name": "pause", "arguments": {"seconds": 0.1}})
    assert tool_calls(capsys.readouterr().out) == []
    assert worker(function.lambda_client.event(), LocalContext(ALIAS_ARN))["outcome"] == "recorded"
    assert tool_calls(capsys.readouterr().out) == [("pause", [1.0], [0.0])]
