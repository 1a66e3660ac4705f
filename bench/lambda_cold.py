"""`python -m bench.lambda_cold` (also the last step of `python -m bench`): the cold start as Lambda has it.

The weather function's bundle, built by the project's bundler for this machine's CPU, is started the way Lambda
starts an environment: `python3.13 -m awslambdaric <handler>` from a read-only copy, as another user, against a
Runtime API on loopback with the first event already waiting (the harness of tests/lambda_runtime). The figure is
the time from starting the process to the first response arriving at the Runtime API: Lambda's INIT (interpreter,
runtime client, import of the handler) plus the first invocation (a tools/list, the lifespan entered). INIT alone
ends when the runtime first asks for an event.

The bare SDK app is scenarios.SDK (the SDK's Streamable HTTP app over ASGI, its own copy of the tool, lifespan
entered at import) behind the smallest handler that hands it a Function URL event, in a copy of the same bundle,
compiled as the bundle is: the same interpreter, packages and bytecode, without our runtime. Environments of the
two alternate, each fresh; medians over the runs, and their ratio. Results replace the block between the
lambda markers in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.readme import replace_block
from bench.scenarios import SDK, TOOLS_LIST, function_url_event

ROOT = Path(__file__).resolve().parent.parent
# As the weather function is deployed (its requestState secret, which a tools/list never reads, left out).
OURS_VARIABLES = {"POWERTOOLS_SERVICE_NAME": "weather", "POWERTOOLS_METRICS_NAMESPACE": "McpServers"}
BARE_HANDLER = SDK + '''
def handler(event, context):
    status, body = exchange(json.loads(event["body"]), event["headers"])
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": body.decode()}
'''


def bare_sdk_task(image, weather_root: Path) -> Path:
    """A copy of the weather bundle holding the bare SDK app's handler (bare_sdk.py, with bench/scenarios.py,
    which it imports), compiled as the bundler compiles, read-only."""
    from tests.lambda_runtime.image import read_only

    root = image.tasks / "bare-sdk"
    shutil.copytree(weather_root, root)
    (root / "bench").mkdir()
    (root / "bench" / "__init__.py").write_text("")
    shutil.copy2(ROOT / "bench" / "scenarios.py", root / "bench" / "scenarios.py")
    (root / "bare_sdk.py").write_text(BARE_HANDLER)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-q", "--invalidation-mode", "unchecked-hash",
                    str(root / "bench"), str(root / "bare_sdk.py")], check=True)
    read_only(root)
    return root


def cold_start(image, function) -> tuple[float, float]:
    """Seconds from starting an environment of `function` to its first response through the Runtime API, and to
    its first request for an event (the end of INIT)."""
    from tests.lambda_runtime.environment import ExecutionEnvironment

    environment = ExecutionEnvironment(image, function, freeze=False)
    try:
        request_id = environment.api.send(function_url_event(TOOLS_LIST))
        kind, answer = environment.api.answer(request_id, timeout=60)
        if kind != "response" or answer.get("statusCode") != 200 or "get_weather" not in answer.get("body", ""):
            raise SystemExit(f"{function.handler} answered {kind}: {answer}\n{environment.output()[-2000:]}")
        assert environment.api.polled_at is not None
        return (environment.api.answered_at[request_id] - environment.started,
                environment.api.polled_at - environment.started)
    finally:
        environment.close()


def measure(runs: int) -> dict[str, dict[str, float]]:
    """Median first-response and INIT seconds of each handler over `runs` alternating fresh environments (after
    one uncounted start of each, which fills the OS file cache)."""
    from aws_cdk import aws_lambda as lambda_

    from mcp_lambda_cdk.bundling import PythonBundle
    from tests.lambda_runtime.environment import LambdaFunction
    from tests.lambda_runtime.harness import ARCHITECTURE
    from tests.lambda_runtime.image import RuntimeImage

    image = RuntimeImage()
    try:
        weather_root = image.task_root(PythonBundle.for_server(ROOT / "servers" / "weather",
                                                               runtime=lambda_.Runtime.PYTHON_3_13,
                                                               architecture=ARCHITECTURE))
        functions = {
            "sdk": LambdaFunction("weather-bare-sdk", "bare_sdk.handler", bare_sdk_task(image, weather_root),
                                  memory_size=1024, timeout=30),
            "ours": LambdaFunction("weather", "weather.server.handler", weather_root, OURS_VARIABLES,
                                   memory_size=1024, timeout=30),
        }
        for function in functions.values():
            cold_start(image, function)
        samples: dict[str, list[tuple[float, float]]] = {key: [] for key in functions}
        for run in range(runs):
            for key in (list(functions) if run % 2 == 0 else list(reversed(functions))):
                samples[key].append(cold_start(image, functions[key]))
        return {key: {"first_response": statistics.median(s[0] for s in values),
                      "init": statistics.median(s[1] for s in values)} for key, values in samples.items()}
    finally:
        image.close()


def block(figures: dict[str, dict[str, float]], runs: int, load: tuple[float, float], command: str) -> str:
    from tests.lambda_runtime.image import RIC_VERSION, function_user

    sdk, ours = figures["sdk"], figures["ours"]
    machine = (f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
               f"{os.cpu_count()} cores")
    user = "as `nobody`" if function_user() else "as the benchmark's own user"
    rows = [
        ("Lambda cold start: bare SDK app (INIT + first tools/list)", sdk["first_response"], "1.00× bare SDK"),
        ("Lambda cold start: our handler (INIT + first tools/list)", ours["first_response"],
         f"{ours['first_response'] / sdk['first_response']:.2f}× bare SDK"),
        ("of which INIT: bare SDK app (runtime client, import, lifespan)", sdk["init"], "1.00× bare SDK"),
        ("of which INIT: our handler (runtime client, import)", ours["init"],
         f"{ours['init'] / sdk['init']:.2f}× bare SDK"),
    ]
    table = ["| measurement | median (ms) | ratio |", "|---|---:|---|"]
    table += [f"| {name} | {seconds * 1000:.1f} | {ratio} |" for name, seconds, ratio in rows]
    return "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} with {command} ({runs} fresh environments per "
        f"handler, alternating; awslambdaric {RIC_VERSION}, the weather bundle for {platform.machine()}, read-only, "
        f"{user}; {machine}, load average {load[0]:.1f} before, {load[1]:.1f} after).", "", *table])


def run(runs: int, write: bool, command: str = "`python -m bench.lambda_cold`, this step alone") -> str:
    """Measure, and (with `write`) replace the block between the lambda markers in bench/README.md; `command`
    says in the block what measured it."""
    before = os.getloadavg()[0]
    figures = measure(runs)
    text = block(figures, runs, (before, os.getloadavg()[0]), command)
    if write:
        replace_block("lambda", text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.lambda_cold", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh environments per handler")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/README.md alone")
    args = parser.parse_args()
    print(run(args.runs, write=not args.no_write))


if __name__ == "__main__":
    main()
