"""What is timed: the same weather tool served three ways, each in a fresh process for cold starts.

- `empty`: an interpreter that does nothing (the floor every cold start pays).
- `sdk`: the SDK's own Streamable HTTP app called directly over ASGI, stateless JSON mode, lifespan
  entered once: the bare bridge with no Lambda layer at all, serving its own copy of the weather tool.
- `ours`: the weather function's `handler(event, context)` with a Function URL event.

Each setup defines `call(message) -> body`; the SDK's also `exchange(message, headers) -> (status, body)`,
which the side-by-side benchmark (side_by_side.py) uses to ask it for protocol revisions.
"""

from __future__ import annotations

import json

TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
TOOLS_CALL = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": {"name": "get_weather", "arguments": {"city": "Lisbon"}}}
HEADERS = {"host": "bench.lambda-url.us-east-1.on.aws", "content-type": "application/json",
           "accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}

PRELUDE = """
import json, sys, time
sys.path[:0] = ["servers", "."]
"""

OURS = PRELUDE + f"""
from bench.scenarios import function_url_event
from weather.server import handler
class Context: aws_request_id = "bench"
def call(message):
    response = handler(function_url_event(message), Context())
    assert response["statusCode"] == 200, response
    return response["body"]
"""

SDK = PRELUDE + f"""
import asyncio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from bench.scenarios import HEADERS
server = MCPServer("weather", subscriptions=False)
import hashlib
# A copy of weather.server's get_weather: importing it would load our runtime too, and the baseline would
# move with every change to our import time.
_CONDITIONS = ("Sunny", "Partly cloudy", "Cloudy", "Light rain", "Thunderstorms", "Fog", "Windy", "Snow")
@server.tool()
async def get_weather(city: str) -> str:
    'Returns current weather for specified city (simulated data)'
    name = " ".join(city.split()) or "Unknown"
    digest = hashlib.sha256(name.casefold().encode()).digest()
    condition = _CONDITIONS[digest[0] % len(_CONDITIONS)]
    fahrenheit = 20 + digest[1] % 81
    return f"Weather in {{name}}: {{condition}}, {{fahrenheit}}°F"
app = server.streamable_http_app(json_response=True, stateless_http=True,
                                 transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
loop = asyncio.new_event_loop()
stop = asyncio.Event()
ready = loop.create_future()
async def hold():
    async with server.session_manager.run():
        ready.set_result(None)
        await stop.wait()
loop.create_task(hold())
loop.run_until_complete(ready)
async def asgi(body, headers):
    scope = {{"type": "http", "asgi": {{"version": "3.0"}}, "http_version": "1.1", "method": "POST", "scheme": "https",
             "path": "/mcp", "raw_path": b"/mcp", "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 0), "server": ("bench", 443)}}
    sent = []
    done = False
    async def receive():
        nonlocal done
        if not done:
            done = True
            return {{"type": "http.request", "body": body, "more_body": False}}
        await asyncio.Event().wait()
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
def exchange(message, headers=HEADERS):
    encoded = [(k.encode(), v.encode()) for k, v in headers.items()]
    return loop.run_until_complete(asgi(json.dumps(message).encode(), encoded))
def call(message):
    return exchange(message)[1]
"""

EMPTY = "pass"


def function_url_event(message: dict) -> dict:
    return {
        "version": "2.0", "rawPath": "/mcp", "rawQueryString": "", "headers": HEADERS,
        "requestContext": {"domainName": HEADERS["host"], "requestId": "bench",
                           "http": {"method": "POST", "path": "/mcp", "sourceIp": "127.0.0.1"}},
        "body": json.dumps(message), "isBase64Encoded": False,
    }


def cold_script(setup: str) -> str:
    """Import, build, and answer the first tools/list: what a Lambda cold start does before replying."""
    if setup == EMPTY:
        return EMPTY
    return setup + f"\nassert b'get_weather' in (lambda r: r if isinstance(r, bytes) else r.encode())(call({TOOLS_LIST!r}))\n"


def warm_script(setup: str, calls: int) -> str:
    """Time `calls` warm tools/call requests in one process; prints seconds per call."""
    return setup + f"""
call({TOOLS_CALL!r})
started = time.perf_counter()
for _ in range({calls}):
    call({TOOLS_CALL!r})
print((time.perf_counter() - started) / {calls})
"""
