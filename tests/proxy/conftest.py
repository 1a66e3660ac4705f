"""Fixtures shared by the proxy tests: the local Lambda servers, in a process of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVE_LOCAL = Path(__file__).resolve().parent / "serve_local.py"
SERVICES = ("weather", "messaging", "conformance")


@dataclass
class LocalServers:
    """`LocalServer` (mcp_lambda/local/http_server.py) running in a subprocess: see serve_local.py."""

    process: subprocess.Popen
    base_url: str

    def url(self, service: str) -> str:
        return f"{self.base_url}/{service}/mcp"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_local_servers(services: tuple[str, ...], **env: str) -> LocalServers:
    process = subprocess.Popen(
        [sys.executable, str(SERVE_LOCAL), *services],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, **env},
    )
    for line in process.stdout:
        if line.startswith("READY "):
            return LocalServers(process, line.split(" ", 1)[1].strip())
    process.wait(10)
    raise RuntimeError(f"serve_local.py exited with {process.returncode} before serving")


@pytest.fixture(scope="session")
def local_servers() -> Iterator[LocalServers]:
    servers = start_local_servers(SERVICES)
    try:
        yield servers
    finally:
        servers.stop()
