"""The Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) through the SDK's extension mechanism.

    tasks = Tasks()
    mcp = new_server("reports", extensions=[tasks])        # advertised under capabilities.extensions

    @tasks.tool(mcp)                                       # may run as a task; support="required": only so
    async def build_report(seconds: int, ctx: Context) -> str: ...

What the extension contributes, and how:
- `tasks/get`, `tasks/update`, `tasks/cancel` (`methods()`): served from the store only, so any execution
  environment answers for any task. Clients that did not declare the extension on the request get
  -32021; `Mcp-Name` must carry the task id (-32020 otherwise). `tasks/result` and `tasks/list` (removed by
  SEP-2663) stay unregistered: -32601.
- a `tools/call` interceptor: a task tool called by a client that declared the extension becomes a task.
  The tool is registered through a thin wrapper; when the SDK reaches the tool body (arguments valid, every
  `Resolve(...)` parameter answered), the wrapper hands over to the interceptor instead of running it. The
  interceptor stores the task, starts its worker (runner.py) and answers `CreateTaskResult` at once. So
  input gathered with `Resolve` parameters is asked synchronously before the task exists (SEP-2663: MRTR
  exchanges resolve before `CreateTaskResult`), while an `InputRequiredResult` returned by the body itself
  parks the running task in `input_required` until `tasks/update` answers it.
- in the worker (worker.py), the same `tools/call` is replayed through the SDK with the task's stored
  answers and `requestState` restored onto the call, and the body runs.

Clients that did not declare the extension get the tool's result synchronously (an `optional` tool) or
-32021 (a `required` tool), as do clients on handshake-era revisions, where the extension does not exist.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import MCPServer, require_client_extension
from mcp.server.request_state import authenticated_principal
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import decode_header_value
from mcp_types import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    InputResponse,
    InputResponses,
    RequestParams,
)
from mcp_types.methods import is_input_required
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter, ValidationError

from mcp_lambda.invocation import Invocation, current_invocation, handlers, register
from mcp_lambda.observability import logger
from mcp_lambda.placement import tool_function_call, tool_functions
from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda.tasks.lifecycle import TaskLifecycle, failed
from mcp_lambda.tasks.local import LocalTaskRunner
from mcp_lambda.tasks.metrics import TaskMetrics
from mcp_lambda.tasks.record import TaskRecord, create_task_result, detailed_task
from mcp_lambda.tasks.runner import LambdaTaskRunner, TaskRunner, is_task_event, task_event
from mcp_lambda.tasks.store import MemoryTaskStore, TaskStore

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
TaskSupport = Literal["optional", "required"]
F = TypeVar("F", bound=Callable[..., Any])

_RESPONSE = TypeAdapter(InputResponse)
_RESPONSES = TypeAdapter(InputResponses)
_NOT_FOUND = "Failed to retrieve task: Task not found"


@dataclass
class Replay:
    """A worker's run of a task, visible to the interceptor while the SDK serves the replayed call."""

    record: TaskRecord
    request_state: str | None = None
    """Set when the run ends in `InputRequiredResult`: the tool's own (unsealed) `requestState`."""


replaying: ContextVar[Replay | None] = ContextVar("mcp_lambda_task_replay", default=None)
_deferring: ContextVar[bool] = ContextVar("mcp_lambda_task_defer", default=False)


def deferring() -> bool:
    """Whether the interceptor is making a task of the current call: a task tool's body is not to run now (a
    placed tool's wrapper, mcp_lambda.placement, then forwards nothing either)."""
    return _deferring.get()


class _Deferred(MCPError):
    """Raised by a task tool's wrapper instead of running its body: the interceptor makes a task of it.
    An `MCPError`, because the SDK lets those through a tool run unchanged."""

    def __init__(self) -> None:
        super().__init__(code=INTERNAL_ERROR, message="deferred to a task")


class TaskRef(RequestParams):
    task_id: str


class TaskUpdate(TaskRef):
    input_responses: dict[str, Any]
    """Checked only for keys still outstanding: answers to anything else are ignored, as SEP-2663 asks."""


class Tasks(Extension):
    identifier = TASKS_EXTENSION

    def __init__(self, config: TaskConfig | None = None, store: TaskStore | None = None,
                 runner: TaskRunner | None = None) -> None:
        self._config = config
        self._store = store
        self._lifecycle: TaskLifecycle | None = None
        self._runner = runner
        self._runner_owner: Any = None
        self._support: dict[str, TaskSupport] = {}
        self._service = "mcp"  # the server's name once a task tool is registered: the metrics' `service`
        self._lock = threading.Lock()
        self._warned = False

    # -- configuration, read on first use -------------------------------------------------------------------

    @property
    def config(self) -> TaskConfig:
        if self._config is None:
            self._config = TaskConfig.from_env()
        return self._config

    @property
    def lifecycle(self) -> TaskLifecycle:
        with self._lock:
            if self._lifecycle is None:
                self._lifecycle = TaskLifecycle(self._store or _store_for(self.config), self.config,
                                                metrics=TaskMetrics(self._service))
            return self._lifecycle

    def _usable(self, invocation: Invocation | None) -> bool:
        if invocation is not None and self.config.available:
            return True
        if not self._warned:
            self._warned = True
            logger.warning("Tasks are unavailable: on Lambda they need MCP_TASKS_TABLE, and they run only under "
                           "McpLambdaRuntime; task tools answer synchronously")
        return False

    @classmethod
    def of(cls, server: MCPServer[Any]) -> Tasks | None:
        """The Tasks extension whose tools `server` has (None for servers without task tools)."""
        return next((h for h in handlers(server) if isinstance(h, Tasks)), None)

    @property
    def task_tools(self) -> frozenset[str]:
        """The names of the tools registered through this extension (those that may run as tasks)."""
        return frozenset(self._support)

    # -- registration ------------------------------------------------------------------------------------

    def tool(self, server: MCPServer[Any], *, support: TaskSupport = "optional", **tool_kwargs: Any) -> Callable[[F], F]:
        """Register a tool on `server` (as `server.add_tool`, same keyword arguments) that may run as a task.

        `optional`: a task for clients that declared the extension, a synchronous result for the others.
        `required`: only as a task; other clients get -32021 naming the extension.
        """
        # MCPServer fixes its extensions at construction; without this one its tools/call is not intercepted.
        if self not in getattr(server, "_extensions", (self,)):
            raise ValueError("pass this Tasks to the server first: new_server(..., extensions=[tasks])")

        def add(fn: F) -> F:
            server.add_tool(_run_or_defer(fn), **tool_kwargs)
            self._support[tool_kwargs.get("name") or fn.__name__] = support
            self._service = server.name
            register(server, self)  # the runtime hands task events of this server's functions to `handle`
            return fn

        return add

    def methods(self) -> Sequence[MethodBinding]:
        versions = frozenset(MODERN_PROTOCOL_VERSIONS)
        return (
            MethodBinding("tasks/get", TaskRef, self._get, versions),
            MethodBinding("tasks/update", TaskUpdate, self._update, versions),
            MethodBinding("tasks/cancel", TaskRef, self._cancel, versions),
        )

    # -- tools/call --------------------------------------------------------------------------------------

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        support = self._support.get(params.name)
        if support is None or tool_function_call.get():
            # A call a placed tool's front forwarded runs here as it is: the front decided whether it is a task.
            return await call_next(ctx)
        replay = replaying.get()
        if replay is not None:
            return await self._replayed(replay, params, ctx, call_next)
        invocation = current_invocation.get()
        if not self._usable(invocation):
            if support == "required":
                raise MCPError(code=INTERNAL_ERROR, message=f"{params.name} runs only as a task, and this "
                               "server cannot run tasks (MCP_TASKS_TABLE is not configured)")
            return await call_next(ctx)
        if not _declared(ctx):
            if support == "required":
                require_client_extension(ctx, TASKS_EXTENSION)
            return await call_next(ctx)
        assert invocation is not None
        deferring = _deferring.set(True)
        try:
            return await call_next(ctx)
        except _Deferred:
            return await self._create(params, ctx, invocation)
        finally:
            _deferring.reset(deferring)

    async def _replayed(self, replay: Replay, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any],
                        call_next: CallNext) -> HandlerResult:
        # The stored answers and plaintext state go onto the very params object the SDK hands the tool (the
        # interceptor contract: "what the wrapped handler is invoked with"). The replayed request carries
        # no requestState, so the SDK's sealing boundary has nothing to check: the state never left the store.
        params.input_responses = _RESPONSES.validate_python(replay.record.responses) or None
        params.request_state = replay.record.request_state
        result = await call_next(ctx)
        if is_input_required(result):
            replay.request_state = result.get("requestState") if isinstance(result, dict) else result.request_state
        return result

    async def _create(self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any],
                      invocation: Invocation) -> dict[str, Any]:
        config, now = self.config, time.time()
        token = get_access_token()
        request = ctx.request
        record = TaskRecord(
            task_id=str(uuid.uuid4()),  # 122 random bits: task ids are unguessable (SEP-2663 security)
            tool=params.name,
            arguments=params.arguments or {},
            meta={k: v for k, v in ((ctx.params or {}).get("_meta") or {}).items() if k != "progressToken"},
            headers={k: v for k, v in request.headers.items() if k.startswith("mcp-param-")} if request else {},
            owner=authenticated_principal(ctx),
            caller=token.model_dump(mode="json", exclude={"token"}) if token is not None else None,
            created_at=now,
            ttl_ms=config.ttl_seconds * 1000,
            poll_interval_ms=config.poll_interval_ms,
            lease_until=now + config.start_timeout_seconds,
            responses=_RESPONSES.dump_python(params.input_responses or {}, mode="json", by_alias=True,
                                             exclude_none=True),
            request_state=params.request_state,
        )
        # Durable before it is announced: a tasks/get right after CreateTaskResult must find it.
        await anyio.to_thread.run_sync(self.lifecycle.create, record)
        return create_task_result(await self._dispatch(record, invocation))

    async def _dispatch(self, record: TaskRecord, invocation: Invocation) -> TaskRecord:
        """Start the worker for the record's current run; a task whose worker cannot start is failed now."""
        try:
            runner = self._runner_for(invocation)
            # A placed tool's task runs on its own function (its role, database user and timeout), not the front's.
            function = tool_functions(invocation.runtime.environ()).get(record.tool)
            await anyio.to_thread.run_sync(runner.dispatch, task_event(record.task_id, record.run), invocation,
                                           function)
            return record
        except Exception as exc:
            logger.exception("Could not start a task's worker", task_id=record.task_id)
            give_up = failed(INTERNAL_ERROR, f"The task's worker could not be started ({type(exc).__name__})")

            def decide(current: TaskRecord) -> bool:
                if current.status != "working" or current.run != record.run or current.worker is not None:
                    return False
                give_up(current)
                return True

            current, _ = await anyio.to_thread.run_sync(self.lifecycle.change, record.task_id, decide)
            return current or record

    def _runner_for(self, invocation: Invocation) -> TaskRunner:
        with self._lock:
            if self._runner is None:
                if self.config.on_lambda:
                    self._runner = LambdaTaskRunner(self.config)
                else:
                    runtime = invocation.runtime
                    self._runner = LocalTaskRunner(runtime.new_environment)
                    self._runner_owner = runtime
            return self._runner

    # -- the events that run tasks (mcp_lambda.invocation.EventHandler) ---------------------------------

    def handles(self, event: Any) -> bool:
        return is_task_event(event)

    def handle(self, runtime: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """An asynchronous invocation continuing a task, not an HTTP request: run it (worker.py)."""
        from mcp_lambda.tasks.worker import run_task_event

        return run_task_event(runtime, event, context)

    def trace_carrier(self, event: Any) -> None:
        """A task event continues no trace: it outlives the request that created the task."""
        return None

    def release(self, runtime: Any) -> None:
        """`runtime` is closing: stop the local workers it started (their environments close with them)."""
        with self._lock:
            if self._runner_owner is not runtime or self._runner is None:
                return
            runner, self._runner, self._runner_owner = self._runner, None, None
        runner.close()

    # -- tasks/* -----------------------------------------------------------------------------------------

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskRef) -> dict[str, Any]:
        return detailed_task(await self._owned(ctx, params.task_id, self.lifecycle.get))

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: TaskUpdate) -> dict[str, Any]:
        record = await self._owned(ctx, params.task_id, self.lifecycle.store.get)
        answers: dict[str, Any] = {}
        for key, value in params.input_responses.items():
            if key in record.pending:
                try:
                    answers[key] = _RESPONSE.dump_python(_RESPONSE.validate_python(value), mode="json",
                                                         by_alias=True, exclude_none=True)
                except ValidationError:
                    raise MCPError(code=INVALID_PARAMS, message=f"inputResponses[{key!r}] is not a valid response "
                                   f"to {record.pending[key].request.get('method')}") from None
        record, resumed = await anyio.to_thread.run_sync(self.lifecycle.answer, params.task_id, answers)
        invocation = current_invocation.get()
        if resumed and record is not None and invocation is not None:
            await self._dispatch(record, invocation)
        return {}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskRef) -> dict[str, Any]:
        await self._owned(ctx, params.task_id, self.lifecycle.store.get)
        await anyio.to_thread.run_sync(self.lifecycle.cancel, params.task_id)
        return {}

    async def _owned(self, ctx: ServerRequestContext[Any, Any], task_id: str,
                     read: Callable[[str], TaskRecord | None]) -> TaskRecord:
        """The task, after the checks every tasks/* request passes: routing header, declared extension,
        and ownership (another caller's task reads as unknown, so task ids leak nothing)."""
        request = ctx.request
        if request is not None and decode_header_value(request.headers.get("mcp-name")) != task_id:
            raise MCPError(code=HEADER_MISMATCH, message="Mcp-Name header does not match the request body's 'taskId'")
        require_client_extension(ctx, TASKS_EXTENSION)
        record = await anyio.to_thread.run_sync(read, task_id) if self.config.available else None
        if record is None or record.owner != authenticated_principal(ctx):
            raise MCPError(code=INVALID_PARAMS, message=_NOT_FOUND)
        return record


def _declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and TASKS_EXTENSION in capabilities.extensions)


def _run_or_defer(fn: F) -> F:
    """`fn` as registered with the SDK: its body runs, unless the interceptor is about to make a task of
    the call, in which case it raises `_Deferred` (the SDK has validated the arguments and answered every
    `Resolve` parameter by then). Same signature and sync/async kind, so the SDK sees the tool unchanged."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            if _deferring.get():
                raise _Deferred()
            return await fn(*args, **kwargs)

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if _deferring.get():
            raise _Deferred()
        return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


def _store_for(config: TaskConfig) -> TaskStore:
    """DynamoDB where a table is configured (boto3 is imported only then), else memory (local serving)."""
    if config.table:
        from mcp_lambda.tasks.dynamodb import DynamoDBTaskStore

        return DynamoDBTaskStore(config.table)
    return MemoryTaskStore()
