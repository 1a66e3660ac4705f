"""`python -m bench.placement`: what a placed tool's hop costs (issue 18), warm and cold, measured in one run.

A placed tool's `tools/call` crosses two functions: the front validates it, forwards it by a synchronous invoke
(the event as JSON, `mcp_lambda.placement.forward`), and the tool function replays it through its own SDK app and
answers; the front returns that answer. Here both are local functions (`mcp_lambda.local.lambda_bridge`: an
execution environment each, one worker thread each), and the invoke is `placement.LocalLambda`'s, which crosses
as JSON as Lambda's does: what is measured is everything but Lambda's Invoke API itself (its network round trip
and routing, which only an AWS account can measure).

- **Warm**: weather's `get_weather`, in the front (unplaced) and placed on a tool function, in one process, the two
  alternating call by call after a warm-up; the median per call.
- **Warm, as Lambda runs it**: the same two, each function an environment of the runtime interface client
  (`python -m awslambdaric`, the weather bundle read-only, frozen between invocations: the harness of
  tests/lambda_runtime), the front's invoke a real botocore `Invoke` (SigV4-signed HTTP) to Lambda's Invoke API
  on loopback, which hands the event to the tool function's Runtime API: every part of the hop but AWS's network
  and routing; the median per call, from handing the front its event to its answer.
- **Cold**: a fresh process whose first `tools/call` is `get_weather`, unplaced, against a front whose first
  call of the placed tool starts the tool function in a fresh process of its own (its import, environment,
  lifespan and first call, as a cold tool function's INIT and first invoke), the two alternating; medians of
  wall and CPU time (the children's included).

Results replace the block between the placement markers in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

from bench.options import ENV, ROOT, alternating
from bench.readme import replace_block
from bench.scenarios import PRELUDE, TOOLS_CALL

TOOL_FUNCTION = "weather-get-weather"
# A tool function started on its first call: a fresh interpreter that reads one event and answers it, so that the
# front's first placed call pays a cold tool function, as on Lambda.
COLD_TOOL_FUNCTION = PRELUDE + f"""
from mcp_lambda import placement
from mcp_lambda.local.lambda_bridge import LocalFunction
from weather.server import handler
placement.install(handler.server, ["get_weather"])
function = LocalFunction({TOOL_FUNCTION!r}, "weather.server:handler", environment={{"MCP_TOOL_FUNCTION_TOOLS": "get_weather"}})
sys.stdout.write("\\n" + json.dumps(function.invoke(json.loads(sys.stdin.read()))))
"""
FIRST_CALL = PRELUDE + f"""
from bench.scenarios import function_url_event
from mcp_lambda.local.lambda_bridge import LocalFunction
front = LocalFunction("weather", "weather.server:handler", environment=ENVIRONMENT)
response = front.invoke(function_url_event({TOOLS_CALL!r}))
assert response["statusCode"] == 200 and "Weather in Lisbon" in response["body"] and '"isError":false' in response["body"], response
"""
UNPLACED_COLD = FIRST_CALL.replace("ENVIRONMENT", "{}")
PLACED_COLD = FIRST_CALL.replace("ENVIRONMENT", "{'MCP_TOOL_FUNCTIONS': json.dumps({'get_weather': %r})}" % TOOL_FUNCTION).replace(
    "from bench.scenarios import function_url_event", f"""from bench.scenarios import function_url_event
import subprocess
from mcp_lambda import placement
from weather.server import handler
placement.install(handler.server, ["get_weather"])
def cold_tool_function(event):
    done = subprocess.run([sys.executable, "-c", {COLD_TOOL_FUNCTION!r}], input=json.dumps(event), capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])  # its answer is its last line, after any log line
placement.register_local({TOOL_FUNCTION!r}, cold_tool_function)""")


def warm(calls: int) -> dict[str, float]:
    """Seconds per warm `tools/call` of get_weather: in the front, and placed (front -> invoke -> tool function)."""
    os.environ.update({k: v for k, v in ENV.items() if k.startswith("POWERTOOLS_")})  # as the scripts: quiet
    if str(ROOT / "servers") not in sys.path:
        sys.path.insert(0, str(ROOT / "servers"))  # as the scripts' prelude: the servers import as Lambda does
    from mcp_lambda import placement
    from mcp_lambda.local.lambda_bridge import LocalFunction
    from weather.server import handler

    from bench.scenarios import function_url_event

    placement.install(handler.server, ["get_weather"])
    tool = LocalFunction(TOOL_FUNCTION, "weather.server:handler", environment={"MCP_TOOL_FUNCTION_TOOLS": "get_weather"})
    placement.register_local(TOOL_FUNCTION, tool.invoke)
    functions = {
        "unplaced": LocalFunction("weather", "weather.server:handler"),
        "placed": LocalFunction("weather-placed", "weather.server:handler",
                                environment={"MCP_TOOL_FUNCTIONS": json.dumps({"get_weather": TOOL_FUNCTION})}),
    }
    times: dict[str, list[float]] = {name: [] for name in functions}
    try:
        for round_ in range(calls + 20):
            for name, function in functions.items():
                event = function_url_event(TOOLS_CALL)
                started = time.perf_counter()
                response = function.invoke(event)
                elapsed = time.perf_counter() - started
                assert response["statusCode"] == 200 and "Weather in Lisbon" in response["body"], response
                assert '"isError":false' in response["body"], response
                if round_ >= 20:  # the first calls warm both up
                    times[name].append(elapsed)
    finally:
        for function in (*functions.values(), tool):
            function.close()
        placement.unregister_local(TOOL_FUNCTION)
    return {name: statistics.median(values) for name, values in times.items()}


def lambda_warm(calls: int) -> dict[str, float]:
    """Seconds per warm `tools/call` of get_weather under the runtime interface client: in the front, and placed
    (front -> botocore Invoke -> Invoke API -> tool function's Runtime API), alternating call by call."""
    from aws_cdk import aws_lambda as lambda_

    from bench.lambda_cold import OURS_VARIABLES
    from bench.scenarios import function_url_event
    from mcp_lambda_cdk.bundling import PythonBundle
    from tests.lambda_runtime.environment import ExecutionEnvironment, LambdaFunction
    from tests.lambda_runtime.harness import ARCHITECTURE
    from tests.lambda_runtime.image import RuntimeImage
    from tests.lambda_runtime.runtime_api import InvokeApi

    image, invoke_api = RuntimeImage(), InvokeApi()
    environments: dict[str, ExecutionEnvironment] = {}
    try:
        root = image.task_root(PythonBundle.for_server(ROOT / "servers" / "weather", runtime=lambda_.Runtime.PYTHON_3_13,
                                                       architecture=ARCHITECTURE))

        def function(name: str, **variables: str) -> LambdaFunction:
            return LambdaFunction(name, "weather.server.handler", root, {**OURS_VARIABLES, **variables},
                                  memory_size=1024, timeout=30)

        tool = function(TOOL_FUNCTION, MCP_TOOL_FUNCTION_TOOLS="get_weather")
        environments["tool"] = ExecutionEnvironment(image, tool)
        invoke_api.route(tool.name, environments["tool"].api)
        lambda_endpoint = {"AWS_ENDPOINT_URL_LAMBDA": invoke_api.endpoint}
        environments["unplaced"] = ExecutionEnvironment(image, function("weather"), stand_ins=lambda_endpoint)
        environments["placed"] = ExecutionEnvironment(
            image, function("weather-placed", MCP_TOOL_FUNCTIONS=json.dumps({"get_weather": tool.invoked_arn})),
            stand_ins=lambda_endpoint)
        times: dict[str, list[float]] = {"unplaced": [], "placed": []}
        for round_ in range(calls + 20):
            for name in times:
                started = time.perf_counter()
                kind, response = environments[name].invoke(function_url_event(TOOLS_CALL))
                elapsed = time.perf_counter() - started
                assert kind == "response" and response["statusCode"] == 200, (kind, response)
                assert "Weather in Lisbon" in response["body"] and '"isError":false' in response["body"], response
                if round_ >= 20:
                    times[name].append(elapsed)
        forwarded = [i for i in invoke_api.invocations if i["type"] == "RequestResponse"]
        assert len(forwarded) == calls + 20, "every placed call was forwarded through the Invoke API"
        return {name: statistics.median(values) for name, values in times.items()}
    finally:
        for environment in environments.values():
            environment.close()
        invoke_api.close()
        image.close()


def cold(runs: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) medians in seconds of a fresh process's first tools/call, unplaced and placed (both cold)."""
    rows = alternating(runs, unplaced=(UNPLACED_COLD, {}), placed=(PLACED_COLD, {}))
    return {name: (statistics.median(wall for wall, _, _ in values), statistics.median(cpu for _, cpu, _ in values))
            for name, values in rows.items()}


def block(warm_: dict[str, float], lambda_: dict[str, float], cold_: dict[str, tuple[float, float]], runs: int,
          calls: int, load: tuple[float, float], command: str) -> str:
    machine = f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores"
    (cold_wall, cold_cpu), (placed_wall, placed_cpu) = cold_["unplaced"], cold_["placed"]
    return "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} with {command} ({calls} warm calls each, alternating, in one process; "
        f"{runs} fresh processes per cold figure, alternating; {machine}, load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after).", "",
        "| measurement | median wall (ms) | median CPU (ms) | ratio: wall / CPU |", "|---|---:|---:|---|",
        f"| Warm tools/call get_weather, in the front | {warm_['unplaced'] * 1000:.2f} | | 1.00× in the front |",
        f"| Warm tools/call get_weather, placed (front → invoke → tool function) | {warm_['placed'] * 1000:.2f} | | "
        f"{warm_['placed'] / warm_['unplaced']:.2f}× in the front (+{(warm_['placed'] - warm_['unplaced']) * 1000:.2f} ms) |",
        f"| Warm under awslambdaric, in the front | {lambda_['unplaced'] * 1000:.2f} | | 1.00× in the front |",
        f"| Warm under awslambdaric, placed (botocore Invoke through the Invoke API on loopback) | "
        f"{lambda_['placed'] * 1000:.2f} | | {lambda_['placed'] / lambda_['unplaced']:.2f}× in the front "
        f"(+{(lambda_['placed'] - lambda_['unplaced']) * 1000:.2f} ms) |",
        f"| Cold: a fresh environment's first tools/call, in the front | {cold_wall * 1000:.1f} | {cold_cpu * 1000:.1f} | "
        "1.00× / 1.00× in the front |",
        f"| Cold: a fresh front's first call of the placed tool, its tool function cold too (a fresh process) | "
        f"{placed_wall * 1000:.1f} | {placed_cpu * 1000:.1f} | {placed_wall / cold_wall:.2f}× / "
        f"{placed_cpu / cold_cpu:.2f}× in the front |",
    ])


def run(runs: int, calls: int, write: bool, command: str = "`python -m bench.placement`, this step alone") -> str:
    """Measure, and (with `write`) replace the block between the placement markers in bench/README.md."""
    before = os.getloadavg()[0]
    warm_ = warm(calls)
    lambda_ = lambda_warm(calls)
    cold_ = cold(runs)
    text = block(warm_, lambda_, cold_, runs, calls, (before, os.getloadavg()[0]), command)
    if write:
        replace_block("placement", text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.placement", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per cold figure")
    parser.add_argument("--calls", type=int, default=300, help="warm calls per case")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/README.md alone")
    args = parser.parse_args()
    print(run(args.runs, args.calls, write=not args.no_write))


if __name__ == "__main__":
    main()
