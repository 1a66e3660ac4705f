"""Task settings, read from the environment on first use (the constructs set them; locally nothing is needed).

Where state lives and where work runs follow from the environment: on Lambda (`AWS_LAMBDA_FUNCTION_NAME`
is set by the Lambda runtime) tasks need the DynamoDB table and continue in an asynchronous invocation of
the function itself; anywhere else (`make serve`, tests) they use an in-memory store and worker threads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from mcp_lambda import contract as c


@dataclass(frozen=True, slots=True)
class TaskConfig:
    table: str | None = None
    """MCP_TASKS_TABLE: the DynamoDB table holding task state (partition key `task_id`, TTL `expires_at`)."""

    worker_arn: str | None = None
    """MCP_TASKS_WORKER_ARN: the function (ARN, qualified ARN or name) invoked to run a task. Default: the ARN
    the current request invoked (`context.invoked_function_arn`, alias included), so work runs on the
    same version as the call that created it."""

    ttl_seconds: int = 3600
    """MCP_TASKS_TTL_SECONDS: how long a task (and its result) stays readable after creation (`ttlMs`)."""

    poll_interval_ms: int = 2000
    """MCP_TASKS_POLL_INTERVAL_MS: the polling interval suggested to clients (`pollIntervalMs`)."""

    heartbeat_seconds: float = 5.0
    """MCP_TASKS_HEARTBEAT_SECONDS: how often a running worker renews its lease and notices cancellation.
    A worker that misses three beats (crashed, killed) is reported failed by the next `tasks/get`."""

    start_timeout_seconds: float = 300.0
    """MCP_TASKS_START_TIMEOUT_SECONDS: how long a dispatched task may wait for its worker to start
    (asynchronous invocations queue under throttling) before it is reported failed."""

    on_lambda: bool = False
    """AWS_LAMBDA_FUNCTION_NAME is set: running in Lambda, where only the DynamoDB store and asynchronous
    invocations work across execution environments."""

    @property
    def lease_seconds(self) -> float:
        return 3 * self.heartbeat_seconds

    @property
    def available(self) -> bool:
        """Tasks can be served: anywhere off Lambda, and on Lambda with a table to keep them in."""
        return bool(self.table) or not self.on_lambda

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TaskConfig:
        env = os.environ if env is None else env
        return cls(
            table=env.get(c.MCP_TASKS_TABLE) or None,
            worker_arn=env.get(c.MCP_TASKS_WORKER_ARN) or None,
            ttl_seconds=int(env.get(c.MCP_TASKS_TTL_SECONDS, 3600)),
            poll_interval_ms=int(env.get(c.MCP_TASKS_POLL_INTERVAL_MS, 2000)),
            heartbeat_seconds=float(env.get(c.MCP_TASKS_HEARTBEAT_SECONDS, 5)),
            start_timeout_seconds=float(env.get(c.MCP_TASKS_START_TIMEOUT_SECONDS, 300)),
            on_lambda=bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
        )
