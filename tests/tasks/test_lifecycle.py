"""Task state transitions on both stores: created once, finished once, cancellation final, dead workers reported.

Every test runs on the in-memory store and on DynamoDB (moto server mode), the same lifecycle code on top.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda.tasks.lifecycle import TaskLifecycle, completed, input_required
from mcp_lambda.tasks.record import TaskRecord
from mcp_lambda.tasks.store import MemoryTaskStore, TaskExists, TaskStore

CONFIG = TaskConfig(heartbeat_seconds=0.2, start_timeout_seconds=0.5)
ELICIT = {"method": "elicitation/create", "params": {"mode": "form", "message": "Sure?",
                                                     "requestedSchema": {"type": "object", "properties": {}}}}


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> TaskStore:
    if request.param == "memory":
        return MemoryTaskStore()
    return request.getfixturevalue("dynamodb_store")


def new_record(ttl_ms: int = 60_000, **fields: Any) -> TaskRecord:
    now = time.time()
    return TaskRecord(task_id=str(uuid.uuid4()), tool="work", arguments={"n": 1}, meta={}, created_at=now,
                      ttl_ms=ttl_ms, poll_interval_ms=500, lease_until=now + CONFIG.start_timeout_seconds, **fields)


def started(store: TaskStore, **fields: Any) -> tuple[TaskLifecycle, TaskRecord]:
    lifecycle = TaskLifecycle(store, CONFIG)
    record = new_record(**fields)
    store.create(record)
    claimed = lifecycle.claim(record.task_id, 1, "worker-1", deadline=time.time() + 60)
    assert claimed is not None
    return lifecycle, claimed


def race(*actions: Any) -> list[Any]:
    """Run the actions at the same instant in threads of their own; their results, in order."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = actions[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_task_id_is_created_once_and_read_back_whole(store: TaskStore) -> None:
    record = new_record(owner="alice", headers={"mcp-param-region": "eu"})
    store.create(record)
    with pytest.raises(TaskExists):
        store.create(record)
    assert store.get(record.task_id) == record
    assert store.get("no-such-task") is None


def test_a_run_is_claimed_once(store: TaskStore) -> None:
    lifecycle, record = started(store)
    assert lifecycle.claim(record.task_id, 1, "worker-2", deadline=time.time() + 60) is None, "a retried event"
    assert lifecycle.claim(record.task_id, 2, "worker-2", deadline=time.time() + 60) is None, "a run not started"


def test_concurrent_completions_exactly_one_wins(store: TaskStore) -> None:
    lifecycle, record = started(store)
    attempts = [lambda i=i: lifecycle.finish(record.task_id, 1, "worker-1", completed({"content": [], "n": i}))
                for i in range(8)]
    wins = race(*attempts)
    assert wins.count(True) == 1
    final = store.get(record.task_id)
    assert final is not None and final.status == "completed"
    assert final.result == {"content": [], "n": wins.index(True)}


@pytest.mark.parametrize("rounds", range(5))
def test_completion_racing_cancellation_exactly_one_wins(store: TaskStore, rounds: int) -> None:
    lifecycle, record = started(store)
    finished, cancelled = race(
        lambda: lifecycle.finish(record.task_id, 1, "worker-1", completed({"content": []})),
        lambda: lifecycle.cancel(record.task_id),
    )
    final = store.get(record.task_id)
    assert final is not None
    if finished:
        assert final.status == "completed", "the cancel came second and found a terminal task"
    else:
        assert final.status == "cancelled" and final.result is None
    assert cancelled is not None


def test_a_late_completion_never_overwrites_a_cancelled_task(store: TaskStore) -> None:
    lifecycle, record = started(store)
    assert lifecycle.cancel(record.task_id).status == "cancelled"
    assert lifecycle.heartbeat(record.task_id, 1, "worker-1") is False, "the worker learns it should stop"
    assert lifecycle.finish(record.task_id, 1, "worker-1", completed({"content": []})) is False
    assert store.get(record.task_id).status == "cancelled"
    assert lifecycle.cancel(record.task_id).status == "cancelled", "cancelling again is a no-op"


def test_a_worker_that_stops_beating_is_reported_failed(store: TaskStore) -> None:
    lifecycle, record = started(store)
    assert lifecycle.heartbeat(record.task_id, 1, "worker-1")
    assert lifecycle.get(record.task_id).status == "working"
    time.sleep(CONFIG.lease_seconds + 0.1)
    failed = lifecycle.get(record.task_id)
    assert failed.status == "failed"
    assert failed.error["code"] == -32603 and "stopped responding" in failed.error["message"]
    assert failed.status_message == failed.error["message"]
    assert lifecycle.finish(record.task_id, 1, "worker-1", completed({"content": []})) is False, "too late"


def test_a_worker_past_its_deadline_is_reported_out_of_time(store: TaskStore) -> None:
    lifecycle = TaskLifecycle(store, CONFIG)
    record = new_record()
    store.create(record)
    lifecycle.claim(record.task_id, 1, "worker-1", deadline=time.time() + 0.2)
    time.sleep(0.3)
    assert "ran out of time" in lifecycle.get(record.task_id).error["message"]


def test_a_task_whose_worker_never_starts_is_reported_failed(store: TaskStore) -> None:
    lifecycle = TaskLifecycle(store, CONFIG)
    record = new_record()
    store.create(record)
    time.sleep(CONFIG.start_timeout_seconds + 0.1)
    assert "did not start" in lifecycle.get(record.task_id).error["message"]


def test_answers_resume_the_task_only_when_every_request_is_answered(store: TaskStore) -> None:
    lifecycle, record = started(store)
    lifecycle.finish(record.task_id, 1, "worker-1", input_required({"a": ELICIT, "b": ELICIT}, "state-1"))
    waiting = store.get(record.task_id)
    assert waiting.status == "input_required" and sorted(waiting.pending) == ["a.1", "b.1"]
    answer = {"action": "accept", "content": {}}

    partial, resumed = lifecycle.answer(record.task_id, {"a.1": answer, "unknown": answer})
    assert not resumed and partial.status == "input_required" and list(partial.pending) == ["b.1"]
    again, resumed = lifecycle.answer(record.task_id, {"a.1": answer})
    assert not resumed and again.version == partial.version, "an answered key is ignored"

    resumed_record, resumed = lifecycle.answer(record.task_id, {"b.1": answer})
    assert resumed and resumed_record.status == "working" and resumed_record.run == 2
    assert resumed_record.responses == {"a": answer, "b": answer} and resumed_record.request_state == "state-1"
    assert resumed_record.worker is None
    lifecycle.claim(record.task_id, 2, "worker-2", deadline=time.time() + 60)
    lifecycle.finish(record.task_id, 2, "worker-2", input_required({"a": ELICIT}, None))
    assert list(store.get(record.task_id).pending) == ["a.2"], "a key asked again is a new key"


def test_concurrent_last_answers_resume_once(store: TaskStore) -> None:
    lifecycle, record = started(store)
    lifecycle.finish(record.task_id, 1, "worker-1", input_required({"a": ELICIT}, None))
    answer = {"action": "accept", "content": {}}
    results = race(*[lambda: lifecycle.answer(record.task_id, {"a.1": answer}) for _ in range(6)])
    assert [resumed for _, resumed in results].count(True) == 1
    assert store.get(record.task_id).run == 2


def test_an_expired_task_reads_as_unknown(store: TaskStore) -> None:
    record = new_record(ttl_ms=1000)
    store.create(record)
    assert store.get(record.task_id) is not None
    time.sleep(1.2)
    assert store.get(record.task_id) is None
    assert TaskLifecycle(store, CONFIG).cancel(record.task_id) is None
