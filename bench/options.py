"""`python -m bench.options` (also a step of `python -m bench`): what tracing and provisioned concurrency change.

- **Tracing on and off**: scenarios.OURS's cold start (a fresh process: import, lifespan, first tools/list,
  exit) without `MCP_TRACING`, and with `MCP_TRACING=otlp` exporting to an OTLP/HTTP receiver on loopback in
  this process, which stands in for the ADOT collector extension: the spans are sent before the first response
  returns, as on Lambda. The difference is the OpenTelemetry SDK's import and set-up, the spans and one export.
- **A primed environment's first request**: in a fresh process, the import of weather.server (Lambda's INIT)
  and then the first tools/call alone, in an on-demand environment (that request enters the lifespan and uses
  the SDK for the first time) and in one initialized for provisioned concurrency
  (`AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`: the import primes).

Fresh processes, the two of each pair alternating; medians of wall and CPU time (user + system: on a busy
machine wall times swing, CPU time much less), and ratios within the same run. Results replace the block between
the options markers in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.readme import replace_block
from bench.scenarios import OURS, PRELUDE, TOOLS_CALL, cold_script

ROOT = Path(__file__).resolve().parent.parent
# As the main step runs its scripts: bytecode written once (outside the tree) and read after, metrics off.
ENV = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "MCP_TRACING")},
       "PYTHONPYCACHEPREFIX": str(ROOT / "bench" / ".results" / "pycache"),
       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
PROVISIONED = {"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}
ON_DEMAND = {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}

FIRST_REQUEST = PRELUDE + f"""
started, started_cpu = time.perf_counter(), time.process_time()
from bench.scenarios import function_url_event
from weather.server import handler
imported, imported_cpu = time.perf_counter(), time.process_time()
class Context: aws_request_id = "bench"
response = handler(function_url_event({TOOLS_CALL!r}), Context())
assert response["statusCode"] == 200 and "Weather in Lisbon" in response["body"], response
print(imported - started, imported_cpu - started_cpu, time.perf_counter() - imported, time.process_time() - imported_cpu)
"""


def spawn(script: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run `script` in a fresh interpreter: its wall time from spawn to exit, its CPU time, what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**ENV, **env}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"benchmark script failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout


def alternating(runs: int, **cases: tuple[str, dict[str, str]]) -> dict[str, list[tuple[float, float, str]]]:
    """Each case's script `runs` times (after one uncounted run each), the cases taking turns."""
    for script, env in cases.values():
        spawn(script, env)
    results: dict[str, list[tuple[float, float, str]]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (script, env) in cases.items():
            results[name].append(spawn(script, env))
    return results


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[int]]]:
    """An OTLP/HTTP trace receiver on loopback that accepts everything: its URL, and the sizes received."""
    received: list[int] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(len(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def measure(runs: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) medians in seconds per figure."""
    with otlp_receiver() as (endpoint, received):
        traced = {"MCP_TRACING": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        cold = alternating(runs, off=(cold_script(OURS), {}), on=(cold_script(OURS), traced))
        if len(received) < runs:
            raise SystemExit(f"tracing on exported {len(received)} times in {runs + 1} cold starts")
    first = alternating(runs, on_demand=(FIRST_REQUEST, ON_DEMAND), provisioned=(FIRST_REQUEST, PROVISIONED))
    figures = {f"cold_{name}": (statistics.median(wall for wall, _, _ in rows),
                                statistics.median(cpu for _, cpu, _ in rows)) for name, rows in cold.items()}
    for name, rows in first.items():
        split = [[float(value) for value in out.split()[-4:]] for _, _, out in rows]
        figures[f"import_{name}"] = (statistics.median(r[0] for r in split), statistics.median(r[1] for r in split))
        figures[f"first_{name}"] = (statistics.median(r[2] for r in split), statistics.median(r[3] for r in split))
    return figures


def block(figures: dict[str, tuple[float, float]], runs: int, load: tuple[float, float], command: str) -> str:
    def row(name: str, figure: str, base: str, unit: str) -> str:
        (wall, cpu), (base_wall, base_cpu) = figures[figure], figures[base]
        return (f"| {name} | {wall * 1000:.2f} | {cpu * 1000:.2f} | "
                f"{wall / base_wall:.2f}× / {cpu / base_cpu:.2f}× {unit} |")

    machine = f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores"
    return "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} with {command} ({runs} fresh processes per figure, the two of each pair "
        f"alternating; {machine}, load average {load[0]:.1f} before, {load[1]:.1f} after).", "",
        "| measurement | median wall (ms) | median CPU (ms) | ratio: wall / CPU |", "|---|---:|---:|---|",
        row("Cold start: our handler, tracing off (import + lifespan + first tools/list)", "cold_off", "cold_off",
            "tracing off"),
        row("Cold start: our handler, tracing on (`MCP_TRACING=otlp`, spans sent to OTLP on loopback)", "cold_on",
            "cold_off", "tracing off"),
        row("First tools/call of an on-demand environment (lifespan + the SDK's first use)", "first_on_demand",
            "first_on_demand", "on-demand"),
        row("First tools/call of a provisioned-concurrency environment (primed during init)", "first_provisioned",
            "first_on_demand", "on-demand"),
        row("Import of weather.server (INIT): on-demand", "import_on_demand", "import_on_demand", "on-demand"),
        row("Import of weather.server (INIT): provisioned concurrency, priming included", "import_provisioned",
            "import_on_demand", "on-demand"),
    ])


def run(runs: int, write: bool, command: str = "`python -m bench.options`, this step alone") -> str:
    """Measure, and (with `write`) replace the block between the options markers in bench/README.md."""
    before = os.getloadavg()[0]
    text = block(measure(runs), runs, (before, os.getloadavg()[0]), command)
    if write:
        replace_block("options", text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.options", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per figure")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/README.md alone")
    args = parser.parse_args()
    print(run(args.runs, write=not args.no_write))


if __name__ == "__main__":
    main()
