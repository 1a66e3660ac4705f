"""Running the proxy the way a desktop client does: as a subprocess, over stdio, with the SDK's client."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[2]
FAKE_BROWSER = Path(__file__).resolve().parent / "fake_browser.py"


def proxy_args(name: str, url: str, *extra: str) -> list[str]:
    return ["-m", "mcp_proxy", "proxy", name, url, *extra]


def proxy_env(config_dir: Path, **extra: str) -> dict[str, str]:
    """What the proxy subprocess gets: a private credential directory, the file store, no real browser."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(config_dir.parent),
        "PYTHONPATH": str(ROOT),
        "MCP_LAMBDA_PROXY_CONFIG_DIR": str(config_dir),
        "MCP_LAMBDA_PROXY_STORE": "file",
        "BROWSER": "/bin/false",
    }
    for key in ("SYSTEMROOT", "TMPDIR", "LANG"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def write_fake_browser(directory: Path) -> Path:
    """An executable for `$BROWSER` that runs fake_browser.py with this interpreter."""
    script = directory / "fake-browser"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_BROWSER}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@asynccontextmanager
async def proxied_client(
    name: str,
    url: str,
    *extra: str,
    env: dict[str, str],
    stderr: Path,
    mode: str = "auto",
    **client_options: Any,
) -> AsyncIterator[Client]:
    """The SDK's `Client` connected over stdio to `python -m mcp_proxy proxy NAME URL ...`."""
    parameters = StdioServerParameters(command=sys.executable, args=proxy_args(name, url, *extra), env=env)
    with stderr.open("a", encoding="utf-8") as errlog:
        async with Client(stdio_client(parameters, errlog=errlog), mode=mode, **client_options) as client:
            yield client


def run_proxy(name: str, url: str, *extra: str, env: dict[str, str], stdin: str = "", timeout: float = 60):
    """The proxy as a plain subprocess (for the cases where it must exit on its own)."""
    return subprocess.run(
        [sys.executable, *proxy_args(name, url, *extra)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
    )
