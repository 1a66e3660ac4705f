"""One MCP server per Lambda execution environment: one event loop, one lifespan, many invocations.

Lambda runs one invocation at a time per environment and freezes the process between them. The
runtime therefore keeps a single asyncio loop for the environment's lifetime, enters the server's
lifespan once (in a task that outlives every invocation, because anyio task groups and cancel scopes
must be entered and left by the same task) and drives each request through the SDK's own Streamable HTTP
application, stateless, in JSON mode unless the request's reply may carry notifications (replies.py): the SDK
remains the protocol engine for every revision.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST

from mcp_lambda import snapstart, tracing
from mcp_lambda.asgi import Dispatch, call_asgi
from mcp_lambda import contract as c
from mcp_lambda.auth.config import AuthConfig, AuthConfigError
from mcp_lambda.auth.policy import Access
from mcp_lambda.auth.visibility import ToolVisibility
from mcp_lambda.batch import serve_batch
from mcp_lambda.direct import DirectApp
from mcp_lambda.envelope import classify_legacy_body, id_refusal, parse_refusal, version_refusal
from mcp_lambda.events import (
    EventFormatError,
    HttpRequest,
    HttpResponse,
    PayloadFormat,
    jsonrpc_error,
    parse_event,
    to_lambda_response,
)
from mcp_lambda.guards import mend_after_dispatch, refuse_before_dispatch
from mcp_lambda.invocation import Invocation, current_invocation, handlers
from mcp_lambda.observability import configure_sdk_logging, flush_metrics, logger
from mcp_lambda.replies import may_stream, settle
from mcp_lambda.settings import RuntimeSettings

if TYPE_CHECKING:
    # Imported where first needed: token validation (pyjwt, cryptography) costs about 60 ms of a cold start,
    # which functions without sign-in should not pay.
    from opentelemetry.trace import Span

    from mcp_lambda.auth.gate import AuthGate

T = TypeVar("T")

# MCPServer keeps only its most recently created session manager, and local task workers start more
# environments of the same server in other threads (mcp_lambda/tasks/local.py): app creation is serialised.
_STARTING = threading.Lock()


class McpLambdaRuntime:
    """Serves one `MCPServer` from Lambda HTTP events."""

    def __init__(
        self,
        server: MCPServer[Any],
        settings: RuntimeSettings | None = None,
        access: Access | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.server = server
        self._given_settings = settings
        self._settings = settings
        self.access = access
        self._environment = dict(environment or {})
        self._gate: AuthGate | None = None
        if access is not None and not any(isinstance(m, ToolVisibility) for m in server.middleware):
            server.middleware.append(ToolVisibility())
        snapstart.install(self.prime)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app: Any = None
        self._direct_app: DirectApp | None = None
        self._lifespan_task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._tracing: bool | None = None  # MCP_TRACING, read on first use
        self._cold = True  # until the first invocation
        if snapstart.provisioned(self.environ()):
            self.prime()  # Lambda's init phase, ahead of traffic: the first request's work is done now

    def new_environment(self, environment: Mapping[str, str] | None = None) -> McpLambdaRuntime:
        """Another execution environment of the same function (same server, settings and access policy):
        its own loop and lifespan, closed on its own. `environment` adds variables of its own to what its
        settings and sign-in configuration read (a local server runs several functions in one process, each
        with its own `MCP_AUTH_CONFIG`, as each Lambda function has its own environment).

        For local servers, local task workers and tests that run a function next to (or after) another in
        one process.
        """
        return type(self)(self.server, self._given_settings, self.access, {**self._environment, **(environment or {})})

    def environ(self) -> Mapping[str, str]:
        """The variables this environment's settings and sign-in read: the process's, plus its own."""
        return {**os.environ, **self._environment} if self._environment else os.environ

    @property
    def settings(self) -> RuntimeSettings:
        """Read from the environment on first use, not at import: what is configured by then counts."""
        if self._settings is None:
            self._settings = RuntimeSettings.from_env(self.environ())
        return self._settings

    @property
    def gate(self) -> AuthGate:
        """The sign-in gate, built on first use from MCP_AUTH_CONFIG (raises AuthConfigError if unusable)."""
        if self._gate is None:
            from mcp_lambda.auth.gate import AuthGate

            assert self.access is not None
            config = AuthConfig.from_env(self.environ())
            if config is None:
                raise AuthConfigError("this server has an access policy but MCP_AUTH_CONFIG is not set")
            self._gate = AuthGate(self.access, config, self.server.name)
        return self._gate

    def traced(self) -> bool:
        """Whether this environment traces (MCP_TRACING, read on first use). The first call of a traced
        environment sets up the OpenTelemetry SDK (tracing_export; only then is it imported) and gives the SDK's
        MCP spans their transport attributes and link to the invocation (tracing.InvocationLink)."""
        if self._tracing is None:
            self._tracing = self.settings.tracing is not None
            if self._tracing:
                from mcp_lambda import tracing_export

                tracing_export.install(self.environ())
                if not any(isinstance(m, tracing.InvocationLink) for m in self.server.middleware):
                    self.server.middleware.append(tracing.InvocationLink())
        return self._tracing

    def _trace(self, request: HttpRequest | None, context: Any,
               carrier: Mapping[str, Any] | None = None) -> AbstractContextManager[Span | None]:
        """The invocation's span when this environment traces (see tracing.py), else nothing. `carrier`: the W3C
        trace context an extension's event carries (a placed tool's call: its front's)."""
        cold, self._cold = self._cold, False
        if not self.traced():
            return nullcontext()
        return tracing.invocation(request, context, self.environ(), mcp_path=self.settings.mcp_path,
                                  max_body=self.settings.max_request_bytes, cold=cold, carrier=carrier)

    # -- lifecycle -------------------------------------------------------------------------------------

    def _start(self) -> None:
        """Create the loop (once) and a fresh ASGI app, and enter the lifespan. Raises if the lifespan fails.

        The app is rebuilt on every start because the SDK's session manager can be run only once: after a
        failed start (say, the database was unreachable) the next invocation needs a new one.
        """
        if self._loop is None:
            configure_sdk_logging()
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            _install_shutdown_hooks(self)
        with _STARTING:
            self._app = self.server.streamable_http_app(
                streamable_http_path=self.settings.mcp_path,
                json_response=True,  # per request: _dispatch
                stateless_http=True,
                max_request_body_size=self.settings.max_request_bytes,
                # Host and Origin are checked in guards.py, where the endpoint's domain is known.
                transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            )
            # Taken now: the server object keeps only its most recently created session manager.
            self._session_manager = self.server.session_manager
            self._direct_app = DirectApp(self._session_manager, self._app)
        ready = self._loop.create_future()
        self._stop = asyncio.Event()
        with tracing.detached():  # the lifespan outlives the invocation starting it
            self._lifespan_task = self._loop.create_task(self._hold_lifespan(ready))
        try:
            self._loop.run_until_complete(ready)
        except BaseException:
            self._lifespan_task = None
            raise

    async def _hold_lifespan(self, ready: asyncio.Future[None]) -> None:
        assert self._stop is not None
        try:
            async with self._session_manager.run():
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
                return
            raise

    def close(self, timeout: float | None = None) -> None:
        """Leave the lifespan (closing what it opened) and the loop. Safe to call twice. `timeout`: how long the
        lifespan may take to close (Lambda's shutdown phase is short), after which it is abandoned."""
        for handler in handlers(self.server):
            handler.release(self)  # e.g. local task workers this environment started stop with it
        loop, task = self._loop, self._lifespan_task
        # A loop running in another thread is a local task worker still busy at exit: it ends with the process.
        if loop is None or loop.is_closed() or loop.is_running():
            return
        if task is not None and self._stop is not None:
            self._stop.set()
            leaving = asyncio.gather(task, return_exceptions=True)
            try:
                loop.run_until_complete(asyncio.wait_for(leaving, timeout) if timeout is not None else leaving)
            except TimeoutError:
                logger.warning("The lifespan did not close within the shutdown phase; abandoned", timeout=timeout)
        self._lifespan_task = None
        # Tasks libraries left on the loop (sse-starlette's shutdown watcher, started by the first SSE reply of
        # the SDK's streaming mode) end with it, as asyncio.run ends them; a lifespan abandoned above stays so.
        leftovers = [leftover for leftover in asyncio.all_tasks(loop) if leftover is not task]
        for leftover in leftovers:
            leftover.cancel()
        if leftovers:  # (an empty gather would belong to the thread's current loop, not necessarily this one)
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def prime(self) -> None:
        """Do the first request's work ahead of it: read the sign-in configuration (and import token validation),
        enter the lifespan, serve one synthetic tools/list (the SDK builds its validators and serializers on first
        use) and set up tracing when it is on. Called before a SnapStart snapshot and, for provisioned
        concurrency, during the init phase (snapstart.py). Never raises: what fails is left to the first request.
        """
        domain = "prime.invalid"
        body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "tools/list"}).encode()
        headers = [("host", domain), ("content-type", "application/json"),
                   ("accept", "application/json, text/event-stream"), ("mcp-protocol-version", "2025-11-25")]
        request = HttpRequest("POST", self.settings.mcp_path, "", headers, body, "127.0.0.1", domain, "prime", "2.0")
        try:
            if self.access is not None:
                self.gate  # built now: the configuration read, token validation imported
            if not self.started:
                self._start()
            # Past sign-in, as an anonymous caller allowed to list: the SDK's work is what is being done ahead.
            response = self._dispatch(Dispatch(request, self.settings.mcp_path, access=self.access))
            self.traced()  # the OpenTelemetry SDK, when tracing is on, is imported now rather than by a request
        except Exception:
            logger.exception("Priming failed; the first request will do that work")
            return
        logger.info("Primed", status=response.status,
                    initialization=self.environ().get(snapstart.INITIALIZATION_TYPE))

    @property
    def started(self) -> bool:
        return self._lifespan_task is not None and not self._lifespan_task.done()

    def run_in_environment(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run `work(app)` on this environment's loop with the lifespan entered (started now if needed;
        raises if it cannot start). For invocations that are not HTTP requests: a task's (mcp_lambda.tasks)."""
        if not self.started:
            self._start()
        assert self._loop is not None
        return self._loop.run_until_complete(work(self._app))

    def serve_in_environment(self, dispatch: Dispatch) -> HttpResponse:
        """One request that came in an event of an extension's (a placed tool's forwarded call) through the SDK,
        its reply settled as an HTTP request's is (JSON, or SSE with the call's notifications). Starts the
        lifespan if needed; raises if it cannot."""
        if not self.started:
            self._start()
        return self._dispatch(dispatch)

    # -- requests --------------------------------------------------------------------------------------

    def handle(self, request: HttpRequest, context: Any = None) -> HttpResponse:
        """Serve one request; never raises, so Lambda never reports a failed invocation for a bad request.

        `context` is the invocation's Lambda context, whose remaining time bounds a batch (None: no deadline).
        """
        try:
            gate = self.gate if self.access is not None else None
        except AuthConfigError:
            logger.exception("Sign-in is misconfigured")
            return jsonrpc_error(500, INTERNAL_ERROR, "Internal error: sign-in is not configured")
        if gate is not None and gate.is_metadata_request(request):
            return gate.metadata(request, self.settings.mcp_path)
        refusal = refuse_before_dispatch(request, self.settings)
        if refusal is not None:
            return refusal
        if not self.started:
            try:
                self._start()
            except Exception:
                # Most often a dependency of the lifespan (the database) is unreachable; the next
                # invocation tries again.
                logger.exception("MCP server lifespan failed to start")
                return jsonrpc_error(503, INTERNAL_ERROR, "Service unavailable: the server is starting, retry")
        # The endpoint answers at its path with or without a trailing slash, and at the root (the SDK's app
        # would redirect `/mcp/` with a 307 and an empty body).
        mcp_path = self.settings.mcp_path
        path = mcp_path if request.path.rstrip("/") in ("", mcp_path.rstrip("/")) else request.path
        try:
            classified = (parse_refusal(request) or version_refusal(request) or id_refusal(request)
                          or classify_legacy_body(request))
            if isinstance(classified, HttpResponse):
                return classified
            dispatch = Dispatch(request, path)
            if gate is not None:
                messages = classified if isinstance(classified, list) else [request.message()]
                with tracing.span("sign-in") as span:
                    decision = gate.decide(request, messages, self.settings.mcp_path)
                    if span is not None:
                        tracing.record_sign_in(span, signed_in=decision.caller is not None, refusal=decision.refusal,
                                               reason=decision.reason)
                if decision.refusal is not None:
                    return decision.refusal
                dispatch = gate.admit(dispatch, decision, self.settings.mcp_path)
            if isinstance(classified, list):
                remaining_ms = getattr(context, "get_remaining_time_in_millis", None)

                def serve_item(item: Any) -> HttpResponse:
                    single = replace(dispatch, request=replace(request, body=json.dumps(item).encode()))
                    # A batch is answered with one JSON array (batch.py): its items' notifications have no place.
                    return self._dispatch(single, streaming=False)

                return serve_batch(classified, serve_item, self.settings, remaining_ms)
            return self._dispatch(dispatch)
        except Exception:
            logger.exception("Unhandled error while serving an MCP request")
            return jsonrpc_error(500, INTERNAL_ERROR, "Internal error")

    def _dispatch(self, dispatch: Dispatch, streaming: bool | None = None) -> HttpResponse:
        """One request through the SDK (its kernel directly, or its full app), its reply settled (JSON, or SSE
        with the call's notifications: replies.py) and mended. `streaming`: whether the reply may carry
        notifications (None: as the request allows)."""
        assert self._loop is not None
        direct = self.settings.direct_dispatch and dispatch.path == self.settings.mcp_path
        app = self._direct_app if direct else self._app
        request = dispatch.request
        # The SDK's response mode for this request alone: the session manager reads `json_response` when a request
        # arrives, and an environment serves one at a time. JSON between requests, as the app's other caller (the
        # tasks extension's worker) expects.
        manager = self._session_manager
        manager.json_response = not (may_stream(request) if streaming is None else streaming)
        try:
            response = self._loop.run_until_complete(call_asgi(app, dispatch))
        finally:
            manager.json_response = True
        response = settle(request, response, self.settings.max_response_bytes)
        return mend_after_dispatch(request, response, self.settings)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The Lambda handler. Never raises: whatever the event, Lambda gets a response to return."""
        request_id = getattr(context, "aws_request_id", None)
        # Per thread (a context variable), not per process: a local server runs several functions in one
        # process, one thread each, and each line must name its own request and service.
        keys: dict[str, str] = {"correlation_id": request_id} if isinstance(request_id, str) and request_id else {}
        service = self.environ().get(c.POWERTOOLS_SERVICE_NAME)
        if service:
            keys["service"] = service
        logger.thread_safe_append_keys(**keys)
        shape: PayloadFormat = "1.0" if isinstance(event, dict) and "httpMethod" in event else "2.0"
        # Extensions read which invocation serves the request (the tasks extension dispatches from it).
        invocation = current_invocation.set(Invocation(self, context))
        traced = False
        try:
            traced = self.traced()
            for handler in handlers(self.server):
                if handler.handles(event):
                    with self._trace(None, context, handler.trace_carrier(event)):
                        return handler.handle(self, event, context)  # an extension's own event, not HTTP
            try:
                request = parse_event(event)
            except EventFormatError as exc:
                logger.warning("Unsupported event", reason=str(exc))
                refusal = jsonrpc_error(400, INVALID_REQUEST, "Unsupported event", data={"reason": str(exc)})
                return to_lambda_response(refusal, shape)
            with self._trace(request, context) as span:
                response = self.handle(request, context)
                if span is not None:
                    tracing.record_response(span, response)
            return to_lambda_response(response, request.payload_format)
        except Exception:
            logger.exception("Unhandled error while serving an invocation")
            return to_lambda_response(jsonrpc_error(500, INTERNAL_ERROR, "Internal error"), shape)
        finally:
            current_invocation.reset(invocation)
            flush_metrics()
            if traced:
                tracing.flush()


SHUTDOWN_SECONDS = 0.4
"""How long the lifespan may take to close at SIGTERM: Lambda's shutdown phase lasts 500 ms when only internal
extensions are registered (2,000 ms with external ones), then the environment is killed."""


def _install_shutdown_hooks(runtime: McpLambdaRuntime) -> None:
    """Exit the lifespan when the environment shuts down.

    Lambda sends SIGTERM before ending an environment when an extension is registered; atexit covers
    an orderly interpreter exit (local servers, tests).
    """
    atexit.register(runtime.close)
    try:
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the relay below may deliver it a second time
            runtime.close(timeout=SHUTDOWN_SECONDS)
            if callable(previous):
                previous(signum, frame)
            if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
                # Under Lambda's runtime interface client a thread is blocked in a native call for the next event
                # (thread polling): SystemExit would wait for it forever, as the client's executor joins it on the
                # way out, until Lambda kills the environment. The lifespan is closed: end the process now.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:
        # Not the main thread (a local server's worker thread): atexit is enough there.
        return
    if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
        _wake_main_thread_on(signal.SIGTERM)


def _wake_main_thread_on(signum: int) -> None:
    """Make sure the main thread runs the handler of `signum`, whichever thread the kernel gives the signal to.

    A signal sent to a process goes to any thread that does not block it, and Python runs handlers only in the
    main thread, when it next runs Python code. Under Lambda's runtime interface client the main thread sleeps
    in a join of the thread polling for the next event: if another thread takes SIGTERM (the kernel's choice,
    likely right after Lambda thaws the environment to shut it down, when every thread runs again), nothing
    wakes the main thread and Lambda kills the environment with the lifespan open. Python's own C handler writes
    the signal's number to the wakeup file descriptor in whichever thread it runs; a daemon thread reading it
    sends the signal to the main thread itself, which interrupts its wait. Bytes meant for a wakeup descriptor
    set before this one are passed on to it.
    """
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    main = threading.main_thread().ident
    assert main is not None

    def relay(reader: socket.socket, writer: socket.socket) -> None:  # holds both: a collected socket closes
        while data := reader.recv(64):
            if previous != -1:
                try:
                    os.write(previous, data)
                except OSError:
                    pass
            if signum in data:
                signal.pthread_kill(main, signum)

    threading.Thread(target=relay, args=(reader, writer), name=f"wake-main-on-{signal.Signals(signum).name}",
                     daemon=True).start()
