"""SIGTERM closes the lifespan and ends the process with 0 whichever thread the kernel hands it to.

A signal sent to a process goes to any of its threads that does not block it, and Python runs its handler only
in the main thread. Under awslambdaric the main thread sleeps in a join of the thread polling for the next
event; if another thread takes SIGTERM (the kernel's choice, likely right after Lambda thaws an environment to
shut it down, when every thread runs again), nothing wakes the main thread, the handler never runs and Lambda
kills the environment with the lifespan open. Here the signal is sent to each other thread in turn, as
`tgkill` does (found by the harness: a frozen environment thawed and signalled at once hung now and then).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.lambda_runtime.conftest import by_kind
from tests.lambda_runtime.environment import ExecutionEnvironment
from tests.lambda_runtime.harness import Client
from tests.lambda_runtime.test_mcp_functions import SESSION_CLOSED

_libc = ctypes.CDLL(None, use_errno=True)


def threads(environment: ExecutionEnvironment) -> list[int]:
    return sorted(int(task.name) for task in Path(f"/proc/{environment.process.pid}/task").iterdir())


def tgkill(pid: int, tid: int, signum: int) -> None:
    if _libc.tgkill(pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


@pytest.mark.timeout(300)
def test_sigterm_taken_by_another_thread_still_closes_the_lifespan_and_exits(deployment):
    """One environment per thread other than the main one (the runtime client's poller, the runtime's own)."""
    (weather,) = [f for f in by_kind(deployment.functions, "service") if f.name == "weather"]
    configured = deployment.configure(weather)
    host, auth_type = deployment.url(weather)
    index, signalled = 0, []
    while index == 0 or index < len(signalled[-1][1]):
        environment = deployment.start(configured, freeze=False)
        try:
            assert Client(environment, host, auth_type).request("tools/list").status == 200
            environment.api.wait_idle(timeout=30)  # a guard: it asks for the next event right after answering
            pid = environment.process.pid
            others = [tid for tid in threads(environment) if tid != pid]
            assert others, "the runtime client polls for the next event in a thread of its own"
            signalled.append((others[index], others))
            tgkill(pid, others[index], signal.SIGTERM)
            try:
                returncode = environment.process.wait(timeout=10)  # a guard: Lambda kills it after 2 s at most
            except subprocess.TimeoutExpired:
                returncode = None
            assert returncode == 0, f"exit {returncode} after SIGTERM to thread {index} of {others}:\n" \
                                    f"{environment.output()[-2000:]}"
            assert SESSION_CLOSED in environment.output()
        finally:
            environment.close()
        index += 1
