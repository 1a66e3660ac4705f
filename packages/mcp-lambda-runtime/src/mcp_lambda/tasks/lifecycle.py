"""Every change to a task, as read → decide → compare-and-swap on the store.

A transition is a function of the latest record: it either changes it (and the write must win against
every concurrent writer, or the decision is taken again on what won) or leaves it alone. That gives the
guarantees the extension needs without locks or a server that remembers anything:

- a task completes, fails or is cancelled once: the loser of a race re-reads a terminal task and stops;
- a cancelled task is never overwritten by a late completion (a worker may only finish its own run of a
  `working` task);
- a task whose worker died is not `working` forever: each worker holds a lease it renews with heartbeats
  (and never past its invocation's deadline); the first `tasks/get` after the lease runs out records the
  task as failed, with the reason.

Because every change goes through `change`, that is where the task metrics are counted (metrics.py): a
task that ends is counted once, by the writer whose change ended it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mcp_types import INTERNAL_ERROR

from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda.tasks.metrics import TaskMetrics
from mcp_lambda.tasks.record import PendingInput, TaskRecord
from mcp_lambda.tasks.store import RecordTooLarge, TaskStore

_ATTEMPTS = 20  # concurrent writers to one task are few (a worker, a poller, a canceller); 20 is ample


class TaskConflict(Exception):
    """A change lost the race too many times in a row."""


class TaskLifecycle:
    def __init__(self, store: TaskStore, config: TaskConfig, clock: Callable[[], float] = time.time,
                 metrics: TaskMetrics | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.metrics = metrics
        """Where tasks started, ended and running are counted; None counts nothing."""

    def create(self, record: TaskRecord) -> None:
        """Store a new task (raises TaskExists if the id is taken); it counts as started."""
        self.store.create(record)
        if self.metrics is not None:
            self.metrics.started()

    def change(self, task_id: str, decide: Callable[[TaskRecord], bool]) -> tuple[TaskRecord | None, bool]:
        """Apply `decide` (which edits the record and says whether it did) until the write wins.

        Returns the record as it now stands (None: unknown or expired) and whether this change was applied.
        """
        for _ in range(_ATTEMPTS):
            record = self.store.get(task_id)
            if record is None:
                return None, False
            read, was_active = record.version, record.active
            if not decide(record):
                return record, False
            record.version, record.updated_at = read + 1, self.clock()
            if self.store.replace(record, read):
                if was_active and not record.active and self.metrics is not None:
                    self.metrics.ended(record.status)
                return record, True
        raise TaskConflict(task_id)

    # -- requests ----------------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord | None:
        """The task for `tasks/get`; a `working` task whose lease ran out is recorded failed first."""
        record = self.store.get(task_id)
        if record is None or record.status != "working" or record.lease_until > self.clock():
            return record
        return self.change(task_id, self._fail_if_abandoned)[0]

    def cancel(self, task_id: str) -> TaskRecord | None:
        def decide(record: TaskRecord) -> bool:
            if not record.active:
                return False  # already terminal: cancelling again is an idempotent no-op
            record.status, record.status_message = "cancelled", "Cancelled at the client's request"
            record.pending, record.responses, record.request_state = {}, {}, None
            return True

        return self.change(task_id, decide)[0]

    def answer(self, task_id: str, responses: dict[str, Any]) -> tuple[TaskRecord | None, bool]:
        """Record answers to outstanding input requests (others are ignored). Returns the task and whether
        the last outstanding request was answered, so the tool must run again (a new run, to dispatch)."""

        def decide(record: TaskRecord) -> bool:
            matched = [key for key in responses if record.status == "input_required" and key in record.pending]
            for key in matched:
                record.responses[record.pending.pop(key).key] = responses[key]
            if matched and not record.pending:
                self._new_run(record)
            return bool(matched)

        record, changed = self.change(task_id, decide)
        return record, changed and record is not None and record.status == "working"

    # -- workers -----------------------------------------------------------------------------------------

    def claim(self, task_id: str, run: int, worker: str, deadline: float) -> TaskRecord | None:
        """Start run `run` as `worker`: only once, only while the task waits for that run."""

        def decide(record: TaskRecord) -> bool:
            if record.status != "working" or record.run != run or record.worker is not None:
                return False
            record.worker, record.deadline = worker, deadline
            record.lease_until = min(self.clock() + self.config.lease_seconds, deadline)
            return True

        record, changed = self.change(task_id, decide)
        return record if changed else None

    def heartbeat(self, task_id: str, run: int, worker: str) -> bool:
        """Renew the lease; False when the run is no longer this worker's to finish (cancelled, expired).

        Each renewed lease also reports the task's age (`TaskRunningAge`)."""

        def decide(record: TaskRecord) -> bool:
            if not _owns(record, run, worker):
                return False
            record.lease_until = min(self.clock() + self.config.lease_seconds, record.deadline or float("inf"))
            return True

        record, renewed = self.change(task_id, decide)
        if renewed and record is not None and self.metrics is not None:
            self.metrics.running(record, self.clock())
        return renewed

    def finish(self, task_id: str, run: int, worker: str, outcome: Callable[[TaskRecord], None]) -> bool:
        """Record the outcome of this worker's run, unless the task moved on (cancelled, failed meanwhile)."""

        def decide(record: TaskRecord) -> bool:
            if not _owns(record, run, worker):
                return False
            outcome(record)
            return True

        try:
            return self.change(task_id, decide)[1]
        except RecordTooLarge as exc:
            return self.finish(task_id, run, worker, failed(INTERNAL_ERROR, f"The result is too large to keep ({exc})"))

    # -- internals ---------------------------------------------------------------------------------------

    def _new_run(self, record: TaskRecord) -> None:
        record.status, record.status_message = "working", None
        record.run, record.worker, record.deadline = record.run + 1, None, None
        record.lease_until = self.clock() + self.config.start_timeout_seconds

    def _fail_if_abandoned(self, record: TaskRecord) -> bool:
        now = self.clock()
        if record.status != "working" or record.lease_until > now:
            return False
        if record.worker is None:
            reason = f"The task's worker did not start within {self.config.start_timeout_seconds:g} s"
        elif record.deadline is not None and now >= record.deadline:
            reason = "The task ran out of time: its worker reached the function's timeout"
        else:
            reason = "The task's worker stopped responding (it crashed or was stopped)"
        failed(INTERNAL_ERROR, reason)(record)
        return True


def _owns(record: TaskRecord, run: int, worker: str) -> bool:
    return record.status == "working" and record.run == run and record.worker == worker


# -- outcomes of a run ---------------------------------------------------------------------------------


def completed(result: dict[str, Any]) -> Callable[[TaskRecord], None]:
    """The tool returned a result (an `isError` result too: that is a completed call)."""

    def apply(record: TaskRecord) -> None:
        record.status, record.status_message, record.result = "completed", None, result
        record.pending, record.responses, record.request_state = {}, {}, None

    return apply


def failed(code: int, message: str, data: Any = None) -> Callable[[TaskRecord], None]:
    """The call ended in a JSON-RPC error (or the worker could not run it): `failed` with that error."""

    def apply(record: TaskRecord) -> None:
        record.status, record.status_message = "failed", message
        record.error = {"code": code, "message": message, **({"data": data} if data is not None else {})}
        record.pending, record.responses, record.request_state = {}, {}, None

    return apply


def input_required(requests: dict[str, Any], request_state: str | None) -> Callable[[TaskRecord], None]:
    """The tool asked for input: park the task until `tasks/update` answers every request.

    Wire keys are the tool's keys suffixed with the run, so no key is reused within the task (SEP-2663)
    even when the tool asks again under the same key in a later round.
    """

    def apply(record: TaskRecord) -> None:
        record.status, record.status_message = "input_required", "Waiting for input from the client"
        record.pending = {f"{key}.{record.run}": PendingInput(key, request) for key, request in requests.items()}
        record.responses, record.request_state = {}, request_state

    return apply
