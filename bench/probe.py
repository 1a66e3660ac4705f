"""One fresh process of one runtime, run inside that runtime's venv as
`python -c "$(cat bench/probe.py)" '<config json>'` (as -c, so that bench/ is not on its import path).

Standard library only, and nothing from the project, so that it runs unchanged in every peer's venv.
The config names either a module exposing a Lambda `handler(event, context)` (called with a Lambda
function URL event, as Lambda would) or a `setup` snippet defining `exchange(message, headers)`.

mode "measure": import, first tools/list, then warm tools/call; prints perf_counter timestamps, which on
Linux are CLOCK_MONOTONIC and so comparable with the parent's spawn time, the CPU time spent until the
first answer, and the peak RSS.
mode "protocol": the initialize and server/discover answers (also the uncounted warm-up run).
Either way the last stdout line is `PROBE <json>`; the parent checks the answers.
"""

import time

STARTED = time.perf_counter()  # first: everything before it is the interpreter's own start
STARTED_CPU = time.process_time()

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

HOST = "bench.lambda-url.us-east-1.on.aws"
HEADERS = {"host": HOST, "content-type": "application/json", "accept": "application/json, text/event-stream",
           "mcp-protocol-version": "2025-11-25"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
TOOLS_CALL = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": {"name": "get_weather", "arguments": {"city": "Lisbon"}}}
CLIENT = {"name": "bench", "version": "1"}
INITIALIZE = {"jsonrpc": "2.0", "id": 3, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT}}
DISCOVER = {"jsonrpc": "2.0", "id": 4, "method": "server/discover",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                 "io.modelcontextprotocol/clientInfo": CLIENT,
                                 "io.modelcontextprotocol/clientCapabilities": {}}}}
DISCOVER_HEADERS = {**HEADERS, "mcp-protocol-version": "2026-07-28", "mcp-method": "server/discover"}


class Context:
    """The attributes of a LambdaContext that the runtimes read."""
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def function_url_event(message: dict, headers: dict) -> dict:
    """A Lambda function URL (payload 2.0) POST to /mcp, as Lambda delivers it."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/mcp", "rawQueryString": "", "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "bench", "domainName": HOST, "domainPrefix": "bench",
            "http": {"method": "POST", "path": "/mcp", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "bench"},
            "requestId": "bench", "routeKey": "$default", "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000", "timeEpoch": 1795564800000,
        },
        "body": json.dumps(message), "isBase64Encoded": False,
    }


def lambda_exchange(handler):
    def exchange(message: dict, headers: dict = HEADERS) -> tuple[int, str]:
        response = handler(function_url_event(message, headers), Context())
        return response["statusCode"], response.get("body") or ""
    return exchange


def load(config: dict):
    """Import (or build) the runtime; returns its `exchange`."""
    if "module" in config:
        namespace: dict = {}
        exec(f"from {config['module']} import handler", namespace)
        return lambda_exchange(namespace["handler"])
    namespace = {}
    exec(config["setup"], namespace)
    return namespace["exchange"]


def cpu() -> float:
    """CPU seconds (user + system) so far, the stdio servers a runtime started and waited for included:
    unlike wall time, hardly moved by whatever else the machine runs."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def text(body) -> str:
    return body.decode() if isinstance(body, bytes) else body


def measure(config: dict) -> dict:
    exchange = load(config)
    imported = time.perf_counter()
    listed = exchange(TOOLS_LIST)
    answered = time.perf_counter()
    cold_cpu = cpu()
    exchange(TOOLS_CALL)  # the first call may still import or build something: not a warm call
    per_call = []
    for _ in range(config["calls"]):
        before = time.perf_counter()
        called = exchange(TOOLS_CALL)
        per_call.append(time.perf_counter() - before)
    own, children = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"started": STARTED, "imported": imported, "answered": answered, "cpu": cold_cpu,
            "warm": sorted(per_call)[len(per_call) // 2],
            "maxrss_kib": own, "children_maxrss_kib": children,
            "tools/list": [listed[0], text(listed[1])], "tools/call": [called[0], text(called[1])]}


def protocol(config: dict) -> dict:
    exchange = load(config)
    answers = {"tools/list": exchange(TOOLS_LIST), "tools/call": exchange(TOOLS_CALL),
               "initialize": exchange(INITIALIZE), "server/discover": exchange(DISCOVER, DISCOVER_HEADERS)}
    return {name: [status, text(body)] for name, (status, body) in answers.items()}


def main() -> None:
    config = json.loads(sys.argv[1])
    if config["mode"] == "empty":
        result = {"started": STARTED, "cpu": STARTED_CPU,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    else:
        result = (measure if config["mode"] == "measure" else protocol)(config)
    print("PROBE " + json.dumps(result), flush=True)


main()
