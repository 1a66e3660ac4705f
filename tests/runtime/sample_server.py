"""A server for runtime tests: counts its lifespan, and has tools that fail, answer too much or send notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from mcp_lambda import lambda_handler, new_server
from mcp_lambda.settings import RuntimeSettings


@dataclass
class LifespanProbe:
    entered: int = 0
    exited: int = 0
    fail_next_starts: int = 0
    seen: list[Any] = field(default_factory=list)


def build(settings: RuntimeSettings | None = None) -> tuple[MCPServer[Any], LifespanProbe, Any]:
    probe = LifespanProbe()

    @asynccontextmanager
    async def lifespan(server: MCPServer[Any]) -> AsyncIterator[LifespanProbe]:
        if probe.fail_next_starts:
            probe.fail_next_starts -= 1
            raise ConnectionError("database unreachable (simulated)")
        probe.entered += 1
        try:
            yield probe
        finally:
            probe.exited += 1

    server = new_server("sample", settings=settings, lifespan=lifespan)

    @server.tool()
    def echo(text: str) -> str:
        """Returns its input."""
        return text

    @server.tool()
    def lifespan_count(ctx: Context) -> int:
        """How many times the lifespan was entered, as seen through the request context."""
        return ctx.request_context.lifespan_context.entered

    @server.tool()
    def explode() -> str:
        """Raises an unexpected exception."""
        raise RuntimeError("secret internal detail /var/task/app.py line 42")

    @server.tool()
    def big(size: int) -> str:
        """Returns `size` characters."""
        return "x" * size

    @server.tool()
    async def remember(text: str, ctx: Context, seconds: float = 0) -> str:
        """Records `text` in the probe (so a test can tell which calls ran), after `seconds`."""
        await anyio.sleep(seconds)
        ctx.request_context.lifespan_context.seen.append(text)
        return text

    @server.tool()
    async def chatty(ctx: Context, steps: int = 2, size: int = 10, answer_size: int = 4, fail: bool = False) -> str:
        """For each step a log message of `size` characters at every level, then progress (with a token);
        then an answer of `answer_size` characters, or a tool error."""
        for step in range(1, steps + 1):
            for level in ("debug", "info", "warning", "error"):
                await ctx.log(level, f"{level} {step} " + "m" * size)
            await ctx.report_progress(step, steps, f"step {step}")
        if fail:
            raise ToolError("chatty failed after its notifications")
        return "a" * answer_size

    return server, probe, lambda_handler(server, settings)
