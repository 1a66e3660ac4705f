"""The asynchronous invocation that runs a task: claim the run, replay the call through the SDK, record the outcome.

The call is replayed as the `tools/call` the client sent (same tool, arguments, `_meta`, `Mcp-Param-*`
headers and caller), through the same SDK application that serves HTTP requests, inside this execution
environment's lifespan (the database connection and everything else a tool reads from its context).
So a task tool is an ordinary tool: the SDK validates its arguments, injects its context, runs its
resolvers and serializes its result exactly as for a synchronous call.

While the tool runs, a heartbeat thread renews the run's lease (a worker that dies stops renewing, and
the task is reported failed once the lease runs out) and stops the run when the task is cancelled or the
invocation is about to reach its timeout, which is then recorded as the reason the task failed.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.shared.inbound import encode_header_value
from mcp_types import INTERNAL_ERROR, PROTOCOL_VERSION_META_KEY
from mcp_types.version import LATEST_MODERN_VERSION

from mcp_lambda.asgi import Dispatch, call_asgi
from mcp_lambda.events import HttpRequest, HttpResponse
from mcp_lambda import contract as c
from mcp_lambda.observability import logger
from mcp_lambda.placement import own_tools
from mcp_lambda.tasks.extension import Replay, Tasks, replaying
from mcp_lambda.tasks.lifecycle import TaskLifecycle, completed, failed, input_required
from mcp_lambda.tasks.local import TIMEOUT_SECONDS
from mcp_lambda.tasks.record import TaskRecord

HOST = "task.invalid"  # the replayed request never crossed HTTP; the runtime's Host check is not on this path
MARGIN_SECONDS = 2.0  # stop this long before the invocation's timeout, to record why the task failed


def run_task_event(runtime: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one task event to its end; never raises, so Lambda does not retry a task that was recorded."""
    spec = event[c.TASK_EVENT_KEY]
    task_id, run = str(spec.get("task_id")), int(spec.get("run", 1))
    tasks = Tasks.of(runtime.server)
    if tasks is None:
        logger.error("Task event for a server without task tools", task_id=task_id)
        return {"taskId": task_id, "outcome": "ignored"}
    lifecycle = tasks.lifecycle
    worker = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else TIMEOUT_SECONDS
    record = lifecycle.claim(task_id, run, worker, deadline=time.time() + remaining - MARGIN_SECONDS)
    if record is None:
        logger.info("Task run already claimed, finished or unknown", task_id=task_id, run=run)
        return {"taskId": task_id, "outcome": "skipped"}

    own = own_tools(runtime.environ())
    if own is not None and record.tool not in own:  # a placed tool's function runs its own tools' tasks only
        logger.error("Task event for a tool this function does not run", task_id=task_id, tool=record.tool)
        lifecycle.finish(task_id, run, worker, failed(INTERNAL_ERROR, "The task reached a function that does not "
                                                      "run its tool"))
        return {"taskId": task_id, "outcome": "refused"}
    replay = Replay(record)
    heartbeat = Heartbeat(lifecycle, record, worker, tasks.config.heartbeat_seconds)
    request = _replayed_request(record, runtime.settings.mcp_path, worker)
    user = AuthenticatedUser(AccessToken(token="", **record.caller)) if record.caller else None

    async def serve(app: Any) -> HttpResponse:
        heartbeat.start(asyncio.get_running_loop(), asyncio.current_task())
        try:
            return await call_asgi(app, Dispatch(request, request.path, user))
        finally:
            heartbeat.stop()

    marker = replaying.set(replay)
    try:
        outcome = _outcome(runtime.run_in_environment(serve), replay)
    except asyncio.CancelledError:
        if heartbeat.stopped_by != "deadline":
            logger.info("Task run stopped: cancelled, or no longer this worker's", task_id=task_id)
            return {"taskId": task_id, "outcome": "stopped"}
        outcome = failed(INTERNAL_ERROR, "The task ran out of time: it reached the function's timeout")
    except Exception as exc:  # the lifespan could not start, or a bug: recorded, not retried
        logger.exception("Task run failed", task_id=task_id)
        outcome = failed(INTERNAL_ERROR, f"The task could not run ({type(exc).__name__})")
    finally:
        replaying.reset(marker)
    recorded = lifecycle.finish(task_id, run, worker, outcome)
    if not recorded:
        logger.info("Task outcome dropped: the task was cancelled or failed meanwhile", task_id=task_id)
    return {"taskId": task_id, "outcome": "recorded" if recorded else "dropped"}


def _replayed_request(record: TaskRecord, path: str, worker: str) -> HttpRequest:
    version = record.meta.get(PROTOCOL_VERSION_META_KEY, LATEST_MODERN_VERSION)
    body = {"jsonrpc": "2.0", "id": f"{record.task_id}/{record.run}", "method": "tools/call",
            "params": {"name": record.tool, "arguments": record.arguments, "_meta": record.meta}}
    headers = [
        ("host", HOST), ("content-type", "application/json"), ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", version), ("mcp-method", "tools/call"), ("mcp-name", encode_header_value(record.tool)),
        *record.headers.items(),
    ]
    return HttpRequest("POST", path, "", headers, json.dumps(body).encode(), "127.0.0.1", HOST, worker, "2.0")


def _outcome(response: HttpResponse, replay: Replay) -> Any:
    try:
        message = json.loads(response.body)
    except ValueError:
        return failed(INTERNAL_ERROR, f"The call answered HTTP {response.status} without a JSON-RPC message")
    if isinstance(message.get("error"), dict):
        error = message["error"]
        return failed(error.get("code", INTERNAL_ERROR), error.get("message", "Internal error"), error.get("data"))
    result = message.get("result") or {}
    if result.get("resultType") == "input_required":
        if not result.get("inputRequests"):
            return failed(INTERNAL_ERROR, "The tool asked to be called again without asking for input")
        return input_required(result["inputRequests"], replay.request_state)
    return completed(result)


class Heartbeat:
    """Renews the run's lease from a thread of its own, so a tool that keeps the event loop busy still counts
    as alive, and cancels the run when the task no longer wants it or the deadline comes."""

    def __init__(self, lifecycle: TaskLifecycle, record: TaskRecord, worker: str, interval: float) -> None:
        self.lifecycle, self.record, self.worker, self.interval = lifecycle, record, worker, interval
        self.deadline = record.deadline or float("inf")
        self.stopped_by: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None) -> None:
        self._thread = threading.Thread(target=self._beat, args=(loop, task), name="task-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None) -> None:
        while not self._stop.wait(max(0.0, min(self.interval, self.deadline - time.time()))):
            if time.time() >= self.deadline:
                self.stopped_by = "deadline"
                break
            try:
                alive = self.lifecycle.heartbeat(self.record.task_id, self.record.run, self.worker)
            except Exception:  # a store hiccup: the lease outlasts two more beats
                logger.warning("Task heartbeat failed", task_id=self.record.task_id, exc_info=True)
                continue
            if not alive:
                self.stopped_by = "cancelled"
                break
        else:
            return
        if task is not None:
            loop.call_soon_threadsafe(task.cancel)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
