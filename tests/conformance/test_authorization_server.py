"""The official conformance suite's authorization-server scenarios against `make serve`'s authorization server.

`conformance authorization --url <issuer>` runs `authorization-server-metadata-endpoint` (RFC 8414 metadata:
status, content type, issuer, endpoints, S256) and `authorization-code-grant` (a client registered beforehand,
PKCE S256, `state`, the RFC 8707 resource, RFC 9207 `iss` in the response, the token response's headers and
body). The second one prints an authorization URL for a person to open: the scripted browser
(tests/proxy/form_browser.py) signs in at the development issuer and allows the request on the consent page,
and the browser lands on the suite's own callback listener. Every check of the newest pinned suite must pass.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conformance import tools
from tests.proxy.conftest import LocalServers, secure_messaging_servers
from tests.proxy.form_browser import walk

SUITE = "conformance-0.2.0-alpha.12"
SCENARIOS = ("authorization-server-metadata-endpoint", "authorization-code-grant")


@pytest.fixture(scope="module")
def local(database_url) -> Iterator[LocalServers]:
    with secure_messaging_servers(database_url) as servers:
        yield servers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def results(local, tmp_path_factory) -> dict[str, list[dict]]:
    conformance = tools.install()
    issuer = f"{local.base_url}/oauth"
    port = _free_port()
    client = httpx.post(f"{issuer}/register", json={
        "redirect_uris": [f"http://127.0.0.1:{port}/callback"], "token_endpoint_auth_method": "none",
        "client_name": "MCP conformance suite"}, timeout=10).json()
    out = tmp_path_factory.mktemp("authorization-conformance")
    suite = subprocess.Popen(
        conformance.command(SUITE, "authorization", "--url", issuer, "--client-id", client["client_id"],
                            "--resource", local.url("secure-messaging"), "--port", str(port), "-o", str(out)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    browsers: list[threading.Thread] = []
    for line in suite.stdout:
        output.append(line)
        if line.startswith(f"{issuer}/authorize?"):
            def sign_in(url: str = line.strip()) -> None:
                with httpx.Client(timeout=30) as http:
                    target = walk(http, url, typed={"email": "conformance@company.com"})
                    if target is not None:
                        http.get(target)

            browsers.append(threading.Thread(target=sign_in, daemon=True))
            browsers[-1].start()
    suite.wait(300)
    found = {}
    for checks in out.glob("*/checks.json"):
        for scenario in SCENARIOS:
            if checks.parent.name.startswith(f"authorization-server-{scenario}-"):
                found[scenario] = json.loads(checks.read_text())
    assert set(found) == set(SCENARIOS), "".join(output)[-3000:]
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_authorization_server_scenario(results: dict[str, list[dict]], scenario: str) -> None:
    checks = results[scenario]
    assert checks, f"{scenario} reported no checks"
    failed = [c for c in checks if c["status"] != "SUCCESS"]
    assert not failed, json.dumps(failed, indent=1)[:3000]
