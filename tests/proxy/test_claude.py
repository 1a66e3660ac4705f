"""`--claude`: the NAME entry in Claude Desktop's configuration (run as the command line runs it)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_lambda_proxy import claude
from tests.proxy.helpers import ROOT, proxy_env

URL = "https://abc123.lambda-url.us-east-1.on.aws/mcp"

EXISTING = {
    "globalShortcut": "Ctrl+Space",
    "mcpServers": {
        "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
        "weather": {"command": "old", "args": ["stale"]},
    },
}


@pytest.fixture
def config_file(tmp_path) -> Path:
    return tmp_path / "Claude" / "claude_desktop_config.json"


@pytest.fixture
def env(tmp_path, config_file):
    return proxy_env(tmp_path / "proxy-config", MCP_LAMBDA_PROXY_CLAUDE_CONFIG=str(config_file))


def register(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_lambda_proxy", "proxy", *args, "--claude"],
        capture_output=True, text=True, env=env, timeout=60, cwd=str(ROOT),
    )


def backups(config_file: Path) -> list[Path]:
    return sorted(config_file.parent.glob(f"{config_file.name}.*.bak"))


def test_creates_the_file_with_an_entry_that_launches_the_proxy(env, config_file):
    done = register(env, "weather", URL, "--mode", "http")
    assert done.returncode == 0, done.stderr
    data = json.loads(config_file.read_text())
    entry = data["mcpServers"]["weather"]
    assert Path(entry["command"]).is_absolute()
    assert entry["command"] == str(Path(sys.executable).absolute())
    assert entry["args"] == ["-m", "mcp_lambda_proxy", "proxy", "weather", URL, "--mode", "http"]
    assert entry["env"]["PYTHONPATH"] == str(ROOT / "packages" / "mcp-lambda-proxy" / "src"), (
        "the checkout is importable from Claude's working directory")
    assert backups(config_file) == [], "nothing to back up"
    assert "restart Claude Desktop" in done.stdout
    checkout = ROOT / "packages" / "mcp-lambda-proxy" / "src"
    assert (f"to sign in now instead: PYTHONPATH={checkout} MCP_LAMBDA_PROXY_CONFIG_DIR={env['MCP_LAMBDA_PROXY_CONFIG_DIR']} "
            f"MCP_LAMBDA_PROXY_STORE=file {Path(sys.executable).absolute()} -m mcp_lambda_proxy proxy weather {URL} "
            "--mode http --check") in done.stdout, "the entry's own command line, runnable in any shell"


def test_the_printed_sign_in_command_works_outside_this_virtual_environment(env, config_file, tmp_path, local_servers):
    """The hint is run by a person in a new terminal: no venv activated, no PYTHONPATH, another directory."""
    done = register(env, "weather", local_servers.url("weather"))
    assert done.returncode == 0, done.stderr
    command = done.stdout.split("to sign in now instead: ", 1)[1].strip()
    bare = {"PATH": "/usr/bin:/bin", "HOME": env["HOME"]}
    checked = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, env=bare, cwd=tmp_path,
                             timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "No module named" not in checked.stderr


def test_keeps_every_other_entry_and_backs_up_first(env, config_file):
    config_file.parent.mkdir(parents=True)
    config_file.write_text(json.dumps(EXISTING, indent=4))
    os.chmod(config_file, 0o640)
    before = config_file.read_text()

    done = register(env, "weather", URL, "--protocol", "legacy", "--scope", "openid email")
    assert done.returncode == 0, done.stderr
    data = json.loads(config_file.read_text())
    assert data["globalShortcut"] == "Ctrl+Space"
    assert data["mcpServers"]["filesystem"] == EXISTING["mcpServers"]["filesystem"]
    assert list(data["mcpServers"]) == ["filesystem", "weather"], "order kept, the entry replaced in place"
    assert data["mcpServers"]["weather"]["args"][3:] == [
        "weather", URL, "--mode", "http", "--protocol", "legacy", "--scope", "openid email"
    ]
    [backup] = backups(config_file)
    assert backup.read_text() == before
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o640, "the file keeps its permissions"


def test_running_again_changes_nothing(env, config_file):
    assert register(env, "weather", URL).returncode == 0
    first = config_file.read_text()
    again = register(env, "weather", URL)
    assert again.returncode == 0
    assert "already up to date" in again.stdout
    assert config_file.read_text() == first
    assert backups(config_file) == []

    changed = register(env, "weather", URL, "--protocol", "2026-07-28")
    assert changed.returncode == 0
    assert len(backups(config_file)) == 1
    assert backups(config_file)[0].read_text() == first


def test_client_secret_goes_to_the_store_not_the_file(env, config_file, tmp_path):
    done = register(env, "chat", URL, "--client-id", "id-123.apps.googleusercontent.com", "--client-secret", "GOCSPX-s3cret")
    assert done.returncode == 0, done.stderr
    text = config_file.read_text()
    assert "GOCSPX-s3cret" not in text
    entry = json.loads(text)["mcpServers"]["chat"]
    assert entry["args"][-2:] == ["--client-id", "id-123.apps.googleusercontent.com"]
    assert entry["env"]["MCP_LAMBDA_PROXY_CONFIG_DIR"] == env["MCP_LAMBDA_PROXY_CONFIG_DIR"], "the same store"
    store = Path(env["MCP_LAMBDA_PROXY_CONFIG_DIR"]) / "credentials.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    record = json.loads(store.read_text())["servers"]["chat"]
    assert record["secrets"]["client_secret"] == "GOCSPX-s3cret"
    assert record["client"]["client_id"] == "id-123.apps.googleusercontent.com"
    assert "GOCSPX-s3cret" not in done.stdout + done.stderr


def test_an_unreadable_configuration_is_left_alone(env, config_file):
    config_file.parent.mkdir(parents=True)
    config_file.write_text('{"mcpServers": {')
    done = register(env, "weather", URL)
    assert done.returncode == 1
    assert done.stderr.startswith("mcp-lambda-proxy: ") and "is not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
    assert config_file.read_text() == '{"mcpServers": {'
    assert backups(config_file) == []


def test_the_written_entry_works(env, config_file, tmp_path, local_servers):
    """Launch exactly what Claude Desktop would launch, from another directory, and use it."""
    assert register(env, "weather", local_servers.url("weather")).returncode == 0
    entry = json.loads(config_file.read_text())["mcpServers"]["weather"]
    parameters = StdioServerParameters(
        command=entry["command"], args=entry["args"], env={"PATH": os.environ["PATH"], **entry["env"]},
        cwd=str(tmp_path),
    )

    async def scenario():
        with (tmp_path / "stderr").open("w") as errlog:
            async with Client(stdio_client(parameters, errlog=errlog), mode="legacy") as client:
                return await client.call_tool("get_weather", {"city": "Lisbon"})

    result = anyio.run(scenario)
    assert result.content[0].text.startswith("Weather in Lisbon: ")


@pytest.mark.parametrize(
    ("platform", "variables", "expected"),
    [
        ("darwin", {}, "{home}/Library/Application Support/Claude/claude_desktop_config.json"),
        ("win32", {"APPDATA": "{home}/AppData/Roaming"}, "{home}/AppData/Roaming/Claude/claude_desktop_config.json"),
        ("linux", {}, "{home}/.config/Claude/claude_desktop_config.json"),
        ("linux", {"XDG_CONFIG_HOME": "{home}/xdg"}, "{home}/xdg/Claude/claude_desktop_config.json"),
    ],
)
def test_default_location_per_os(monkeypatch, tmp_path, platform, variables, expected):
    home = str(tmp_path)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("HOME", home)
    for name in ("APPDATA", "XDG_CONFIG_HOME", claude.CLAUDE_CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(home=home))
    assert claude.config_path() == Path(expected.format(home=home))
    monkeypatch.setenv(claude.CLAUDE_CONFIG_ENV, str(tmp_path / "elsewhere.json"))
    assert claude.config_path() == tmp_path / "elsewhere.json"
    assert claude.config_path(tmp_path / "flag.json") == tmp_path / "flag.json"


def test_backup_names_do_not_collide(tmp_path):
    path = tmp_path / "claude_desktop_config.json"
    path.write_text("{}")
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = claude.install_entry(path, "a", {"command": "x", "args": []}, now=now)
    second = claude.install_entry(path, "b", {"command": "y", "args": []}, now=now)
    assert first.backup.name == "claude_desktop_config.json.20260102-030405.bak"
    assert second.backup.name == "claude_desktop_config.json.20260102-030405-2.bak"
    assert json.loads(path.read_text())["mcpServers"].keys() == {"a", "b"}
