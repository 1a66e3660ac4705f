"""Long-running work on Lambda: reports over the message channel, run as tasks (mcp_lambda.tasks).

Reading every message is the kind of work that outgrows a 29-second API Gateway request as the channel
grows. `messages_report` is therefore a task tool: a client that declares the Tasks extension gets a task
at once and polls it while an asynchronous invocation of this function builds the report (up to the
function's timeout); other clients get the report synchronously. It reads the messaging server's database
(one connection per execution environment, like the messaging server) and never writes.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field

from mcp_lambda import lambda_handler, new_server
from mcp_lambda.database import DatabaseState, database_lifespan
from mcp_lambda.tasks import Tasks
from reports.report import MessagesReport, summarise

tasks = Tasks()
mcp = new_server(
    "reports",
    instructions="Reports over the public message channel; messages_report may take long and runs as a task.",
    lifespan=database_lifespan,
    extensions=[tasks],
)


@tasks.tool(mcp)
async def messages_report(
    ctx: Context[DatabaseState, Any],
    seconds: Annotated[float, Field(ge=0, le=900, description="Take at least this long (a stand-in for a channel "
                                    "large enough to need it); at most 900 s, Lambda's longest timeout.")] = 0,
) -> MessagesReport:
    """Summarise every message on the channel: counts, authors, first and latest post. May take a while:
    clients that support the Tasks extension get a task to poll"""
    await asyncio.sleep(seconds)
    return await anyio.to_thread.run_sync(summarise, ctx.request_context.lifespan_context.db)


handler = lambda_handler(mcp)
