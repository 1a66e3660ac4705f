"""A server with task tools for the runtime tests, its Tasks wired to whatever store and runner a test gives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

from mcp_lambda import new_server
from mcp_lambda.tasks import Tasks

TASKS = "io.modelcontextprotocol/tasks"


def build(tasks: Tasks) -> MCPServer[Any]:
    environments: list[str] = []

    @asynccontextmanager
    async def lifespan(server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        environments.append(f"environment-{len(environments) + 1}")
        yield {"environment": environments[-1]}

    server = new_server("tasks-sample", lifespan=lifespan, extensions=[tasks])

    @tasks.tool(server)
    async def pause(seconds: float, ctx: Context) -> str:
        """Waits, then says which execution environment (lifespan) it ran in."""
        await asyncio.sleep(seconds)
        return f"paused {seconds:g} s in {ctx.request_context.lifespan_context['environment']}"

    @tasks.tool(server, support="required")
    def only_as_task() -> str:
        """Refuses to run synchronously."""
        return "ran as a task"

    @server.tool()
    def plain() -> str:
        """An ordinary tool."""
        return "plain"

    return server
