"""The sign-in a developer tries locally: the proxy against `make serve`'s secure messaging service, its
authorization server (mcp_lambda.authorization, at /oauth) and the development issuer behind it, nothing
replaced.

LocalServer runs in a process of its own (serve_local.py, see there why), as `make serve` does. The proxy
discovers the authorization server (RFC 9728, then RFC 8414), registers, and opens `$BROWSER`:
form_browser.py, which fills in the development issuer's sign-in page with an email, then allows the
request on the authorization server's consent page.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.proxy.conftest import LocalServers, secure_messaging_servers
from tests.proxy.helpers import proxied_client, proxy_env, run_proxy

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

FORM_BROWSER = Path(__file__).resolve().parent / "form_browser.py"
EMAIL = "carol@company.com"  # not the page's prefilled alice@company.com: the typed email must win


@pytest.fixture(scope="module")
def local(database_url) -> Iterator[LocalServers]:
    """secure-messaging on LocalServer with its default sign-in configuration (another test's
    MCP_AUTH_CONFIG, left in this process's environment by an in-process LocalServer, is not passed on)."""
    with secure_messaging_servers(database_url) as servers:
        yield servers


@pytest.fixture
def config_dir(tmp_path) -> Path:
    return tmp_path / "config"


@pytest.fixture
def env(tmp_path, config_dir) -> dict[str, str]:
    browser = tmp_path / "form-browser"
    browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FORM_BROWSER}" "$@"\n')
    browser.chmod(0o755)
    return proxy_env(config_dir, BROWSER=str(browser), FAKE_BROWSER_LOG=str(tmp_path / "browser.log"),
                     FAKE_BROWSER_EMAIL=EMAIL)


def browser_log(tmp_path: Path) -> list[dict]:
    path = tmp_path / "browser.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def post_and_read(url: str, env: dict[str, str], stderr: Path, text: str):
    async with proxied_client("secure", url, env=env, stderr=stderr) as client:
        me = await client.call_tool("whoami", {})
        posted = await client.call_tool("post_message", {"text": text, "idempotency_key": uuid.uuid4().hex})
        latest = await client.call_tool("get_messages", {"limit": 5})
    return me, posted, latest


def test_the_proxy_signs_in_through_the_local_authorization_server(local, env, tmp_path, config_dir):
    url = local.url("secure-messaging")
    issuer = f"{local.base_url}/oauth"
    text = f"signed in at the dev issuer {uuid.uuid4().hex[:8]}"

    me, posted, latest = anyio.run(post_and_read, url, env, tmp_path / "stderr", text)

    assert me.is_error is False, me
    assert me.structured_content["email"] == EMAIL
    assert me.structured_content["iss"] == issuer
    assert posted.is_error is False, posted
    assert posted.structured_content["author"] == EMAIL, "the author is the email typed on the sign-in page"
    newest = next(m for m in latest.structured_content["result"] if m["id"] == posted.structured_content["id"])
    assert (newest["text"], newest["author"]) == (text, EMAIL)

    steps = browser_log(tmp_path)
    assert steps[0]["visit"].startswith(f"{issuer}/authorize?")
    assert steps[1]["redirect"] == f"{local.base_url}/dev-oidc/authorize", "signed in at the upstream provider"
    assert steps[2]["status"] == 200 and 'value="alice@company.com"' in steps[2]["page"]
    assert steps[3]["button"] == "sign-in" and steps[3]["status"] == 302
    assert steps[4]["redirect"] == f"{issuer}/callback"
    assert steps[5]["status"] == 200 and "Allow access" in steps[5]["page"] and EMAIL in steps[5]["page"]
    assert steps[6]["button"] == "allow" and steps[6]["status"] == 302
    assert steps[7]["status"] == 200 and "Signed in" in steps[7]["body"]

    record = json.loads((config_dir / "credentials.json").read_text())["servers"]["secure"]
    assert record["client"]["client_id"].startswith("mcp-"), "registered dynamically, no --client-id"
    assert record["metadata"]["authorization_server"]["token_endpoint"] == f"{issuer}/token"
    assert me.structured_content["iss"] == issuer
    assert record["secrets"]["refresh_token"]

    # The next run uses the stored token: no browser.
    me, _, _ = anyio.run(post_and_read, url, env, tmp_path / "stderr2", text + " again")
    assert me.structured_content["email"] == EMAIL
    assert len([step for step in browser_log(tmp_path) if "visit" in step]) == 1


def test_check_signs_in_from_a_terminal(local, env, tmp_path, config_dir):
    """`--check` (sign in from a terminal before a desktop client starts the proxy): the server challenges the
    proxy's ping, the browser signs in, and the tokens are kept for the desktop client's proxy."""
    url = local.url("secure-messaging")

    done = run_proxy("secure", url, "--check", env=env)

    assert done.returncode == 0, done.stderr
    assert "signed in, ready" in done.stdout
    assert [step["visit"].split("?")[0] for step in browser_log(tmp_path) if "visit" in step] == [
        f"{local.base_url}/oauth/authorize"]
    record = json.loads((config_dir / "credentials.json").read_text())["servers"]["secure"]
    assert record["secrets"]["refresh_token"]
    again = run_proxy("secure", url, "--check", env=env)
    assert again.returncode == 0 and "signed in, ready" in again.stdout
    assert len([step for step in browser_log(tmp_path) if "visit" in step]) == 1, "the kept tokens serve"


def test_make_serve_publishes_the_authorization_server_where_clients_look(local):
    """RFC 9728 names the authorization server first (then the development issuer, for `mcp-lambda token`);
    RFC 8414 puts its metadata at the host's root, before the issuer's path; browser clients (Inspector) may
    call its token endpoint across origins."""
    issuer = f"{local.base_url}/oauth"
    with httpx.Client(timeout=10) as http:
        resource = http.get(f"{local.base_url}/.well-known/oauth-protected-resource/secure-messaging/mcp").json()
        assert resource["authorization_servers"] == [issuer, f"{local.base_url}/dev-oidc"]
        metadata = http.get(f"{local.base_url}/.well-known/oauth-authorization-server/oauth").json()
        assert metadata["issuer"] == issuer
        assert metadata["registration_endpoint"] == f"{issuer}/register"
        assert metadata["client_id_metadata_document_supported"] is True
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        preflight = http.options(f"{issuer}/token", headers={
            "origin": "http://localhost:6274", "access-control-request-method": "POST"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        upstream = http.get(f"{local.base_url}/dev-oidc/.well-known/openid-configuration").json()
        assert "registration_endpoint" not in upstream, "the upstream offers no registration, as Cognito"
