"""Structured logs and EMF metrics with stable names, so dashboards and alarms can rely on them.

Logs: Powertools Logger, JSON, the Lambda request id as correlation id; the SDK's own loggers write
through the same JSON handler. Metrics: Powertools Metrics (CloudWatch embedded metric format) in the
namespace `POWERTOOLS_METRICS_NAMESPACE` (default `McpServers`) with the dimensions `service` and `tool`:
`ToolCalls`, `ToolErrors` (Count) and `ToolLatency` (Milliseconds), one set per `tools/call`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

from mcp_lambda import contract as c

UNKNOWN_TOOL = "(unknown)"

logger = Logger(service=os.environ.get(c.POWERTOOLS_SERVICE_NAME, "mcp"))
metrics = Metrics(namespace=os.environ.get(c.POWERTOOLS_METRICS_NAMESPACE, c.METRICS_NAMESPACE))


def configure_sdk_logging() -> None:
    """Route the SDK's loggers through the JSON handler and drop its per-request noise."""
    copy_config_to_registered_loggers(source_logger=logger, include={"mcp"})
    # The SDK's MCPServer also installs a plain root handler; one JSON line per record is enough.
    logging.getLogger("mcp").propagate = False
    # Each stateless request ends its throwaway transport with "Terminating session: None" at INFO.
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)


class ToolMetricsMiddleware:
    """Records calls, errors and latency per tool.

    The tool dimension is taken only from tools the server lists, so a client inventing tool names cannot
    create unbounded metric dimensions.
    """

    def __init__(self, server: MCPServer[Any]) -> None:
        self._server = server
        self._known: set[str] = set()
        # Per call, not a default dimension: a local server hosts several MCP servers in one process.
        self._service = os.environ.get(c.POWERTOOLS_SERVICE_NAME) or server.name

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        # A call a tool function serves for its front (mcp_lambda.placement) is counted by the front, once.
        placement = sys.modules.get("mcp_lambda.placement")
        if ctx.method != "tools/call" or (placement is not None and placement.tool_function_call.get()):
            return await call_next(ctx)
        started = time.perf_counter()
        result: HandlerResult | None = None  # stays None when the call raises: a failed call
        try:
            result = await call_next(ctx)
            return result
        finally:
            # Answered with a task (mcp_lambda.tasks), the tool has not run yet: its run is counted once, with
            # its real latency and outcome, when the worker replays this call.
            if _get(result, "resultType", "result_type") != "task":
                failed = result is None or bool(_get(result, "isError", "is_error"))
                await self._record(ctx.params.get("name") if ctx.params else None, started, failed)

    async def _record(self, name: Any, started: float, failed: bool) -> None:
        if name not in self._known:
            # Listed once, and again only for a name not seen before (tools can be added at run time).
            self._known = {tool.name for tool in await self._server.list_tools()}
        metrics.add_dimension(c.SERVICE_DIMENSION, self._service)
        metrics.add_dimension(c.TOOL_DIMENSION, name if name in self._known else UNKNOWN_TOOL)
        metrics.add_metric(name=c.TOOL_CALLS, unit=MetricUnit.Count, value=1)
        metrics.add_metric(name=c.TOOL_ERRORS, unit=MetricUnit.Count, value=1 if failed else 0)
        metrics.add_metric(
            name=c.TOOL_LATENCY, unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
        )


def _get(result: Any, key: str, attribute: str) -> Any:
    if isinstance(result, dict):
        return result.get(key)
    return getattr(result, attribute, None)


def flush_metrics() -> None:
    """Emit what this invocation recorded (nothing when no tool was called)."""
    try:
        if metrics.metric_set:
            metrics.flush_metrics()
    finally:
        # Also when metrics are disabled (POWERTOOLS_METRICS_DISABLED), which skips flushing and clearing.
        metrics.clear_metrics()
