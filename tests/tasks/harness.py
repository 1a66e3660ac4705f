"""One function on "Lambda", in-process: its Tasks on a given store, a recording Lambda client instead of
`lambda:Invoke`, and as many execution environments (runtimes) as a test opens; requests as clients send them."""

from __future__ import annotations

import json
import threading
from typing import Any

from mcp_lambda import McpLambdaRuntime
from mcp_lambda.auth.policy import Access
from mcp_lambda.tasks import Tasks
from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda.tasks.local import LocalContext
from mcp_lambda.tasks.runner import LambdaTaskRunner
from tests.runtime.lambda_events import FakeContext, response_json, v2_event
from tests.tasks.sample_server import TASKS, build

ALIAS_ARN = FakeContext().invoked_function_arn
CONFIG = TaskConfig(table="tasks", on_lambda=True, heartbeat_seconds=0.2, ttl_seconds=600, poll_interval_ms=750)


class FakeLambda:
    """Records asynchronous invocations instead of sending them."""

    def __init__(self, fail: bool = False) -> None:
        self.invocations: list[dict[str, Any]] = []
        self.fail = fail

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail:
            raise PermissionError("AccessDeniedException: not authorized to perform lambda:InvokeFunction")
        self.invocations.append(kwargs)
        return {"StatusCode": 202}

    def event(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.invocations[index]["Payload"])


class Function:
    """One function: its server, its Tasks, and as many execution environments as a test opens."""

    def __init__(self, store: Any, config: TaskConfig = CONFIG, lambda_client: FakeLambda | None = None) -> None:
        self.lambda_client = lambda_client or FakeLambda()
        self.tasks = Tasks(config, store, LambdaTaskRunner(config, client=self.lambda_client))
        self.server = build(self.tasks)
        self.environments: list[McpLambdaRuntime] = []

    def environment(self, access: Access | None = None) -> McpLambdaRuntime:
        self.environments.append(McpLambdaRuntime(self.server, access=access))
        return self.environments[-1]

    def run_worker_in_background(self, worker: McpLambdaRuntime) -> tuple[threading.Thread, dict[str, Any]]:
        """`worker` runs the next task event in a thread of its own: the thread, and the worker's answer once
        the thread has ended."""
        outcome: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: outcome.update(worker(self.lambda_client.event(), LocalContext(ALIAS_ARN))))
        thread.start()
        return thread, outcome

    def close(self) -> None:
        for environment in self.environments:
            environment.close()


def request(method: str, params: dict[str, Any], *, declare: bool = True, name: str | None = None,
            token: str | None = None) -> dict[str, Any]:
    capabilities = {"extensions": {TASKS: {}}} if declare else {}
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": capabilities}
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": method}
    name = name if name is not None else params.get("name") or params.get("taskId")
    if name is not None:
        headers["mcp-name"] = name
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return v2_event({"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}, headers=headers)


def call(environment: McpLambdaRuntime, method: str, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return response_json(environment(request(method, params, **kwargs), FakeContext()))
