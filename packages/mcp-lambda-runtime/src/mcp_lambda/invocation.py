"""The Lambda invocation being served, and the events other than HTTP requests that extensions handle.

The core runtime turns Lambda HTTP events into MCP exchanges. An extension that receives invocations of its
own (the tasks extension: the asynchronous events that run a task) registers an `EventHandler` for the
servers it extends, and the runtime hands it the events it recognises, and tells it when an execution
environment of such a server closes. So the core runtime imports no extension, and an extension's code is
loaded only by the servers that use it.
"""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Invocation:
    """The Lambda invocation serving the current request: its runtime (one execution environment) and context."""

    runtime: Any
    context: Any


current_invocation: ContextVar[Invocation | None] = ContextVar("mcp_lambda_invocation", default=None)
"""Set by `McpLambdaRuntime` for each invocation; read by extensions (where a task is dispatched from)."""


class EventHandler(Protocol):
    """What an extension registers to receive events of its own."""

    def handles(self, event: Any) -> bool:
        """Whether `event` is one of this handler's (checked before the event is read as HTTP)."""
        ...

    def handle(self, runtime: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Serve `event` in `runtime`'s execution environment; the result is the invocation's."""
        ...

    def release(self, runtime: Any) -> None:
        """`runtime`, an execution environment of the server, is closing: stop what was started for it."""
        ...

    def trace_carrier(self, event: Any) -> Mapping[str, Any] | None:
        """The W3C trace context (`traceparent`, `tracestate`) `event` carries, which parents the invocation's
        span when the environment traces; None for an event that continues no trace."""
        ...


_handlers: weakref.WeakKeyDictionary[Any, list[EventHandler]] = weakref.WeakKeyDictionary()


def register(server: Any, handler: EventHandler) -> None:
    """Give `handler` the events of `server`'s functions (once, however often it is registered)."""
    registered = _handlers.setdefault(server, [])
    if handler not in registered:
        registered.append(handler)


def handlers(server: Any) -> tuple[EventHandler, ...]:
    return tuple(_handlers.get(server, ()))
