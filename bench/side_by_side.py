"""`python -m bench.side_by_side` (the second step of `make bench`): our runtime next to its peers.

Every runtime (runtimes.py) answers the same requests from fresh processes of its own venv (venvs.py),
through bench/probe.py. Rounds are round-robin, each starting one runtime further on, so that whatever
else the machine does falls on all of them alike; every figure is a median over the rounds and is set
against the empty interpreter measured in the same rounds. A wrong answer stops the run: a fast server
that answers wrongly is not a result.

Results: bench/.results/side-by-side.json, the block between the peers markers in bench/README.md, and
bench/cold-start.png (plot.py, in its own venv).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from bench import venvs
from bench.readme import replace_block
from bench.runtimes import (ALL, BARE_SDK, EMPTY, EXPECTED_WEATHER, OURS, PEER_RUNTIMES, PLOT_REQUIREMENTS, RMSL,
                            Runtime)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / ".results"
PLOT = ROOT / "bench" / "cold-start.png"
PROBE = (ROOT / "bench" / "probe.py").read_text()
MiB = 1024 * 1024


def environment(runtime: Runtime) -> dict[str, str]:
    """The same environment for all; bytecode goes to one cache per venv, written by the warm-up run.

    `make` exports PYTHONDONTWRITEBYTECODE, which would leave our servers/ and the peers' server.py
    recompiled on every start while their libraries load pip's bytecode; a pycache prefix gives every
    runtime compiled code alike, as a bundle with .pyc files would, without writing into the source tree.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING",
               PYTHONPATH=os.pathsep.join(str(p) for p in runtime.pythonpath),
               PYTHONPYCACHEPREFIX=str(venvs.VENVS / runtime.venv / "pycache"))
    return env


def probe(runtime: Runtime, mode: str) -> tuple[float, dict]:
    """One fresh process: (spawn time on the monotonic clock, what the probe printed)."""
    config = json.dumps({**runtime.probe, "mode": mode, "calls": runtime.calls})
    spawned = time.perf_counter()
    done = subprocess.run([str(venvs.python(runtime.venv)), "-c", PROBE, config], cwd=runtime.cwd,
                          env=environment(runtime), capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{runtime.label}: probe ({mode}) failed, exit {done.returncode}:\n{done.stderr[-4000:]}")
    return spawned, json.loads(lines[-1][len("PROBE "):])


def result_of(runtime: Runtime, method: str, answer: list) -> dict:
    """The JSON-RPC result of a 200 answer, or stop the run."""
    status, body = answer
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if status != 200 or not isinstance(message, dict) or not isinstance(message.get("result"), dict):
        raise SystemExit(f"{runtime.label}: wrong answer to {method}: HTTP {status} {body[:500]}")
    return message["result"]


def check(runtime: Runtime, answers: dict) -> None:
    """tools/list must offer get_weather and tools/call must give the weather every runtime gives."""
    tools = [tool.get("name") for tool in result_of(runtime, "tools/list", answers["tools/list"]).get("tools", [])]
    if "get_weather" not in tools:
        raise SystemExit(f"{runtime.label}: tools/list has no get_weather: {tools}")
    called = result_of(runtime, "tools/call", answers["tools/call"])
    texts = [item.get("text") for item in called.get("content", [])]
    if called.get("isError") or texts != [EXPECTED_WEATHER]:
        raise SystemExit(f"{runtime.label}: tools/call answered {called}, expected {EXPECTED_WEATHER!r}")


def describe(answer: list, field: str) -> str:
    """What a runtime answered: the field of the result, or the error it gave instead."""
    status, body = answer
    try:
        message = json.loads(body)
    except ValueError:
        return f"HTTP {status}, no JSON body"
    if isinstance(message, dict) and isinstance(message.get("result"), dict) and field in message["result"]:
        value = message["result"][field]
        return ", ".join(value) if isinstance(value, list) else str(value)
    error = message.get("error") if isinstance(message, dict) else None
    if isinstance(error, dict):
        return f"error {error.get('code')} “{str(error.get('message'))[:60]}”, HTTP {status}"
    return f"HTTP {status}, {body[:60]}"


def protocols(runtime: Runtime) -> dict:
    """The uncounted first run: writes the bytecode cache, checks answers, records protocol revisions."""
    _, answers = probe(runtime, "protocol")
    check(runtime, answers)
    return {"initialize": describe(answers["initialize"], "protocolVersion"),
            "discover": describe(answers["server/discover"], "supportedVersions")}


def sample(runtime: Runtime) -> dict:
    spawned, got = probe(runtime, "empty" if runtime is EMPTY else "measure")
    if runtime is EMPTY:
        return {"cold": got["started"] - spawned, "cpu": got["cpu"], "rss": got["maxrss_kib"] / 1024}
    check(runtime, got)
    return {"import": got["imported"] - got["started"], "cold": got["answered"] - spawned, "cpu": got["cpu"],
            "warm": got["warm"],
            "rss": (got["maxrss_kib"] + got["children_maxrss_kib"]) / 1024}


def measure(rounds: int) -> tuple[dict, dict]:
    if not time.get_clock_info("perf_counter").implementation.startswith("clock_gettime(CLOCK_MONOTONIC"):
        raise SystemExit("spawn-to-answer timing needs perf_counter on the system-wide monotonic clock (Linux)")
    venvs.ensure_all({**{r.venv: r.requirements for r in ALL}, "plot": PLOT_REQUIREMENTS})
    figures = {r.key: {"label": r.label, **({} if r is EMPTY else protocols(r))} for r in ALL}
    samples: dict[str, list[dict]] = {r.key: [] for r in ALL}
    for n in range(rounds):
        for runtime in ALL[n % len(ALL):] + ALL[:n % len(ALL)]:
            samples[runtime.key].append(sample(runtime))
        print(f"[bench] side by side: round {n + 1}/{rounds}", flush=True)
    for runtime in ALL:
        figure = figures[runtime.key]
        for name in samples[runtime.key][0]:
            figure[name] = statistics.median(s[name] for s in samples[runtime.key])
        if runtime.sized:
            code = sum(p.stat().st_size for d in runtime.code for p in d.rglob("*.py"))
            figure["size"] = (venvs.dependencies_size(runtime.venv) + code) / MiB
    return figures, samples


def table(figures: dict) -> list[str]:
    empty, ours = figures[EMPTY.key], figures[OURS.key]
    rows = ["| runtime | import (ms) | cold start: spawn to first tools/list (ms) | CPU time until then (ms) "
            "| warm tools/call (ms) | peak RSS (MiB) | dependencies (MiB) | answers initialize 2025-11-25 with "
            "| server/discover 2026-07-28 |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for key, f in figures.items():
        if key == EMPTY.key:
            rows.append(f"| {f['label']} | – | {f['cold'] * 1000:.1f} (1.00×) | {f['cpu'] * 1000:.1f} (1.00×) | – "
                        f"| {f['rss']:.0f} (1.00×) | – | – | – |")
            continue
        warm = f"{f['warm'] * 1000:.3f} ({f['warm'] / ours['warm']:.2f}× ours)"
        size = f"{f['size']:.1f}" if "size" in f else "(our venv)"
        rows.append(f"| {f['label']} | {f['import'] * 1000:.0f} ({f['import'] / empty['cold']:.1f}× empty) "
                    f"| {f['cold'] * 1000:.0f} ({f['cold'] / empty['cold']:.1f}× empty) "
                    f"| {f['cpu'] * 1000:.0f} ({f['cpu'] / empty['cpu']:.1f}× empty) | {warm} "
                    f"| {f['rss']:.0f} ({f['rss'] / empty['rss']:.1f}× empty) | {size} "
                    f"| {f['initialize']} | {f['discover']} |")
    return rows


def targets(figures: dict) -> list[str]:
    """The project's targets (issue 8), met or not; post_message comes from the first step of the same `make bench`."""
    ours, sdk, rmsl = figures[OURS.key], figures[BARE_SDK.key], figures[RMSL.key]
    fastest = min((figures[r.key] for r in PEER_RUNTIMES), key=lambda f: f["cold"])
    lines = [
        ("cold start ≤ 1.10× the bare SDK app", ours["cold"] / sdk["cold"], "×", lambda v: v <= 1.10),
        ("the same in CPU time", ours["cpu"] / sdk["cpu"], "×", lambda v: v <= 1.10),
        (f"cold start no slower than the fastest peer ({fastest['label']})", ours["cold"] / fastest["cold"], "×",
         lambda v: v <= 1.0),
        ("the same in CPU time", ours["cpu"] / fastest["cpu"], "×", lambda v: v <= 1.0),
        ("warm tools/call ≤ 1.20× the SDK app in-process", ours["warm"] / sdk["warm"], "×", lambda v: v <= 1.20),
        ("warm tools/call ≥ 100× faster than run-mcp-servers-with-aws-lambda", rmsl["warm"] / ours["warm"],
         "× faster", lambda v: v >= 100),
    ]
    main = RESULTS / "main.json"
    if main.exists():
        written = json.loads(main.read_text())
        lines.append((f"post_message ≤ 1.30× a raw pg8000 INSERT (`python -m bench`, {written['date']})",
                      written["post_message"] / written["raw_insert"], "×", lambda v: v <= 1.30))
    return ["| target | ours | met |", "|---|---:|---|"] + [
        f"| {name} | {value:.2f}{unit} | {'yes' if ok(value) else '**no**'} |" for name, value, unit, ok in lines]


def write(figures: dict, samples: dict, rounds: int, load: str) -> str:
    machine = (f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
               f"{os.cpu_count()} cores, load average {load}")
    block = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} with `make bench` (its step `python -m bench.side_by_side "
        f"--rounds {rounds}`: {rounds} round-robin rounds of one fresh process per runtime; warm figure: median of "
        f"each process's median over {OURS.calls} calls, {RMSL.calls} for run-mcp-servers-with-aws-lambda; "
        f"{machine}).", "", *table(figures), "", *targets(figures)])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "side-by-side.json").write_text(
        json.dumps({"rounds": rounds, "figures": figures, "samples": samples}, indent=1))
    replace_block("peers", block)
    subprocess.run([str(venvs.python("plot")), str(ROOT / "bench" / "plot.py"), str(RESULTS / "side-by-side.json"),
                    str(PLOT)], check=True)
    return block


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.side_by_side", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="fresh processes per runtime")
    parser.add_argument("--no-write", action="store_true", help="print only; leave README, results and plot alone")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    figures, samples = measure(args.rounds)
    load = f"{before:.1f} before, {os.getloadavg()[0]:.1f} after"  # how busy the machine was, for the reader
    print(write(figures, samples, args.rounds, load) if not args.no_write
          else "\n".join(table(figures) + [""] + targets(figures)))


if __name__ == "__main__":
    main()
