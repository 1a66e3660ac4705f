"""Task metrics: how many tasks started and how they ended, and how long the oldest running one has run.

EMF through Powertools, in the runtime's namespace (`POWERTOOLS_METRICS_NAMESPACE`, default `McpServers`)
with the one dimension `service`, so that the CDK side can alarm on them (alarms cannot aggregate
across a `tool` dimension):

- `TasksStarted` (Count): a `tools/call` became a task (stored, its worker dispatched).
- `TasksCompleted`, `TasksFailed`, `TasksCancelled` (Count): a task reached that terminal status, counted
  once, by the writer that won the change (a worker, a `tasks/get` noticing a dead worker, a cancel).
- `TaskRunningAge` (Seconds): sent with every worker heartbeat, the age of the task that worker runs; the
  `Maximum` of a period is the age of the oldest task running in it.

Why each metric is written at once, as its own EMF document, rather than added to the shared `metrics`
of `mcp_lambda.observability` (flushed at the end of the invocation): a worker invocation lasts up to 15
minutes, and a heartbeat's age must reach CloudWatch while the task still runs, not when it ends. The
shared set also carries the `tool` dimension of the call being served, and heartbeats come from another
thread. A document of its own each time keeps the dimensions fixed and needs no lock.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from mcp_lambda import contract as c
from mcp_lambda.observability import metrics as shared_metrics
from mcp_lambda.tasks.record import Status, TaskRecord

_ENDED: dict[Status, str] = {"completed": c.TASKS_COMPLETED, "failed": c.TASKS_FAILED, "cancelled": c.TASKS_CANCELLED}


class TaskMetrics:
    """Writes the task metrics of one service (the `service` dimension)."""

    def __init__(self, service: str) -> None:
        self.service = os.environ.get(c.POWERTOOLS_SERVICE_NAME) or service

    def started(self) -> None:
        self._emit(c.TASKS_STARTED, MetricUnit.Count, 1)

    def ended(self, status: Status) -> None:
        """A task reached `status`; only terminal statuses are counted."""
        name = _ENDED.get(status)
        if name is not None:
            self._emit(name, MetricUnit.Count, 1)

    def running(self, record: TaskRecord, now: float) -> None:
        self._emit(c.TASK_RUNNING_AGE, MetricUnit.Seconds, max(0.0, now - record.created_at))

    def _emit(self, name: str, unit: MetricUnit, value: float) -> None:
        # A provider per document: nothing shared across threads; flushing respects POWERTOOLS_METRICS_DISABLED.
        provider = AmazonCloudWatchEMFProvider(namespace=shared_metrics.namespace, service=self.service)
        provider.add_metric(name=name, unit=unit, value=value)
        provider.flush_metrics()
