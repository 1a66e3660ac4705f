"""The official MCP conformance suite against the `conformance` service, through the local Lambda bridge.

Each pinned suite version runs once over all of its server scenarios (one Node process per version,
against `LocalServer`: real HTTP -> Function URL event -> the Lambda handler), and each extension's
scenarios (the Tasks extension's `tasks-*`) run one by one against the same server; every scenario is then a
test of its own, comparing the checks it reported with expected-failures.json. A failing or warning
check that is not listed there fails its scenario, and so does a listed one that no longer fails, so the
file always says exactly what does not pass and why.

Needs Node 22 and the suites: tests/conformance/install.sh installs them into .tools/ on first use
(npm registry access required once).
"""

from __future__ import annotations

import json

import pytest

from mcp_lambda.local.http_server import LocalServer
from mcp_servers import CONFORMANCE
from tests.conformance import tools

EXPECTED = tools.load_expected()
REASONS: dict[str, str] = json.loads(tools.EXPECTED_FILE.read_text())["reasons"]
SCENARIOS = [(suite, scenario) for suite, scenarios in EXPECTED.items() for scenario in scenarios]

# The fixtures deliberately use features that 2026-07-28 deprecates (logging, sampling, roots): the
# handshake-era scenarios test exactly those.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture(scope="session")
def conformance_tools() -> tools.Tools:
    return tools.install()


@pytest.fixture(scope="session")
def suite_runs(conformance_tools: tools.Tools) -> dict[str, tools.SuiteRun]:
    """Every suite version's run against one local server, done once for the session."""
    with LocalServer(port=0, servers=[CONFORMANCE]) as server:
        return {suite: tools.run_suite(conformance_tools, suite, server.url("conformance")) for suite in EXPECTED}


def test_expected_file_is_well_formed() -> None:
    assert set(EXPECTED) == set(tools.RUNS), "one entry per pinned suite version (tests/conformance/npm/) and extension run"
    for suite, scenarios in EXPECTED.items():
        for scenario, checks in scenarios.items():
            for check_id, entry in checks.items():
                where = f"{suite} {scenario} {check_id}"
                assert entry.get("status") in tools.TRACKED_STATUSES, where
                assert entry.get("reason") in REASONS, f"{where}: reason must be one of {sorted(REASONS)}"


@pytest.mark.parametrize("suite", sorted(tools.RUNS))
def test_every_scenario_is_listed(conformance_tools: tools.Tools, suite: str) -> None:
    """expected-failures.json names exactly the scenarios the pinned suite (or extension run) has, so none is skipped."""
    assert sorted(tools.list_scenarios(conformance_tools, suite)) == sorted(EXPECTED[suite])


@pytest.mark.parametrize(("suite", "scenario"), SCENARIOS, ids=[f"{s}::{n}" for s, n in SCENARIOS])
def test_scenario(suite_runs: dict[str, tools.SuiteRun], suite: str, scenario: str) -> None:
    run = suite_runs[suite]
    checks = run.scenarios.get(scenario)
    assert checks is not None, f"{suite} wrote no results for {scenario} (exit {run.returncode}):\n{run.output[-4000:]}"
    assert checks, f"{suite} {scenario} reported no checks"

    problems = tools.differences(checks, EXPECTED[suite][scenario], "tests/conformance/expected-failures.json")
    assert not problems, f"{suite} {scenario}:\n  " + "\n  ".join(problems)
