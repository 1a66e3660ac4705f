"""Where task state lives: a store of whole records with compare-and-swap on `version`.

Three operations are enough for every transition (lifecycle.py builds them as read, decide, swap): create
a record once, read it (strongly consistent; expired records read as absent), and replace it only if
nobody changed it since it was read. Any instance can then answer for any task, since nothing is kept in
memory between requests. `MemoryTaskStore` serves the local dev loop and tests; `DynamoDBTaskStore`
(dynamodb.py) serves Lambda.
"""

from __future__ import annotations

import copy
import threading
import time
from abc import ABC, abstractmethod

from mcp_lambda.tasks.record import TaskRecord


class TaskExists(Exception):
    """A record with this task id is already stored."""


class RecordTooLarge(Exception):
    """The record does not fit the store (DynamoDB items are limited to 400 KB)."""


class TaskStore(ABC):
    @abstractmethod
    def create(self, record: TaskRecord) -> None:
        """Store a new record; raises TaskExists if the id is taken. Durable when it returns."""

    @abstractmethod
    def get(self, task_id: str) -> TaskRecord | None:
        """The latest record, or None when unknown or past its TTL."""

    @abstractmethod
    def replace(self, record: TaskRecord, expected_version: int) -> bool:
        """Store `record` if the stored version is still `expected_version`; False if someone else won.

        Raises RecordTooLarge when the record cannot be stored at all."""


class MemoryTaskStore(TaskStore):
    """Records in a dict behind a lock: shared by the request thread and the local worker threads."""

    def __init__(self) -> None:
        self._records: dict[str, TaskRecord] = {}
        self._lock = threading.Lock()

    def create(self, record: TaskRecord) -> None:
        with self._lock:
            if record.task_id in self._records:
                raise TaskExists(record.task_id)
            self._records[record.task_id] = copy.deepcopy(record)

    def get(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            record = self._records.get(task_id)
            if record is not None and record.expires_at <= time.time():
                del self._records[task_id]
                return None
            return copy.deepcopy(record)

    def replace(self, record: TaskRecord, expected_version: int) -> bool:
        with self._lock:
            stored = self._records.get(record.task_id)
            if stored is None or stored.version != expected_version:
                return False
            self._records[record.task_id] = copy.deepcopy(record)
            return True
