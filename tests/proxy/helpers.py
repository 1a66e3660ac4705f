"""Running the proxy the way a desktop client does: as a subprocess, over stdio, with the SDK's client."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[2]
FAKE_BROWSER = Path(__file__).resolve().parent / "fake_browser.py"


def proxy_args(name: str, url: str, *extra: str) -> list[str]:
    return ["-m", "mcp_lambda_proxy", "proxy", name, url, *extra]


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
    """The SDK's `Client` connected over stdio to `python -m mcp_lambda_proxy proxy NAME URL ...`."""
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


class RawPeer:
    """The proxy spoken to in raw JSON-RPC lines over its stdin/stdout, as any desktop client writes them.

    For what the SDK's client would reshape or refuse: exact fields, vendor methods and notifications.
    """

    def __init__(self, process: Any) -> None:
        self.process = process
        self.inbox: list[dict[str, Any]] = []
        self._arrived = anyio.Event()
        self._next_id = 0

    @classmethod
    @asynccontextmanager
    async def start(cls, name: str, url: str, *extra: str, env: dict[str, str], stderr: Path) -> AsyncIterator[RawPeer]:
        with stderr.open("a", encoding="utf-8") as errlog:
            process = await anyio.open_process(
                [sys.executable, *proxy_args(name, url, *extra)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, env=env,
            )
            async with process:
                peer = cls(process)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(peer._read)
                    try:
                        yield peer
                    finally:
                        await process.stdin.aclose()
                        with anyio.move_on_after(10):
                            await process.wait()
                        tg.cancel_scope.cancel()

    async def _read(self) -> None:
        buffer = b""
        async for chunk in self.process.stdout:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    self.inbox.append(json.loads(line))
                    self._arrived.set()
                    self._arrived = anyio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        await self.process.stdin.send((json.dumps(message) + "\n").encode())

    async def next(self, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while True:
                for message in self.inbox:
                    if predicate(message):
                        self.inbox.remove(message)
                        return message
                await self._arrived.wait()

    async def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        request_id = f"raw-{self._next_id}"
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await self.next(lambda m: m.get("id") == request_id and "method" not in m, timeout)

    async def handshake(self, version: str = "2025-06-18", capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.request("initialize", {
            "protocolVersion": version,
            "capabilities": capabilities or {},
            "clientInfo": {"name": "raw-peer", "version": "1.0"},
        })
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer
