"""The messaging bundle under Lambda's own runtime interface client (awslambdaric), against a Runtime API on
loopback (runtime_api.py), from a read-only copy of the bundle, as Lambda runs it: `python -m awslambdaric
messaging.server.handler` with `AWS_EXECUTION_ENV=AWS_Lambda_python3.13` (thread polling for the next event,
as on Lambda) and only the bundle and the runtime interface client on the path.

- Invocations are answered, the database connection opened once per environment and reused.
- SIGTERM (what Lambda sends before ending an environment that has extensions) closes the lifespan, whose
  database connection goes away, and the process exits with 0 within the shutdown phase, every time.
  Before the fix the client's polling thread, blocked in a native call for the next event, kept the process
  alive until it was killed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_

from mcp_lambda_cdk.bundling import PythonBundle
from mcp_lambda.local.events import function_url_event
from tests.lambda_runtime.runtime_api import RuntimeApi

ROOT = Path(__file__).resolve().parents[2]
RIC_VERSION = "4.2.2"
DOMAIN = "abc123.lambda-url.us-east-1.on.aws"
ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "aarch64": lambda_.Architecture.ARM_64,
                 "arm64": lambda_.Architecture.ARM_64}


@pytest.fixture(scope="module")
def runtime_client(tmp_path_factory) -> Path:
    """awslambdaric in a folder of its own, as Lambda's /var/runtime holds it apart from the function's code."""
    target = tmp_path_factory.mktemp("var-runtime")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    f"awslambdaric=={RIC_VERSION}", "simplejson==4.3.0"], check=True)
    return target


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The messaging bundle for this machine's CPU, read-only as /var/task is."""
    out = tmp_path_factory.mktemp("var-task") / "task"
    PythonBundle.for_server(ROOT / "servers" / "messaging", runtime=lambda_.Runtime.PYTHON_3_13,
                            architecture=ARCHITECTURES[platform.machine()]).build(out)
    for path in [out, *out.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield out
    for path in [out, *out.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(out, ignore_errors=True)


def start(bundle: Path, runtime_client: Path, api: RuntimeApi, database_url: str) -> subprocess.Popen:
    env = {
        "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(bundle), "PYTHONPATH": f"{bundle}{os.pathsep}{runtime_client}",
        "AWS_LAMBDA_FUNCTION_NAME": "messaging", "AWS_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "messaging",
        "DATABASE_URL": database_url, "PATH": os.defpath, "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.Popen([sys.executable, "-s", "-m", "awslambdaric", "messaging.server.handler"], cwd=bundle,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def call(api: RuntimeApi, request_id: int, tool: str, arguments: dict) -> dict:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    event = function_url_event("POST", "/mcp", domain_name=DOMAIN, body=json.dumps(body).encode(), headers={
        "host": DOMAIN, "content-type": "application/json", "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25"})
    kind, answer = api.invoke(event)
    assert kind == "response", answer
    return answer


def backends(admin) -> int:
    return admin.run("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'messaging'")[0][0]


@pytest.mark.timeout(180)
def test_invocations_are_answered_and_sigterm_closes_the_lifespan_and_exits(bundle, runtime_client, database_url, admin):
    before = backends(admin)
    for environment in range(3):
        api = RuntimeApi()
        process = start(bundle, runtime_client, api, database_url)
        try:
            posted = call(api, 1, "post_message", {"text": f"under awslambdaric {environment}"})
            assert posted["statusCode"] == 200 and json.loads(posted["body"])["result"]["isError"] is False
            read = call(api, 2, "get_messages", {"limit": 1})
            assert json.loads(read["body"])["result"]["structuredContent"]["result"][0]["text"] == \
                f"under awslambdaric {environment}"
            assert backends(admin) == before + 1, "one connection per environment, reused"

            process.send_signal(signal.SIGTERM)
            try:
                returncode = process.wait(timeout=10)  # a guard: Lambda would have killed it after 2 s at most
            except subprocess.TimeoutExpired:
                pytest.fail("the process did not exit after SIGTERM:\n" + _output(process))
            assert returncode == 0, _output(process)
            assert backends(admin) == before, "the lifespan closed its database connection"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            api.close()


def _output(process: subprocess.Popen) -> str:
    try:
        return process.stdout.read()[-3000:] if process.stdout else ""
    except ValueError:
        return ""
