"""Browser sign-in through the proxy, against a test authorization server and a protected MCP server.

Both servers run on loopback (tests/proxy/servers.py); the proxy runs as a subprocess with `$BROWSER`
set to a scripted browser (fake_browser.py) that GETs the authorization URL and follows the redirect
to the proxy's loopback callback, as a user's browser would after consent.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import anyio
import pytest

from tests.proxy.conftest import start_local_servers
from tests.proxy.helpers import proxied_client, proxy_env, run_proxy, write_fake_browser
from tests.proxy.servers import AuthorizationServer, ProtectedServer

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
def start_servers():
    started: list[ProtectedServer] = []

    def start(*, remap_challenge: bool = False, accept_id_tokens_only: bool = False, **settings) -> ProtectedServer:
        server = ProtectedServer(
            AuthorizationServer(**settings), remap_challenge=remap_challenge, accept_id_tokens_only=accept_id_tokens_only
        )
        server.__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def config_dir(tmp_path) -> Path:
    return tmp_path / "config"


@pytest.fixture
def env(tmp_path, config_dir):
    return proxy_env(
        config_dir,
        BROWSER=str(write_fake_browser(tmp_path)),
        FAKE_BROWSER_LOG=str(tmp_path / "browser.log"),
    )


def browser_log(tmp_path: Path) -> list[dict]:
    path = tmp_path / "browser.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def issued_secrets(server: ProtectedServer) -> list[str]:
    a = server.authorization_server
    return [*a.access_tokens, *a.refresh_tokens, *(c.secret for c in a.clients.values() if c.secret)]


async def use(server: ProtectedServer, env: dict, stderr: Path, *extra: str, name: str = "secure", a: int = 2):
    async with proxied_client(name, server.url, *extra, env=env, stderr=stderr) as client:
        tools = await client.list_tools()
        result = await client.call_tool("add", {"a": a, "b": 3})
    return tools, result


def test_first_sign_in_opens_the_browser_once_and_stores_the_tokens(start_servers, env, tmp_path, config_dir):
    server = start_servers()
    auth = server.authorization_server
    tools, result = anyio.run(use, server, env, tmp_path / "stderr")

    assert sorted(t.name for t in tools.tools) == ["add", "whoami"]
    assert result.structured_content == {"result": 5}
    assert auth.count("register") == 1, "dynamic client registration"
    assert auth.count("authorize") == 1
    params = next(e["params"] for e in auth.events if e["kind"] == "authorize")
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32
    assert params["resource"] == server.url, "RFC 8707 resource"
    assert params["scope"] == "mcp:tools", "the scope the server challenged with"
    assert params["redirect_uri"].startswith("http://127.0.0.1:") and params["redirect_uri"].endswith("/callback")
    assert int(params["redirect_uri"].split(":")[2].split("/")[0]) > 0
    tokens = [e for e in auth.events if e["kind"] == "token"]
    assert [(e["grant_type"], e.get("error")) for e in tokens] == [("authorization_code", None)]
    assert tokens[0]["resource"] == server.url

    visits = browser_log(tmp_path)
    assert visits[0]["visit"].startswith(f"{auth.issuer}/authorize?")
    assert visits[-1]["status"] == 200 and "Signed in" in visits[-1]["body"]
    stderr = (tmp_path / "stderr").read_text()
    assert f"{auth.issuer}/authorize?" in stderr, "the sign-in URL is printed on stderr too"
    for secret in issued_secrets(server):
        assert secret not in stderr

    store = config_dir / "credentials.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    record = json.loads(store.read_text())["servers"]["secure"]
    assert record["url"] == server.url
    assert record["secrets"]["access_token"] in auth.access_tokens
    assert record["secrets"]["refresh_token"] in auth.refresh_tokens
    assert record["metadata"]["authorization_server"]["token_endpoint"] == f"{auth.issuer}/token"


def test_stored_tokens_are_reused_without_the_browser(start_servers, env, tmp_path):
    server = start_servers()
    anyio.run(use, server, env, tmp_path / "stderr")
    anyio.run(use, server, env, tmp_path / "stderr2")

    auth = server.authorization_server
    assert auth.count("authorize") == 1
    assert auth.count("token") == 1
    assert len([v for v in browser_log(tmp_path) if "visit" in v]) == 1
    assert (tmp_path / "stderr2").read_text() == ""


def test_a_token_the_server_rejects_is_refreshed_without_the_browser(start_servers, env, tmp_path):
    server = start_servers()
    auth = server.authorization_server

    async def scenario():
        async with proxied_client("secure", server.url, env=env, stderr=tmp_path / "stderr") as client:
            first = await client.call_tool("add", {"a": 1, "b": 1})
            auth.expire_access_tokens()  # the server side only: the proxy still thinks its token is fresh
            second = await client.call_tool("add", {"a": 2, "b": 2})
        return first, second

    first, second = anyio.run(scenario)
    assert (first.structured_content, second.structured_content) == ({"result": 2}, {"result": 4})
    assert auth.count("authorize") == 1
    assert [(e["grant_type"], e.get("error")) for e in auth.events if e["kind"] == "token"] == [
        ("authorization_code", None),
        ("refresh_token", None),
    ]


def test_an_expired_token_is_refreshed_at_the_next_start(start_servers, env, tmp_path, config_dir):
    server = start_servers(access_ttl=2)
    auth = server.authorization_server
    anyio.run(use, server, env, tmp_path / "stderr")
    anyio.run(anyio.sleep, 2.5)  # expired for both sides now
    _, result = anyio.run(use, server, env, tmp_path / "stderr2")

    assert result.structured_content == {"result": 5}
    assert auth.count("authorize") == 1, "refreshed, not signed in again"
    grants = [e["grant_type"] for e in auth.events if e["kind"] == "token"]
    assert grants[0] == "authorization_code" and set(grants[1:]) == {"refresh_token"}
    assert not [e for e in auth.events if e.get("error")]
    unauthorized = [r for r in server.requests if r["token"] and not r["authorized"]]
    assert unauthorized == [], "an expired token is refreshed before use, not sent to be refused"


def test_denied_consent_ends_with_a_clear_message(start_servers, env, tmp_path):
    server = start_servers(deny=True)
    done = run_proxy("secure", server.url, env=env)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"mcp-lambda-proxy: sign-in to {server.url} failed: sign-in was denied at the authorization server "
        "(access_denied: The user denied the request)"
    )
    assert server.authorization_server.count("token") == 0
    assert browser_log(tmp_path)[-1]["status"] == 200, "the browser shows the outcome"


def test_a_redirect_with_the_wrong_state_is_refused(start_servers, env, tmp_path):
    server = start_servers()
    env["FAKE_BROWSER_MODE"] = "tamper-state"
    done = run_proxy("secure", server.url, env=env)

    assert done.returncode == 1
    assert "state mismatch" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert server.authorization_server.count("token") == 0, "the code is never exchanged"
    assert browser_log(tmp_path)[-1]["status"] == 400


def test_two_proxies_share_one_sign_in_and_one_refresh(start_servers, env, tmp_path):
    server = start_servers()
    auth = server.authorization_server
    results: dict[str, list] = {"one": [], "two": []}
    expired = anyio.Event()

    async def proxy(name: str, both_up: anyio.Event, counter: list[int]) -> None:
        async with proxied_client("secure", server.url, env=env, stderr=tmp_path / f"stderr-{name}") as client:
            results[name].append(await client.call_tool("add", {"a": 1, "b": 2}))
            counter.append(1)
            if len(counter) == 2:
                auth.expire_access_tokens()
                both_up.set()
                expired.set()
            await both_up.wait()
            results[name].append(await client.call_tool("add", {"a": 2, "b": 2}))

    async def scenario():
        both_up = anyio.Event()
        counter: list[int] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(proxy, "one", both_up, counter)
            tg.start_soon(proxy, "two", both_up, counter)

    anyio.run(scenario)
    for name in ("one", "two"):
        assert [r.structured_content for r in results[name]] == [{"result": 3}, {"result": 4}]
    assert auth.count("authorize") == 1, "the second proxy waited for the first one's sign-in"
    grants = [(e["grant_type"], e.get("error")) for e in auth.events if e["kind"] == "token"]
    assert grants == [("authorization_code", None), ("refresh_token", None)], (
        "one refresh; the other proxy took the rotated tokens from the store"
    )


def test_api_gateway_renamed_challenge_header(start_servers, env, tmp_path):
    server = start_servers(remap_challenge=True)
    _, result = anyio.run(use, server, env, tmp_path / "stderr")
    assert result.structured_content == {"result": 5}
    assert server.authorization_server.count("authorize") == 1


def test_pre_registered_client_and_its_stored_secret(start_servers, env, tmp_path, config_dir):
    server = start_servers(dcr=False)
    auth = server.authorization_server
    auth.register_client("pre-registered", "s3cret-value")
    args = ("--client-id", "pre-registered", "--client-secret", "s3cret-value")
    anyio.run(use, server, env, tmp_path / "stderr", *args)

    assert auth.count("register") == 0
    params = next(e["params"] for e in auth.events if e["kind"] == "authorize")
    assert params["client_id"] == "pre-registered"
    record = json.loads((config_dir / "credentials.json").read_text())["servers"]["secure"]
    assert record["client"]["client_id"] == "pre-registered"
    assert record["secrets"]["client_secret"] == "s3cret-value"
    assert "s3cret-value" not in (tmp_path / "stderr").read_text()

    # Later runs need only the client ID: the secret (and the tokens) come from the store.
    auth.expire_access_tokens()
    _, result = anyio.run(use, server, env, tmp_path / "stderr2", "--client-id", "pre-registered")
    assert result.structured_content == {"result": 5}
    assert auth.count("authorize") == 1
    assert [(e["grant_type"], e.get("error")) for e in auth.events if e["kind"] == "token"] == [
        ("authorization_code", None),
        ("refresh_token", None),
    ], "the refresh authenticated with the stored secret"


def test_scope_option_replaces_the_challenged_scope(start_servers, env, tmp_path):
    server = start_servers()
    anyio.run(use, server, env, tmp_path / "stderr", "--scope", "mcp:tools profile")
    params = next(e["params"] for e in server.authorization_server.events if e["kind"] == "authorize")
    assert params["scope"] == "mcp:tools profile"


def test_id_token_as_the_bearer(start_servers, env, tmp_path, config_dir):
    server = start_servers(issue_id_tokens=True, accept_id_tokens_only=True)
    _, result = anyio.run(use, server, env, tmp_path / "stderr", "--bearer", "id_token")
    assert result.structured_content == {"result": 5}
    used = {r["token"] for r in server.requests if r["authorized"]}
    assert used and all(token.startswith("idt-") for token in used)
    record = json.loads((config_dir / "credentials.json").read_text())["servers"]["secure"]
    assert record["secrets"]["id_token"].startswith("idt-")


def test_nobody_completes_the_sign_in(start_servers, env, tmp_path):
    server = start_servers()
    env["FAKE_BROWSER_MODE"] = "ignore"
    done = run_proxy("secure", server.url, "--sign-in-timeout", "2", env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].endswith("nobody completed the sign-in in the browser within 2s")


def test_no_browser_prints_the_url_only(start_servers, env, tmp_path):
    server = start_servers()
    done = run_proxy("secure", server.url, "--no-browser", "--sign-in-timeout", "1", env=env)
    assert done.returncode == 1
    assert f"{server.authorization_server.issuer}/authorize?" in done.stderr
    assert browser_log(tmp_path) == [], "no browser was started"


def test_tokens_of_another_url_are_not_sent(start_servers, env, tmp_path):
    first = start_servers()
    second = start_servers()
    anyio.run(use, first, env, tmp_path / "stderr")
    anyio.run(use, second, env, tmp_path / "stderr2")  # the same NAME, pointed elsewhere
    presented = {r["token"] for r in second.requests if r["token"]}
    assert not presented & set(first.authorization_server.access_tokens)
    assert second.authorization_server.count("authorize") == 1
    assert os.path.exists(tmp_path / "config" / "credentials.json")


def test_check_signs_in_ahead_of_the_desktop_client(start_servers, env, tmp_path):
    """`--check` from a terminal: sign in now, so the desktop client starts with the tokens in place."""
    server = start_servers()
    done = run_proxy("secure", server.url, "--check", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mcp-lambda-proxy: secure ({server.url}) answers: signed in, ready"
    assert server.authorization_server.count("authorize") == 1

    env["FAKE_BROWSER_MODE"] = "ignore"  # the desktop client's start needs no browser now
    _, result = anyio.run(use, server, env, tmp_path / "stderr")
    assert result.structured_content == {"result": 5}
    assert server.authorization_server.count("authorize") == 1


def test_client_secret_from_the_environment(start_servers, env, tmp_path, config_dir):
    server = start_servers(dcr=False)
    server.authorization_server.register_client("pre-registered", "env-s3cret")
    env["MCP_LAMBDA_PROXY_CLIENT_SECRET"] = "env-s3cret"
    done = run_proxy("secure", server.url, "--client-id", "pre-registered", "--check", env=env)
    assert done.returncode == 0, done.stderr
    record = json.loads((config_dir / "credentials.json").read_text())["servers"]["secure"]
    assert record["secrets"]["client_secret"] == "env-s3cret"


def test_the_project_s_secure_server_end_to_end(env, tmp_path):
    """Case 3 as a user meets it: the secure messaging Lambda (its sign-in gate, JWT validation against
    the issuer's keys, per-tool scopes) behind LocalServer, reached through the proxy, which signs in."""
    auth = AuthorizationServer(jwt_access_tokens=True, scopes_supported=["messages:write"])
    auth.server.start()
    local = start_local_servers(
        ("secure-messaging",),
        SERVE_LOCAL_AUTH_ISSUER=auth.issuer, SERVE_LOCAL_AUTH_JWKS=f"{auth.issuer}/jwks",
    )
    url = local.url("secure-messaging")
    auth.resource = url
    text = f"signed in through the proxy {uuid.uuid4().hex[:8]}"

    async def scenario():
        async with proxied_client("secure-messaging", url, env=env, stderr=tmp_path / "stderr", mode="legacy") as client:
            posted = await client.call_tool("post_message", {"text": text, "idempotency_key": uuid.uuid4().hex})
            me = await client.call_tool("whoami", {})
            tools = await client.list_tools()
        return posted, me, tools

    try:
        posted, me, tools = anyio.run(scenario)
    finally:
        local.stop()
        auth.server.stop()
    assert posted.is_error is False, posted
    assert posted.structured_content["text"] == text
    assert posted.structured_content["author"] == "user@example.com", "the author comes from the verified token"
    assert me.structured_content["email"] == "user@example.com"
    assert {t.name for t in tools.tools} >= {"post_message", "get_messages", "whoami"}
    assert auth.count("authorize") == 1
    params = next(e["params"] for e in auth.events if e["kind"] == "authorize")
    assert params["resource"] == url and "messages:write" in params["scope"].split()
