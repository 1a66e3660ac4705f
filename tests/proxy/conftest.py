"""Fixtures shared by the proxy tests: the local Lambda servers, in a process of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


def start_local_servers(services: tuple[str, ...], *, environ: Mapping[str, str] | None = None,
                        **env: str) -> LocalServers:
    """`services` served by serve_local.py with `environ` (default: this process's) and `env` on top."""
    process = subprocess.Popen(
        [sys.executable, str(SERVE_LOCAL), *services],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**(os.environ if environ is None else environ), **env},
    )
    for line in process.stdout:
        if line.startswith("READY "):
            return LocalServers(process, line.split(" ", 1)[1].strip())
    process.wait(10)
    raise RuntimeError(f"serve_local.py exited with {process.returncode} before serving")


def environ_without_sign_in_settings() -> dict[str, str]:
    """This process's environment without another test's sign-in configuration: an in-process LocalServer leaves
    its MCP_AUTH_CONFIG behind, and SERVE_LOCAL_AUTH_* configure serve_local.py's own."""
    return {k: v for k, v in os.environ.items() if k != "MCP_AUTH_CONFIG" and not k.startswith("SERVE_LOCAL_AUTH_")}


@contextmanager
def secure_messaging_servers(database_url: str, **env: str) -> Iterator[LocalServers]:
    """secure-messaging with its default sign-in configuration (the authorization server at /oauth in front of
    the development issuer), in a process of its own, stopped in every outcome."""
    servers = start_local_servers(("secure-messaging",), environ=environ_without_sign_in_settings(),
                                  DATABASE_URL=database_url, **env)
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def local_servers() -> Iterator[LocalServers]:
    servers = start_local_servers(SERVICES)
    try:
        yield servers
    finally:
        servers.stop()
