"""The official MCP conformance suite's client auth scenarios, with the proxy as the client.

Every `auth/*` client scenario each pinned suite version lists (tests/conformance/npm/) is run on its
own: `conformance client --scenario <s> --command "python tests/proxy/conformance_client.py"`. The suite
starts its authorization server and protected MCP server, runs the command with the server URL, and
judges what happened; conformance_client.py is the desktop client, driving the proxy over stdio (see
its docstring). Each scenario is then a test of its own, comparing the checks it reported with
conformance-auth-expected.json: a failing or warning check not listed there fails the scenario, and so
does a listed one that no longer fails.

Needs Node 22 and the suites: tests/conformance/install.sh installs them into .tools/ on first use.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import tools

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "conformance_client.py"
EXPECTED_FILE = HERE / "conformance-auth-expected.json"
DATA = json.loads(EXPECTED_FILE.read_text())
REASONS: dict[str, str] = DATA["reasons"]
EXPECTED: dict[str, dict[str, dict[str, dict[str, str]]]] = {
    suite: entry["scenarios"] for suite, entry in DATA["suites"].items()
}
SCENARIOS = [(suite, scenario) for suite, scenarios in EXPECTED.items() for scenario in scenarios]
PARALLEL_SCENARIOS = 6
_LISTED = re.compile(r"^\s+- (?P<scenario>auth/[a-z0-9-]+)(?: \[.*\])?$")


@dataclass
class ScenarioRun:
    returncode: int
    output: str
    checks: list[dict[str, Any]] | None = None
    client_stderr: str = field(default="")


@pytest.fixture(scope="session")
def conformance_tools() -> tools.Tools:
    return tools.install()


def list_auth_scenarios(conformance: tools.Tools, suite: str) -> list[str]:
    done = subprocess.run(
        conformance.command(suite, "list", "--client"), capture_output=True, text=True, timeout=120, check=True
    )
    return [m["scenario"] for line in done.stdout.splitlines() if (m := _LISTED.match(line))]


def run_scenario(conformance: tools.Tools, suite: str, scenario: str, out_root: Path) -> ScenarioRun:
    out = out_root / suite / scenario.replace("/", "_")
    out.mkdir(parents=True)
    command = f"{sys.executable} {CLIENT}"  # the suite splits --command on spaces
    done = subprocess.run(
        conformance.command(suite, "client", "--command", command, "--scenario", scenario, "--timeout", "90000",
                            "-o", str(out)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    run = ScenarioRun(done.returncode, done.stdout + done.stderr)
    results = sorted(out.glob("**/checks.json"))
    if results:
        run.checks = json.loads(results[-1].read_text())
        stderr_file = results[-1].parent / "stderr.txt"
        run.client_stderr = stderr_file.read_text() if stderr_file.exists() else ""
    return run


@pytest.fixture(scope="session")
def auth_runs(conformance_tools: tools.Tools, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], ScenarioRun]:
    """Every scenario's run, done once for the session, several at a time (each has its own servers)."""
    out_root = tmp_path_factory.mktemp("conformance-auth")
    with ThreadPoolExecutor(max_workers=PARALLEL_SCENARIOS) as pool:
        futures = {key: pool.submit(run_scenario, conformance_tools, *key, out_root) for key in SCENARIOS}
        return {key: future.result() for key, future in futures.items()}


def test_expected_file_is_well_formed() -> None:
    assert set(EXPECTED) == set(tools.SUITE_ARGS), "one entry per pinned suite version (tests/conformance/npm/)"
    for suite, scenarios in EXPECTED.items():
        for scenario, checks in scenarios.items():
            assert scenario.startswith("auth/"), scenario
            for check_id, entry in checks.items():
                where = f"{suite} {scenario} {check_id}"
                assert entry.get("status") in tools.TRACKED_STATUSES, where
                assert entry.get("reason") in REASONS, f"{where}: reason must be one of {sorted(REASONS)}"


@pytest.mark.parametrize("suite", sorted(tools.SUITE_ARGS))
def test_every_auth_scenario_is_listed(conformance_tools: tools.Tools, suite: str) -> None:
    """The expected file names exactly the auth scenarios the pinned suite has, so none is skipped."""
    assert sorted(list_auth_scenarios(conformance_tools, suite)) == sorted(EXPECTED[suite])


@pytest.mark.parametrize(("suite", "scenario"), SCENARIOS, ids=[f"{s}::{n}" for s, n in SCENARIOS])
def test_auth_scenario(auth_runs: dict[tuple[str, str], ScenarioRun], suite: str, scenario: str) -> None:
    run = auth_runs[(suite, scenario)]
    assert run.checks is not None, f"{suite} wrote no results for {scenario} (exit {run.returncode}):\n{run.output[-4000:]}"
    assert run.checks, f"{suite} {scenario} reported no checks"
    assert "SKIPPED" not in run.output.split("Checks:")[0], f"{scenario} was skipped:\n{run.output[-2000:]}"

    problems = tools.differences(run.checks, EXPECTED[suite][scenario], "tests/proxy/conformance-auth-expected.json")
    client = "\n".join(line for line in run.client_stderr.splitlines() if "mcp-lambda-proxy" in line)[-3000:]
    assert not problems, f"{suite} {scenario}:\n  " + "\n  ".join(problems) + f"\nproxy said:\n{client}"
