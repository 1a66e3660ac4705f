"""Long-running tools on Lambda: the MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663).

A `tools/call` to a task tool is answered at once with a task the client polls (`tasks/get`), answers
(`tasks/update`) or cancels (`tasks/cancel`); the tool itself runs in an asynchronous invocation of the
same function, so it may run up to the function's timeout instead of API Gateway's 29 seconds.

    from mcp_lambda import lambda_handler, new_server
    from mcp_lambda.tasks import Tasks

    tasks = Tasks()
    mcp = new_server("reports", extensions=[tasks])

    @tasks.tool(mcp)
    async def build_report(ctx: Context, seconds: int = 60) -> str: ...

    handler = lambda_handler(mcp)      # also runs the task events: {"mcp_task": {"task_id": ..., "run": 1}}

Modules: extension.py (the protocol surface), worker.py (the asynchronous invocation), lifecycle.py (state
transitions), store.py / dynamodb.py (where state lives), runner.py / local.py (where work runs),
record.py (the state and its wire shapes), config.py (MCP_TASKS_* settings), metrics.py (EMF).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Resolved on first use (PEP 562): the runtime imports mcp_lambda.tasks.runner in every function, and a
# function without task tools should not pay for loading the rest at cold start.
_EXPORTS = {
    "TASKS_EXTENSION": "extension", "Tasks": "extension", "TaskSupport": "extension",
    "TaskConfig": "config", "TaskStore": "store", "MemoryTaskStore": "store",
    "is_task_event": "runner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
