"""Tasks and input-required rounds through placed tools: one task per call, its work on the tool's function.

The front makes the task (it owns the protocol: `tasks/get`, `tasks/update` and `tasks/cancel` are answered from
the store by whichever environment the client reaches) and the asynchronous invocation that runs it targets the
tool's function, which claims the run, runs the tool with its own role and database user, and records the outcome;
a call the front forwards synchronously never becomes a second task there. Input-required rounds (2026-07-28
`InputRequiredResult` with sealed `requestState`, and `Resolve` parameters answered before a task exists) cross
the hop unchanged. The conformance server's tools, placed and unplaced, through the official SDK client (and a
task that asks for input from inside, through the protocol's own requests), against `make serve`'s local functions.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import SpecError, ToolPlacement
from mcp_servers import CONFORMANCE
from tests.proxy.test_forwarding import CALLBACKS
from tests.runtime.lambda_events import response_json
from tests.tasks.client import TasksClient
from tests.tasks.harness import request

from conformance.server import tasks as conformance_tasks

PLACED = dataclasses.replace(CONFORMANCE, placements=(
    ToolPlacement(("test_input_required_result_multi_round", "test_input_required_result_request_state"),
                  name="rounds"),
    ToolPlacement(("slow_compute", "confirm_delete", "test_tool_with_task"), name="jobs", tasks=True),
))
CALLS = [
    ("test_input_required_result_multi_round", {}),      # three rounds, each with its own sealed requestState
    ("test_input_required_result_request_state", {}),
    ("slow_compute", {"seconds": 0.2, "label": "sum"}),  # a task
    ("test_tool_with_task", {}),                         # asks (Resolve) before the task exists, then a task
]


def through_the_sdk(server: LocalServer) -> tuple[list[dict[str, Any]], TasksClient]:
    tasks = TasksClient(max_poll_seconds=0.1)

    async def scenario() -> list[dict[str, Any]]:
        async with Client(server.url("conformance"), mode="2026-07-28", extensions=[tasks], **CALLBACKS) as client:
            return [(await client.call_tool(tool, arguments)).model_dump(mode="json", exclude_none=True)
                    for tool, arguments in CALLS]

    return anyio.run(scenario), tasks


def test_placed_tasks_and_rounds_answer_as_unplaced_ones_with_one_task_per_call() -> None:
    with LocalServer(port=0, servers=[CONFORMANCE]) as unplaced:
        expected, unplaced_tasks = through_the_sdk(unplaced)
    with LocalServer(port=0, servers=[PLACED]) as placed:
        actual, placed_tasks = through_the_sdk(placed)
        runner = conformance_tasks._runner
        assert runner is None or not runner._threads, "no task ran in the front's own workers"
        assert placed.tool_functions["conformance-jobs"].handler.started
    assert actual == expected
    assert [r["content"][0]["text"] for r in expected] == [
        "Ada's favorite color is blue", "state-ok: confirmed=True", "Computed sum after 0.2 s",
        "Hello, Ada, from a task"]
    assert len(placed_tasks.handles) == len(unplaced_tasks.handles) == 2, "one task per task call"
    assert placed_tasks.polls[-1].status == "completed"


def test_a_placement_declares_whether_it_runs_tasks() -> None:
    """Its function gets the task table on AWS only when declared: serving checks the declaration against the
    handler's task tools, both ways."""
    undeclared = dataclasses.replace(CONFORMANCE, placements=(ToolPlacement("slow_compute"),))
    with pytest.raises(SpecError, match=r"placement slow-compute holds the task tools slow_compute.*tasks=True"):
        LocalServer(port=0, servers=[undeclared])
    needless = dataclasses.replace(CONFORMANCE, placements=(ToolPlacement("greet", tasks=True),))
    with pytest.raises(SpecError, match=r"placement greet holds no task tool.*tasks=False"):
        LocalServer(port=0, servers=[needless])


def _send(server: LocalServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return response_json(server.functions["conformance"].invoke(request(method, params)))


def _status(server: LocalServer, task_id: str, waiting_for: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30  # a bound on a broken run, not a timing assertion
    while (task := _send(server, "tasks/get", {"taskId": task_id})["result"])["status"] != waiting_for:
        assert task["status"] == "working" and time.monotonic() < deadline, task
        time.sleep(0.05)
    return task


def test_a_placed_task_asks_for_input_and_resumes_on_its_function() -> None:
    records = conformance_tasks.lifecycle.store._records
    earlier = set(records)  # the store is the process's: other tests' tasks are in it too
    with LocalServer(port=0, servers=[PLACED]) as placed:
        created = _send(placed, "tools/call", {"name": "confirm_delete", "arguments": {"filename": "a.txt"}})
        task_id = created["result"]["taskId"]
        waiting = _status(placed, task_id, "input_required")
        assert list(waiting["inputRequests"]) == ["confirm.1"] and "requestState" not in waiting
        answer = {"confirm.1": {"action": "accept", "content": {"confirm": True}}}
        assert _send(placed, "tasks/update", {"taskId": task_id, "inputResponses": answer})["result"] is not None
        done = _status(placed, task_id, "completed")
        assert done["result"]["content"][0]["text"] == "a.txt deleted"
        assert [r.tool for r in records.values() if r.task_id == task_id] == ["confirm_delete"]
        made = [record.tool for key, record in records.items() if key not in earlier]
        assert made == ["confirm_delete"], "one task, not one per function"
