"""`make bench`: cold start and warm tools/call of the weather function, as ratios measured in one run.

Each cold start is a fresh interpreter (`python -c`), timed from spawn to exit, median of the runs;
the warm figure is the median of several processes' mean per-call time. Results replace the table
between the markers in bench/README.md (and go to bench/.results/main.json for side_by_side.py).
Then what tracing and provisioned concurrency change (options.py), the cold start as Lambda has it, under its
runtime interface client (lambda_cold.py), and a placed tool's hop, warm and cold (placement.py), each its own block.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import lambda_cold, options, placement
from bench.readme import replace_block
from bench.scenarios import EMPTY, OURS, SDK, cold_script, warm_script

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / ".results"
# Bytecode is written (outside the tree) by each cold-start figure's uncounted first run and read by the rest,
# as a bundle ships it: `make` exports PYTHONDONTWRITEBYTECODE, which would otherwise leave our servers/ and
# runtime code recompiling on every start while the SDK's installed packages load precompiled.
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPYCACHEPREFIX": str(ROOT / "bench" / ".results" / "pycache"),
       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}


def run(script: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benchmark script failed:\n{done.stderr}")
    return elapsed, done.stdout


def cold(setup: str, runs: int) -> float:
    run(cold_script(setup))  # warm the OS file cache once; not counted
    return statistics.median(run(cold_script(setup))[0] for _ in range(runs))


def warm(setup: str, processes: int, calls: int) -> float:
    return statistics.median(float(run(warm_script(setup, calls))[1].split()[-1]) for _ in range(processes))


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per cold-start figure")
    parser.add_argument("--calls", type=int, default=300, help="warm calls per process")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/README.md alone")
    args = parser.parse_args()

    empty, sdk_cold, ours_cold = (cold(s, args.runs) for s in (EMPTY, SDK, OURS))
    sdk_warm, ours_warm = (warm(s, 5, args.calls) for s in (SDK, OURS))
    posts = 5 * (args.calls // 3)
    insert, posted = json.loads(run(f"from bench.messaging import measure; import json; "
                                    f"print(json.dumps(measure({posts})))")[1].splitlines()[-1])
    rows = [
        ("Cold start: empty interpreter", empty * 1000, "1.00× empty"),
        ("Cold start: bare SDK app (import + lifespan + first tools/list)", sdk_cold * 1000,
         f"{sdk_cold / empty:.2f}× empty"),
        ("Cold start: our handler (import + lifespan + first tools/list)", ours_cold * 1000,
         f"{ours_cold / empty:.2f}× empty, {ours_cold / sdk_cold:.2f}× bare SDK"),
        ("Warm tools/call: bare SDK app in-process", sdk_warm * 1000, "1.00× bare SDK"),
        ("Warm tools/call: our handler (Lambda event in, response out)", ours_warm * 1000,
         f"{ours_warm / sdk_warm:.2f}× bare SDK"),
        ("Write: raw pg8000 INSERT, one connection", insert * 1000, "1.00× raw INSERT"),
        ("Write: post_message through our handler", posted * 1000, f"{posted / insert:.2f}× raw INSERT"),
    ]
    table = ["| measurement | median (ms) | ratio |", "|---|---:|---|"]
    table += [f"| {name} | {ms:.2f} | {ratio} |" for name, ms, ratio in rows]
    machine = f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores"
    block = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} with `make bench` ({args.runs} fresh processes per cold start, "
        f"5 processes × {args.calls} warm calls, {posts} posts each way, alternating, median per post; database: "
        f"{'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded PostgreSQL'}; {machine}).", "", *table])
    print(block)
    if not args.no_write:
        # For the side-by-side step, which reports the post_message target next to its own.
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "main.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "raw_insert": insert,
                                                       "post_message": posted}))
        replace_block("results", block)
    print(options.run(args.runs, write=not args.no_write, command="`make bench`"))
    print(lambda_cold.run(args.runs, write=not args.no_write, command="`make bench`"))
    print(placement.run(args.runs, args.calls, write=not args.no_write, command="`make bench`"))


if __name__ == "__main__":
    main()
