"""`mcp-lambda serve` in a subprocess for tests: started, its server URLs read, and stopped in every outcome
(with the embedded PostgreSQL it started, should it have to be killed)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MCP_LAMBDA = [sys.executable, "-m", "mcp_lambda.local"]


@contextmanager
def serving(*args: str, cwd: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, dict[str, str]]]:
    """`mcp-lambda serve ARGS` until its server list is printed; stopped (killed if it must be) in every
    outcome, so a failing test leaves no server or database behind."""
    data_dir = cwd / ".local" / "pgdata"
    database_was_running = postmaster_alive(data_dir)
    process = subprocess.Popen([*MCP_LAMBDA, "serve", *args, "--port", "0"], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        urls = {}
        for line in process.stdout:
            # "  name  http://host:port/name/mcp", and after it what the server requires, if anything
            if match := re.match(r"\s+(\S+)\s+(http://\S+/mcp)(?:\s.*)?$", line):
                urls[match[1]] = match[2]
            if line.startswith("Serving on"):
                break
        yield process, urls
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if not database_was_running:
            stop_postmaster(data_dir)  # a server killed before it could stop its embedded database leaves it


def postmaster_alive(data_dir: Path) -> bool:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_postmaster(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL in `data_dir` if it still runs (fast shutdown: SIGINT)."""
    if postmaster_alive(data_dir):
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGINT)
        for _ in range(100):
            if not postmaster_alive(data_dir):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
