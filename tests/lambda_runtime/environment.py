"""One Lambda execution environment: the runtime interface client serving one function, started as Lambda starts it.

The process is `python3.13 -m awslambdaric <handler>` from the function's read-only task root (the working
directory, hence first on `sys.path`), with the runtime directory on `PYTHONPATH`, as the function's user, with
the variables Lambda defines for a Python 3.13 function (AWS's "Defined runtime environment variables"), the
function's own variables, and the endpoints of the local stand-ins. Lambda's reserved names can never come from
the function's configuration (Lambda refuses to deploy one that sets them), so a template that sets one fails here.
Output goes to a file, as Lambda sends it to CloudWatch: a pipe nobody reads would stall a chatty function.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lambda_runtime.image import RuntimeImage, function_user
from tests.lambda_runtime.runtime_api import RuntimeApi

REGION = "us-east-1"
ACCOUNT = "123456789012"
EXECUTION_ENV = "AWS_Lambda_python3.13"
#: Set by Lambda, refused in a function's configuration.
RESERVED = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
})
#: The execution role's credentials, as the stand-ins accept them.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ASIATESTFUNCTIONROLE", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_SESSION_TOKEN": "testing"}


@dataclass(frozen=True)
class LambdaFunction:
    """What Lambda knows of a deployed function: enough to start an environment of it."""

    name: str
    handler: str
    task_root: Path
    variables: dict[str, str] = field(default_factory=dict)  # its configuration's environment, rendered
    memory_size: int = 128
    timeout: int = 3
    version: str = "1"
    qualifier: str = "live"  # the alias it is invoked through
    log_group: str | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"

    @property
    def invoked_arn(self) -> str:
        return f"{self.arn}:{self.qualifier}"


class ExecutionEnvironment:
    """A process of the runtime interface client for `function`, frozen between invocations."""

    def __init__(self, image: RuntimeImage, function: LambdaFunction, *, stand_ins: dict[str, str] | None = None,
                 initialization_type: str = "on-demand", freeze: bool = True) -> None:
        clash = RESERVED & set(function.variables)
        if clash:
            raise ValueError(f"{function.name} sets variables Lambda reserves: {sorted(clash)}")
        self.function = function
        self.api = RuntimeApi(function_arn=function.invoked_arn, timeout_seconds=function.timeout)
        self._log = tempfile.NamedTemporaryFile(prefix=f"{function.name}-", suffix=".log", delete=False)
        self.environ = {**self.defined_variables(image, initialization_type), **function.variables,
                        **(stand_ins or {})}
        self.user = function_user()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(image.python), "-m", "awslambdaric", function.handler], cwd=function.task_root, env=self.environ,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            **({"user": self.user[0], "group": self.user[1], "extra_groups": []} if self.user else {}))
        if freeze:
            self.api.freeze(self.process.pid)

    def defined_variables(self, image: RuntimeImage, initialization_type: str) -> dict[str, str]:
        """What Lambda's Python 3.13 runtime sets (AWS documentation, "Defined runtime environment variables";
        the paths are this image's `/var/lang`, `/var/runtime` and `/var/task`)."""
        function, task = self.function, str(self.function.task_root)
        stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{function.version}]{uuid.uuid4().hex}"
        return {
            "_HANDLER": function.handler,
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_EXECUTION_ENV": EXECUTION_ENV,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group or f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            **CREDENTIALS,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "LAMBDA_TASK_ROOT": task,
            "LAMBDA_RUNTIME_DIR": str(image.runtime),
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "LANG": "en_US.UTF-8",
            "PATH": f"{image.lang / 'bin'}:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": f"{image.lang / 'lib'}:/lib64:/usr/lib64:{image.runtime}:{image.runtime}/lib:"
                               f"{task}:{task}/lib:/opt/lib",
            "PYTHONPATH": str(image.runtime),
            "TZ": ":UTC",
        }

    def invoke(self, event: Any, timeout: float = 60) -> tuple[str, Any]:
        """Hand `event` to the function and wait for its answer: ("response" | "error" | "init_error", body)."""
        return self.api.invoke(event, timeout)

    def shut_down(self, timeout: float = 10) -> int | None:
        """Lambda's shutdown with extensions: thaw, SIGTERM, wait. The exit code, or None if still running after
        `timeout` (a guard: Lambda kills the environment 500 ms to 2 s after SIGTERM)."""
        self.api.thaw()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def output(self) -> str:
        """What the function wrote (its CloudWatch log)."""
        return Path(self._log.name).read_text(errors="replace")

    def close(self) -> None:
        self.api.thaw()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.api.close()
        self._log.close()
        os.unlink(self._log.name)

    def __enter__(self) -> ExecutionEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
