"""A server with task tools for the runtime tests, its Tasks wired to whatever store and runner a test gives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult, TextContent

from mcp_lambda import new_server
from mcp_lambda.auth import token_payload
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

    @tasks.tool(server)
    def confirm(filename: str, ctx: Context) -> CallToolResult | InputRequiredResult:
        """Asks twice from inside the task under the same key, keeping its own state between the rounds."""
        answer = (ctx.input_responses or {}).get("sure")
        rounds = int(ctx.request_state or 0)
        if rounds < 2:
            if rounds and not (isinstance(answer, ElicitResult) and answer.action == "accept"):
                raise ValueError("the answer to the previous round did not arrive")
            question = ElicitRequest(params=ElicitRequestFormParams(
                message=f"Really delete {filename}? (round {rounds + 1})",
                requested_schema={"type": "object", "properties": {"sure": {"type": "boolean"}}}))
            return InputRequiredResult(input_requests={"sure": question}, request_state=str(rounds + 1))
        return CallToolResult(content=[TextContent(type="text", text=f"{filename} deleted after {rounds} rounds")])

    @tasks.tool(server)
    def whoami(ctx: Context) -> str:
        """The verified email of the caller, as the tool sees it."""
        return (token_payload(ctx) or {}).get("email", "anonymous")

    @server.tool()
    def plain() -> str:
        """An ordinary tool."""
        return "plain"

    return server
