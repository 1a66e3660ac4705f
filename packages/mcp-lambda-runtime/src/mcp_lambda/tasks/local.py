"""Asynchronous invocations on one machine (`make serve`, tests), the way Lambda would run them.

Each worker thread is one more execution environment: it builds its own `McpLambdaRuntime` for the same
server (its own event loop and lifespan, so its own database connection) and hands it the very event
Lambda would deliver, through the same `__call__`. The request thread only queues the event, as the
request on Lambda only sends it.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_lambda.observability import logger
from mcp_lambda.invocation import Invocation
from mcp_lambda.placement import invoke_local_async

WORKERS = 4
TIMEOUT_SECONDS = 900  # Lambda's longest function timeout


@dataclass
class LocalContext:
    """The Lambda context attributes a task invocation reads."""

    invoked_function_arn: str
    timeout_seconds: float = TIMEOUT_SECONDS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


class LocalTaskRunner:
    """Up to `workers` tasks at a time, each worker thread its own execution environment."""

    def __init__(self, make_environment: Callable[[], Any], workers: int = WORKERS,
                 timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self._make_environment = make_environment
        self._workers = workers
        self._timeout_seconds = timeout_seconds
        self._events: queue.SimpleQueue[tuple[dict[str, Any], str] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def dispatch(self, event: dict[str, Any], invocation: Invocation, function: str | None = None) -> None:
        if function is not None:  # a placed tool's local function: the event is its own, as Lambda would queue it
            invoke_local_async(function, event)
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the local task workers have stopped")
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name=f"task-worker-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._events.put((event, getattr(invocation.context, "invoked_function_arn", "")))

    def _work(self) -> None:
        # Built in this thread: the runtime binds its event loop to the thread that first uses it.
        environment = self._make_environment()
        try:
            while (item := self._events.get()) is not None:
                event, arn = item
                try:
                    environment(event, LocalContext(arn, self._timeout_seconds))
                except Exception:  # the worker records failures itself; this is a bug, keep the thread alive
                    logger.exception("Local task worker failed")
        finally:
            environment.close()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the workers: idle ones at once; a busy one is waited for `timeout` seconds (a cancelled task
        ends at its next heartbeat), then left to end with the process, its task with the in-memory store."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._events.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
