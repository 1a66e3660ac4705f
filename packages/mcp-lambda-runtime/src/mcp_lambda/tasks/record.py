"""One task's durable state, and how it appears on the wire (SEP-2663 `Task`, `CreateTaskResult`, `DetailedTask`).

The record holds everything needed to run the call again in another execution environment (tool, arguments,
the request's `_meta` and `Mcp-Param-*` headers, who called) plus the task's progress. Every store keeps
whole records and replaces them only when `version` is unchanged, so each change is a decision taken on
the latest state (see lifecycle.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["working", "input_required", "completed", "failed", "cancelled"]
ACTIVE: tuple[Status, ...] = ("working", "input_required")


@dataclass(slots=True)
class PendingInput:
    """One outstanding input request: the key the tool used, and the request itself (wire form)."""

    key: str
    request: dict[str, Any]


@dataclass(slots=True)
class TaskRecord:
    task_id: str
    tool: str
    arguments: dict[str, Any]
    meta: dict[str, Any]
    """The call's `_meta`: protocol version, client capabilities and info, replayed with the call."""
    created_at: float
    ttl_ms: int
    poll_interval_ms: int
    lease_until: float
    """Until when the task may stay `working` without word from a worker (start timeout, then heartbeats)."""
    headers: dict[str, str] = field(default_factory=dict)
    """The call's `Mcp-Param-*` headers: the SDK checks them against the arguments again on replay."""
    owner: str | None = None
    """The authenticated principal that created the task; only it may read, answer or cancel it."""
    caller: dict[str, Any] | None = None
    """The caller's verified token, without the token itself, so the tool sees the same claims."""
    status: Status = "working"
    status_message: str | None = None
    updated_at: float = 0.0
    run: int = 1
    """Which run of the tool is current: 1, then one more after each answered round of input."""
    worker: str | None = None
    """The invocation that claimed the current run (None: not started yet)."""
    deadline: float | None = None
    """When the claiming invocation runs out of time (Lambda's timeout)."""
    pending: dict[str, PendingInput] = field(default_factory=dict)
    """Outstanding input requests by wire key; keys carry the run, so none is reused within a task."""
    responses: dict[str, Any] = field(default_factory=dict)
    """Answers gathered for the current round, by the tool's own keys."""
    request_state: str | None = None
    """The tool's `requestState` for the current round, kept server-side in plaintext."""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    version: int = 1

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at

    @property
    def expires_at(self) -> float:
        return self.created_at + self.ttl_ms / 1000

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def record_to_dict(record: TaskRecord) -> dict[str, Any]:
    """JSON-ready form, for stores that keep records as documents."""
    return asdict(record)


def record_from_dict(data: dict[str, Any]) -> TaskRecord:
    pending = {key: PendingInput(**value) for key, value in data.get("pending", {}).items()}
    return TaskRecord(**{**data, "pending": pending})


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_fields(record: TaskRecord) -> dict[str, Any]:
    """The `Task` base shape shared by every task response."""
    fields: dict[str, Any] = {"taskId": record.task_id, "status": record.status}
    if record.status_message:
        fields["statusMessage"] = record.status_message
    fields |= {
        "createdAt": iso(record.created_at),
        "lastUpdatedAt": iso(record.updated_at),
        "ttlMs": record.ttl_ms,
        "pollIntervalMs": record.poll_interval_ms,
    }
    return fields


def create_task_result(record: TaskRecord) -> dict[str, Any]:
    """`CreateTaskResult`: flat `Result & Task`, told apart from a tool result by `resultType: "task"`."""
    return {"resultType": "task", **task_fields(record)}


def detailed_task(record: TaskRecord) -> dict[str, Any]:
    """`DetailedTask` for `tasks/get`: the status-specific field inlined (input requests, result or error)."""
    fields = task_fields(record)
    if record.status == "input_required":
        fields["inputRequests"] = {key: pending.request for key, pending in record.pending.items()}
    elif record.status == "completed":
        fields["result"] = record.result or {}
    elif record.status == "failed":
        fields["error"] = record.error or {"code": -32603, "message": "Internal error"}
    return fields
