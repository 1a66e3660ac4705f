"""A client side of the Tasks extension for the official SDK client, as tests drive it.

`Client(url, mode="2026-07-28", extensions=[TasksClient()])` declares `io.modelcontextprotocol/tasks` on every
request; when a `tools/call` is answered with a task (`resultType: "task"`), the SDK hands it to this
extension's claim, which polls `tasks/get` (with `Mcp-Name`, as SEP-2663 requires) until the task ends and
returns its result, so `client.call_tool(...)` returns the final `CallToolResult` either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import anyio
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ErrorData, Request, RequestParams, Result

TASKS = "io.modelcontextprotocol/tasks"


class TaskHandle(Result):
    """`CreateTaskResult`: flat `Result & Task`."""

    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class DetailedTask(Result):
    task_id: str
    status: str
    status_message: str | None = None
    poll_interval_ms: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class TaskRefParams(RequestParams):
    task_id: str


class GetTask(Request[TaskRefParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskRefParams
    name_param: ClassVar[str | None] = "taskId"


class TasksClient(ClientExtension):
    identifier = TASKS

    def __init__(self, max_poll_seconds: float = 0.5) -> None:
        self.max_poll_seconds = max_poll_seconds
        self.polls: list[DetailedTask] = []
        self.poll_seconds: list[float] = []
        self.handles: list[TaskHandle] = []
        self.handled_at: list[float] = []
        """`time.monotonic()` when each CreateTaskResult arrived."""

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (ResultClaim(result_type="task", model=TaskHandle, resolve=self._follow),)

    async def _follow(self, handle: TaskHandle, ctx: ClaimContext) -> CallToolResult:
        self.handles.append(handle)
        self.handled_at.append(time.monotonic())
        interval = min((handle.poll_interval_ms or 1000) / 1000, self.max_poll_seconds)
        while True:
            started = time.monotonic()
            task = await ctx.session.send_request(GetTask(params=TaskRefParams(task_id=handle.task_id)), DetailedTask)
            self.poll_seconds.append(time.monotonic() - started)
            self.polls.append(task)
            if task.status == "completed":
                return CallToolResult.model_validate(task.result or {})
            if task.status in ("failed", "cancelled"):
                raise MCPError.from_error_data(ErrorData.model_validate(
                    task.error or {"code": -32603, "message": f"task {task.status}"}))
            await anyio.sleep(interval)
