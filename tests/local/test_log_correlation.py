"""Log lines name their own request and service when several functions serve at once in one process, as the
local server runs them (one thread each): the correlation id and service are per thread, not per process."""

from __future__ import annotations

import io
import json
import logging
import threading
from contextlib import redirect_stdout

from mcp_lambda import McpLambdaRuntime, new_server
from mcp_lambda.local.events import LambdaContext, function_url_event
from mcp_lambda.observability import logger


def logging_server(name: str, barrier: threading.Barrier):
    mcp = new_server(name)

    @mcp.tool()
    async def shout() -> str:
        """Log a line while the other function is in the middle of its own request."""
        barrier.wait(timeout=10)
        logger.info("inside the tool")
        barrier.wait(timeout=10)
        return "done"

    return mcp


def test_concurrent_functions_log_their_own_correlation_id_and_service():
    barrier = threading.Barrier(2)
    runtimes = {name: McpLambdaRuntime(logging_server(name, barrier), environment={"POWERTOOLS_SERVICE_NAME": name})
                for name in ("alpha", "beta")}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "shout", "arguments": {}}})
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-11-25", "host": "localhost.lambda-url.local"}
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    statuses: dict[str, int] = {}

    def serve(name: str) -> None:
        context = LambdaContext(function_name=name, aws_request_id=f"request-of-{name}")
        statuses[name] = runtimes[name](function_url_event("POST", "/mcp", headers=headers, body=body), context)["statusCode"]

    try:
        with redirect_stdout(io.StringIO()):
            threads = [threading.Thread(target=serve, args=(name,)) for name in runtimes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
    finally:
        logger.removeHandler(handler)
        for runtime in runtimes.values():
            runtime.close()

    assert statuses == {"alpha": 200, "beta": 200}
    lines = [json.loads(line) for line in output.getvalue().splitlines() if '"inside the tool"' in line]
    assert sorted((line["service"], line["correlation_id"]) for line in lines) == [
        ("alpha", "request-of-alpha"), ("beta", "request-of-beta")]
