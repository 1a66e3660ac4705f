"""The command line: every option explained, the guide's spelling accepted, bad input refused cleanly."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mcp_lambda_proxy import __version__, cli
from tests.proxy.helpers import ROOT, proxy_env


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcp_lambda_proxy", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=str(ROOT))


def _subcommand(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return commands.choices[name]


@pytest.mark.parametrize("command", ["proxy", "logout"])
def test_help_explains_every_option(command):
    subparser = _subcommand(command)
    done = run(command, "--help")
    assert done.returncode == 0
    help_text = " ".join(done.stdout.split())
    for action in subparser._actions:  # noqa: SLF001
        assert action.help, f"{action.dest} has no help"
        for option in action.option_strings:
            assert option in help_text, f"{option} missing from --help"
    if command == "proxy":
        for words in ("NAME", "URL", "--mode", "--claude", "--client-id", "--client-secret", "--scope", "--protocol",
                      "auto", "legacy", "2026-07-28", "keychain", "logout"):
            assert words in help_text


def test_the_guide_s_command_line_is_accepted():
    parser = cli.build_parser()
    args = parser.parse_args(["proxy", "weather-service", "https://x.lambda-url.us-east-1.on.aws/", "--mode", "http",
                              "--claude", "--client-id", "id", "--client-secret", "secret"])
    assert (args.mode, args.claude, args.client_id, args.client_secret) == ("http", True, "id", "secret")
    assert args.protocol == "auto" and args.bearer == "auto"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["proxy", "x", "https://h/mcp", "--mode", "sse"], "invalid choice: 'sse'"),
        (["proxy", "x", "ftp://h/mcp"], "URL must be an http:// or https:// URL"),
        (["proxy", "x", "https://h/mcp", "--client-secret", "s"], "--client-secret needs --client-id"),
        (["proxy", "../etc", "https://h/mcp"], "NAME must be"),
        (["proxy", "x", "https://h/mcp", "--protocol", "2025-06-18"], "invalid choice"),
        (["proxy", "x", "https://h/mcp", "--client-metadata-url", "http://h/doc.json"], "must be an https:// URL"),
    ],
)
def test_bad_arguments_are_usage_errors(args, message, tmp_path):
    done = run(*args, env=proxy_env(tmp_path / "config"))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_version():
    assert run("--version").stdout.strip() == f"mcp-lambda-proxy {__version__}"


def test_logout_forgets_the_stored_sign_in(tmp_path):
    config = tmp_path / "config"
    config.mkdir(mode=0o700)
    (config / "credentials.json").write_text(json.dumps({"format": 1, "servers": {
        "weather": {"url": "https://h/mcp", "secrets": {"access_token": "at"}},
        "other": {"url": "https://o/mcp"},
    }}))
    env = proxy_env(config)
    first = run("logout", "weather", env=env)
    again = run("logout", "weather", env=env)
    assert (first.returncode, first.stdout.strip()) == (0, "mcp-lambda-proxy: forgot weather")
    assert again.stdout.strip() == "mcp-lambda-proxy: nothing stored for weather"
    assert list(json.loads((config / "credentials.json").read_text())["servers"]) == ["other"]


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "packages" / "mcp-lambda-proxy" / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["mcp-lambda-proxy"] == "mcp_lambda_proxy.cli:main"
    assert shutil.which("mcp-lambda-proxy", path=str(Path(sys.executable).parent)), "installed with the venv"
    module, _, function = project["project"]["scripts"]["mcp-lambda-proxy"].partition(":")
    assert module == cli.__name__ and callable(getattr(cli, function))


def test_a_fixed_callback_port_is_listened_on_for_exact_match_registrations():
    import socket

    import anyio

    from mcp_lambda_proxy.auth import LoopbackCallback

    with socket.socket() as probe:  # a port that is free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario():
        callback = await LoopbackCallback.open(port)
        try:
            return callback.redirect_uri
        finally:
            await callback.aclose()

    assert anyio.run(scenario) == f"http://127.0.0.1:{port}/callback"
    args = cli.build_parser().parse_args(["proxy", "x", "https://h/mcp", "--callback-port", "8976"])
    assert args.callback_port == 8976
