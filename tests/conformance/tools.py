"""Install and run the official MCP conformance suite (`@modelcontextprotocol/conformance`).

`install()` runs install.sh (Node 22 and every pinned suite version, cached in .tools/); `run_suite()`
runs one suite version's server scenarios (or one extension's, see EXTENSION_RUNS) against a URL and
returns each scenario's checks, read from the `checks.json` files the suite writes with `-o`. Also usable
by hand:

    .venv/bin/python -m tests.conformance.tools http://127.0.0.1:8080/conformance/mcp
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INSTALLER = HERE / "install.sh"
EXPECTED_FILE = HERE / "expected-failures.json"

# How each suite version is run: 0.1.16 covers the handshake revisions (its client negotiates the newest
# one, 2025-11-25); the 0.2.0 alphas run every scenario that applies at the 2026-07-28 single-exchange
# revision, on that revision's wire. `--suite all` includes scenarios the suite still calls pending.
SUITE_ARGS: dict[str, list[str]] = {
    "conformance-0.1.16": ["--suite", "all"],
    "conformance-0.2.0-alpha.12": ["--suite", "all", "--spec-version", "2026-07-28", "--timeout", "60000"],
}
LIST_ARGS: dict[str, list[str]] = {
    "conformance-0.1.16": [],
    "conformance-0.2.0-alpha.12": ["--spec-version", "2026-07-28"],
}

# Extension scenarios (tagged `[extension]` in the suite's list) are off the spec timeline, so
# `--spec-version` leaves them out: each extension is a run of its own, one `--scenario` at a time (the
# suite runs an extension scenario at 2026-07-28). Run name -> (suite version, scenario name prefix).
EXTENSION_RUNS: dict[str, tuple[str, str]] = {
    "conformance-0.2.0-alpha.12+tasks": ("conformance-0.2.0-alpha.12", "tasks-"),
}
EXTENSION_ARGS = ["--timeout", "60000"]
RUNS = [*SUITE_ARGS, *EXTENSION_RUNS]

# Check statuses that count against a server. SUCCESS, INFO and SKIPPED do not.
TRACKED_STATUSES = ("FAILURE", "WARNING")

_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$")
_LISTED = re.compile(r"^\s+- (?P<scenario>[a-z0-9-]+)(?: \[(?P<tags>.*)\])?$")


@dataclass(frozen=True)
class Tools:
    node: Path
    suites: dict[str, Path]
    """Suite name (a directory under tests/conformance/npm/) -> the CLI's entry point."""

    def command(self, suite: str, *args: str) -> list[str]:
        return [str(self.node), str(self.suites[suite]), *args]


@dataclass
class SuiteRun:
    suite: str
    returncode: int
    output: str
    scenarios: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Scenario -> the checks it reported."""


def install() -> Tools:
    """Run the idempotent installer and return where it put things."""
    done = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{INSTALLER} failed ({done.returncode}):\n{done.stderr}\n{done.stdout}")
    node: Path | None = None
    suites: dict[str, Path] = {}
    for line in done.stdout.splitlines():
        if line.startswith("NODE="):
            node = Path(line.removeprefix("NODE="))
        elif line.startswith("SUITE "):
            _, name, entry = line.split(" ", 2)
            suites[name] = Path(entry)
    if node is None or not suites:
        raise RuntimeError(f"unexpected output from {INSTALLER}:\n{done.stdout}")
    return Tools(node=node, suites=suites)


def list_scenarios(tools: Tools, run: str) -> list[str]:
    """The server scenarios of a run: what its suite version lists with the spec-version filter it is run
    with, or, for an extension run, the extension scenarios with the run's prefix."""
    suite, prefix = EXTENSION_RUNS.get(run, (run, None))
    done = subprocess.run(
        tools.command(suite, "list", "--server", *([] if prefix else LIST_ARGS[suite])),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    listed = [m for line in done.stdout.splitlines() if (m := _LISTED.match(line))]
    if prefix is None:
        return [m["scenario"] for m in listed]
    return [m["scenario"] for m in listed if m["tags"] == "extension" and m["scenario"].startswith(prefix)]


def run_suite(tools: Tools, run: str, url: str, timeout: float = 600) -> SuiteRun:
    """Run every server scenario of one run against `url`: a suite version's in one process, an extension's
    one process per scenario."""
    with tempfile.TemporaryDirectory(prefix=f"{run}-") as out:
        if run in EXTENSION_RUNS:
            suite, outputs = EXTENSION_RUNS[run][0], []
            returncode = 0
            for scenario in list_scenarios(tools, run):
                done = subprocess.run(
                    tools.command(suite, "server", "--url", url, "--scenario", scenario, *EXTENSION_ARGS, "-o", out),
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
                returncode = max(returncode, done.returncode)
                outputs.append(done.stdout + done.stderr)
            result = SuiteRun(run, returncode, "".join(outputs))
        else:
            done = subprocess.run(
                tools.command(run, "server", "--url", url, *SUITE_ARGS[run], "-o", out),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            result = SuiteRun(run, done.returncode, done.stdout + done.stderr)
        for checks_file in sorted(Path(out).glob("*/checks.json")):
            match = _RESULT_DIR.match(checks_file.parent.name)
            if match:
                result.scenarios[match["scenario"]] = json.loads(checks_file.read_text())
    return result


def load_expected() -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """run -> scenario -> check id -> {"status", "reason"}, from expected-failures.json."""
    data = json.loads(EXPECTED_FILE.read_text())
    return {suite: entry["scenarios"] for suite, entry in data["suites"].items()}


def tracked(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Check id -> the first check with that id whose status counts against the server."""
    found: dict[str, dict[str, Any]] = {}
    for check in checks:
        if check.get("status") in TRACKED_STATUSES:
            found.setdefault(check["id"], check)
    return found


def differences(checks: list[dict[str, Any]], expected: dict[str, dict[str, str]], expected_file: str) -> list[str]:
    """What a scenario's checks do that `expected` (check id -> status, reason) does not say, and back."""
    actual = tracked(checks)
    problems = []
    for check_id, check in actual.items():
        want = expected.get(check_id)
        if want is None or want["status"] != check["status"]:
            detail = check.get("errorMessage") or json.dumps(check.get("details"), default=str)[:1500]
            problems.append(f"unexpected {check['status']}: {check_id} ({check.get('description')}): {detail}")
    for check_id, want in expected.items():
        if check_id not in actual:
            problems.append(
                f"expected {want['status']} no longer happens: {check_id} ({want['reason']}); "
                f"remove it from {expected_file}"
            )
    return problems


def tally(checks: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.get("status", "?")] = counts.get(check.get("status", "?"), 0) + 1
    return counts


def main(argv: list[str]) -> int:
    """Run every suite (and extension run) against a running server and print every failing or warning check."""
    if len(argv) != 1:
        print(f"usage: {sys.argv[0]} <server url>", file=sys.stderr)
        return 2
    tools = install()
    for suite in RUNS:
        run = run_suite(tools, suite, argv[0])
        totals: dict[str, int] = {}
        for scenario, checks in run.scenarios.items():
            for status, count in tally(checks).items():
                totals[status] = totals.get(status, 0) + count
            for check_id, check in tracked(checks).items():
                print(f"{suite} {scenario} {check_id} {check['status']}: {check.get('errorMessage', '')}")
        print(f"{suite}: {len(run.scenarios)} scenarios, checks {totals}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
