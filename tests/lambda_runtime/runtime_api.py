"""The Lambda side of an execution environment, on loopback: the Runtime API, and Lambda's Invoke API.

`RuntimeApi` implements what awslambdaric calls (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
`GET /2018-06-01/runtime/invocation/next` (the next queued event, with the request id, deadline, function ARN and
trace id headers), `POST .../invocation/{id}/response`, `.../invocation/{id}/error` (with its
`Lambda-Runtime-Function-Error-Type`) and `.../init/error`. Answers are collected by request id, with the time
they arrived, as is the time of the first request for an event (the cold-start benchmark reads both).

Lambda freezes an environment once its runtime asks for the next event and none is waiting, and thaws it when
one arrives; with `freeze` set the API does the same to the process it serves (SIGSTOP, SIGCONT), so background
threads, timers and connections are tested as they live on Lambda: stopped between invocations.

`InvokeApi` is the part of Lambda's own API the functions call: `Invoke` with `InvocationType=Event`
(`POST /2015-03-31/functions/{name}/invocations`, answered 202), which a task tool sends to run its work in
another invocation of the same function. Reached by setting `AWS_ENDPOINT_URL_LAMBDA`; each event goes to the
Runtime API of the environment registered for that function name.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

PREFIX = "/2018-06-01/runtime"
DEFAULT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mcp-test:live"


class RuntimeApi:
    """The Runtime API of one execution environment."""

    def __init__(self, *, function_arn: str = DEFAULT_ARN, timeout_seconds: float = 30) -> None:
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.answers: dict[str, tuple[str, Any]] = {}
        self.answered_at: dict[str, float] = {}
        self.error_types: dict[str, str | None] = {}
        self.init_error: Any = None
        self._answered = threading.Condition()
        self._freezing = threading.Condition()
        self._pid: int | None = None
        self.polled_at: float | None = None  # when the runtime first asked for an event: the end of its INIT
        self.waiting = False  # asked for the next event, none has come yet
        self.frozen = False
        self.freezes = 0
        self.httpd = _Server(("127.0.0.1", 0), _runtime_handler(self))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def freeze(self, pid: int) -> None:
        """Freeze process `pid` whenever it waits for an event that has not come, as Lambda does."""
        self._pid = pid

    def send(self, event: Any) -> str:
        """Queue `event` (thawing the environment); its request id."""
        request_id = str(uuid.uuid4())
        with self._freezing:
            self._thaw()
            self._events.put((request_id, event))
        return request_id

    def answer(self, request_id: str, timeout: float = 60) -> tuple[str, Any]:
        """Wait for the function's answer to `request_id`: ("response" | "error" | "init_error", body)."""
        with self._answered:
            if not self._answered.wait_for(lambda: request_id in self.answers or self.init_error is not None, timeout):
                raise TimeoutError("the function did not answer")
        if request_id not in self.answers:
            return "init_error", self.init_error
        return self.answers[request_id]

    def invoke(self, event: Any, timeout: float = 60) -> tuple[str, Any]:
        """Queue `event` and wait for the function's answer."""
        return self.answer(self.send(event), timeout)

    def wait_idle(self, timeout: float) -> None:
        """Wait until the process has asked for an event that has not come (and is frozen, if it freezes)."""
        with self._freezing:
            if not self._freezing.wait_for(lambda: self.waiting, timeout):
                raise TimeoutError("the environment did not ask for its next event")

    def thaw(self) -> None:
        """Let the process run (before signalling it, as Lambda thaws an environment to shut it down)."""
        with self._freezing:
            self._thaw()
            self._pid = None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _thaw(self) -> None:
        if self.frozen and self._pid is not None:
            _signal(self._pid, signal.SIGCONT)
        self.frozen = False

    def _next(self) -> tuple[str, Any]:
        if self.polled_at is None:
            self.polled_at = time.perf_counter()
        with self._freezing:
            if self._events.empty():
                self.waiting = True
                if self._pid is not None and not self.frozen:
                    _signal(self._pid, signal.SIGSTOP)
                    self.frozen = True
                    self.freezes += 1
                self._freezing.notify_all()
        request_id, event = self._events.get()
        self.waiting = False
        return request_id, event

    def _answer(self, request_id: str, kind: str, body: Any, error_type: str | None) -> None:
        with self._answered:
            self.answers[request_id] = (kind, body)
            self.answered_at[request_id] = time.perf_counter()
            self.error_types[request_id] = error_type
            self._answered.notify_all()

    def _fail_init(self, body: Any) -> None:
        with self._answered:
            self.init_error = body
            self._answered.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a process that ends while it waits for its next event drops the connection: expected


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


class _JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: with Nagle's algorithm the body would wait for the client's
    # delayed ACK of the headers (40 ms on Linux), a stall of this stand-in that Lambda's Runtime API does not have.
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _reply(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _runtime_handler(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(_JsonHandler):
        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(404)
                return
            request_id, event = api._next()
            deadline = int((time.time() + api.timeout_seconds) * 1000)
            self._reply(200, json.dumps(event).encode(), {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            })

        def do_POST(self) -> None:
            body = self._body()
            if self.path == f"{PREFIX}/init/error":
                api._fail_init(body)
            elif self.path.startswith(f"{PREFIX}/invocation/") and self.path.endswith(("/response", "/error")):
                request_id, _, kind = self.path[len(f"{PREFIX}/invocation/"):].partition("/")
                api._answer(request_id, kind, body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            else:
                self._reply(404)
                return
            self._reply(202)

    return Handler


class InvokeApi:
    """Lambda's `Invoke` for the functions registered by name: asynchronous events (202, queued), and synchronous
    ones (`RequestResponse`: the function's answer as the payload; a function error is 200 with
    `X-Amz-Function-Error: Unhandled` and the error as the payload, as Lambda answers it)."""

    def __init__(self) -> None:
        self.targets: dict[str, RuntimeApi] = {}
        self.invocations: list[dict[str, Any]] = []  # function name, qualifier, event, request id
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _invoke_handler(self))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, function_name: str, api: RuntimeApi) -> None:
        """Send the events invoked on `function_name` (any qualifier) to the environment behind `api`."""
        self.targets[function_name] = api

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _invoke(self, function: str, invocation_type: str, event: Any) -> tuple[int, Any, dict[str, str]]:
        # FunctionName may be a name, a partial or full ARN, with or without a qualifier.
        parts = function.split(":")
        name, qualifier = (parts[6], parts[7] if len(parts) > 7 else None) if function.startswith("arn:") else (
            parts[0], parts[1] if len(parts) > 1 else None)
        target = self.targets.get(name)
        if target is None:
            return 404, {"Type": "User", "message": f"Function not found: {function}"}, {}
        if invocation_type not in ("Event", "RequestResponse"):
            return 400, {"Type": "User", "message": f"this stand-in serves no {invocation_type} invocation"}, {}
        request_id = target.send(event)
        with self._lock:
            self.invocations.append({"function": name, "qualifier": qualifier, "event": event,
                                     "request_id": request_id, "type": invocation_type})
        if invocation_type == "Event":
            return 202, {}, {}
        kind, answer = target.answer(request_id, timeout=target.timeout_seconds + 5)
        if kind == "response":
            return 200, answer, {}
        return 200, answer, {"X-Amz-Function-Error": "Unhandled"}


def _invoke_handler(api: InvokeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(_JsonHandler):
        def do_POST(self) -> None:
            body = self._body()
            prefix, suffix = "/2015-03-31/functions/", "/invocations"
            path = self.path.split("?", 1)[0]
            if not (path.startswith(prefix) and path.endswith(suffix)):
                self._reply(404, b'{"message":"not an Invoke request"}')
                return
            function = unquote(path[len(prefix):-len(suffix)])
            status, answer, headers = api._invoke(function, self.headers.get("X-Amz-Invocation-Type",
                                                                             "RequestResponse"), body)
            payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode() if answer else b""
            self._reply(status, payload, {"x-amzn-RequestId": str(uuid.uuid4()), "X-Amz-Executed-Version": "1",
                                          **headers})

    return Handler
