"""How a task's work is started somewhere other than the request that created it.

A Lambda execution environment is frozen as soon as its response is returned, so work left running in a
thread would stop mid-way. The request therefore only records the task and starts an asynchronous
invocation of the same function with a small event; that invocation runs the tool to completion (up to
the function's timeout, 15 minutes at most) and records the outcome:

    {"mcp_task": {"task_id": "<id>", "run": 1}}

The tasks extension registers for these events (mcp_lambda.invocation), and worker.py runs them. `run` names the run of the tool the
event is for (a task that asks for input runs once more per answered round); a stale or repeated event
(Lambda retries asynchronous events) finds its run already claimed and does nothing.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from mcp_lambda import contract as c
from mcp_lambda.invocation import Invocation
from mcp_lambda.tasks.config import TaskConfig


def task_event(task_id: str, run: int) -> dict[str, Any]:
    return {c.TASK_EVENT_KEY: {"task_id": task_id, "run": run}}


def is_task_event(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get(c.TASK_EVENT_KEY), dict)


class TaskRunner(Protocol):
    def dispatch(self, event: dict[str, Any], invocation: Invocation, function: str | None = None) -> None:
        """Start the work for `event` elsewhere and return at once; raise if it could not be started. `function`:
        a placed tool's function, which runs its tasks (None: this server's own)."""
        ...

    def close(self) -> None:
        """Stop what this runner started in this process (nothing, for Lambda)."""
        ...


class LambdaTaskRunner:
    """`lambda:InvokeFunction` with `InvocationType=Event` on this very function (IAM: lambda:InvokeFunction
    on its ARN and qualified ARNs). Lambda queues the event and returns 202 at once."""

    def __init__(self, config: TaskConfig, client: Any = None) -> None:
        self.config = config
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # in the Lambda runtime

            self._client = boto3.client("lambda")
        return self._client

    def dispatch(self, event: dict[str, Any], invocation: Invocation, function: str | None = None) -> None:
        target = function or self.config.worker_arn or getattr(invocation.context, "invoked_function_arn", None)
        if not target:
            raise RuntimeError("no function to run tasks on: set MCP_TASKS_WORKER_ARN")
        response = self.client.invoke(FunctionName=target, InvocationType="Event", Payload=json.dumps(event).encode())
        if response.get("StatusCode") != 202:
            raise RuntimeError(f"asynchronous invocation of {target} answered {response.get('StatusCode')}")

    def close(self) -> None:
        pass
