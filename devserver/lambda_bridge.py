"""HTTP request -> Lambda Function URL event (payload 2.0) -> handler -> HTTP response.

Each service gets one worker thread, like one Lambda execution environment: requests to a service are
served one at a time, by the same thread, in the same process, so the runtime's loop and lifespan behave
as they do on Lambda.
"""

from __future__ import annotations

import base64
import importlib
import itertools
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# The domain the local "Function URL" claims; requests must still name an allowed Host.
LOCAL_DOMAIN = "localhost.lambda-url.local"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default_factory=lambda: time.monotonic() + 30)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}:live"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(target: str) -> Handler:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def function_url_event(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The event Lambda builds for a Function URL request (payload format 2.0)."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif name in joined:
            joined[name] = f"{joined[name]},{value}"
        else:
            joined[name] = value
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": LOCAL_DOMAIN,
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": True,
        "body": base64.b64encode(body).decode() if body else None,
    }
    if cookies:
        event["cookies"] = cookies
    return event


def response_parts(result: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a payload 2.0 (or 1.0) handler result."""
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [(k, v) for k, values in (result.get("multiValueHeaders") or {}).items() for v in values]
    headers += [("set-cookie", c) for c in result.get("cookies") or ()]
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result.get("statusCode", 200)), headers, raw


def _own_environment(target: str) -> Handler:
    """The handler at `target`, as an execution environment of its own when it is our runtime: closing one
    local function then leaves the module's handler, and any other local server of it, untouched."""
    handler = load_handler(target)
    new_environment = getattr(handler, "new_environment", None)
    return new_environment() if new_environment is not None else handler


class LocalFunction:
    """One service's handler with its single worker thread."""

    _counter = itertools.count()

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lambda-{name}")
        # Import inside the worker: the runtime binds its event loop to the thread that first uses it.
        self._handler: Handler = self._executor.submit(_own_environment, target).result()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        context = LambdaContext(function_name=f"mcp-{self.name}")
        return self._executor.submit(self._handler, event, context).result()

    def close(self) -> None:
        close = getattr(self._handler, "close", None)
        if close is not None:
            self._executor.submit(close).result()
        self._executor.shutdown()
