"""One local function: a server's handler in an execution environment of its own, on one worker thread.

Each served server gets one worker thread, like one Lambda execution environment: its requests are served
one at a time, by the same thread, in the same process, so the runtime's loop and lifespan behave as they
do on Lambda.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from typing import Any, Callable

from mcp_lambda.local.events import LambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def load_handler(target: str) -> Handler:
    """`module:attribute`, imported as Lambda imports a handler (the module's folder on `sys.path`)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _own_environment(target: str, environment: Mapping[str, str]) -> Handler:
    """The handler at `target`, as an execution environment of its own when it is our runtime, with the
    function's own variables: closing one local function then leaves the module's handler, and any other
    local server of it, untouched."""
    handler = load_handler(target)
    new_environment = getattr(handler, "new_environment", None)
    return new_environment(environment) if new_environment is not None else handler


class LocalFunction:
    """One server's handler with its single worker thread."""

    def __init__(self, name: str, target: str, environment: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.target = target
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lambda-{name}")
        # Made inside the worker: the runtime binds its event loop to the thread that first uses it.
        self.handler: Handler = self._executor.submit(_own_environment, target, environment or {}).result()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        context = LambdaContext(function_name=f"mcp-{self.name}")
        return self._executor.submit(self.handler, event, context).result()

    def close(self) -> None:
        close = getattr(self.handler, "close", None)
        if close is not None:
            self._executor.submit(close).result()
        self._executor.shutdown()
