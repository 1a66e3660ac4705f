"""A logging handler that keeps what a logger emits: for tests of loggers that do not propagate to pytest's own
(the runtime's Powertools logger, and the SDK's, which observability.py routes through it)."""

from __future__ import annotations

import logging


class LogRecords(logging.Handler):
    """Every record the logger it is added to emits, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
