"""A Lambda Runtime API on loopback, for running handlers under the real runtime interface client.

Implements what awslambdaric calls (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
`GET /2018-06-01/runtime/invocation/next` (the next queued event, with the request id, deadline, function ARN and
trace id headers; it waits while the queue is empty, as Lambda freezes the environment), `POST
.../invocation/{id}/response`, `.../invocation/{id}/error` and `.../init/error`. Answers are collected by request id.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    def __init__(self, *, function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mcp-test:live",
                 timeout_seconds: float = 30) -> None:
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.answers: dict[str, tuple[str, Any]] = {}
        self.init_error: Any = None
        self._answered = threading.Condition()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def invoke(self, event: Any, timeout: float = 60) -> tuple[str, Any]:
        """Queue `event` and wait for the function's answer: ("response" | "error", body)."""
        request_id = str(uuid.uuid4())
        self._events.put((request_id, event))
        with self._answered:
            if not self._answered.wait_for(lambda: request_id in self.answers or self.init_error is not None, timeout):
                raise TimeoutError("the function did not answer")
        if self.init_error is not None:
            return "init_error", self.init_error
        return self.answers[request_id]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _answer(self, request_id: str, kind: str, body: Any) -> None:
        with self._answered:
            self.answers[request_id] = (kind, body)
            self._answered.notify_all()

    def _fail_init(self, body: Any) -> None:
        with self._answered:
            self.init_error = body
            self._answered.notify_all()


def _handler(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(404)
                return
            request_id, event = api._events.get()
            deadline = int((time.time() + api.timeout_seconds) * 1000)
            self._reply(200, json.dumps(event).encode(), {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            })

        def do_POST(self) -> None:
            body = self._body()
            if self.path == f"{PREFIX}/init/error":
                api._fail_init(body)
            elif self.path.startswith(f"{PREFIX}/invocation/") and self.path.endswith(("/response", "/error")):
                request_id, _, kind = self.path[len(f"{PREFIX}/invocation/"):].partition("/")
                api._answer(request_id, kind, body)
            else:
                self._reply(404)
                return
            self._reply(202)

    return Handler
