"""Tools on functions of their own behind one endpoint: the front forwards, the tool function runs.

A server may place a tool (or several) on a Lambda function of its own (`ServerSpec.placements`): its own role
and database user, memory and timeout. The server's own function, the front, still serves the protocol from the
server's definition: initialize, discovery, `tools/list`, sign-in and argument validation stay the SDK's and the
runtime's, unchanged. Only the tool's body is different there: a placed tool's `fn` is wrapped (`install`), and
when the SDK reaches it in the front (arguments valid, every resolver answered) the wrapper forwards the call by
a synchronous Lambda invoke (`RequestResponse`) to the tool's function:

    {"mcp_tool_call": {"tool", "id", "params", "headers", "source_ip", "caller"}}

`params` are the call's own (the arguments that passed validation, `_meta` with the front's W3C trace context
when it traces, the answers and state of an input-required round), `caller` the verified caller's claims
(never the token). The tool function (same bundle, same handler) recognises the event (an `EventHandler`,
as the tasks extension registers one), replays the `tools/call` through its own SDK app in its own execution
environment (its lifespan: its own database connection as its own user) and answers the JSON-RPC result or
error, which the front returns unchanged: the same content, structured output and errors as if the tool had
run in the front. A tool function refuses every other event (calls of tools not its own; an HTTP request, with
an HTTP 403); on AWS only the front's role may invoke it.

A tool function that is throttled, times out or fails is a tool error (`isError`) that says which, never a
broken reply. Locally (`mcp-lambda serve`, tests) the tool functions are local functions of their own
(`register_local`), invoked through the same `invoke` call as on AWS.

Where a tool runs is read per execution environment (`MCP_TOOL_FUNCTIONS` on the front,
`MCP_TOOL_FUNCTION_TOOLS` on a tool function), so one server object serves both roles in one process.
"""

from __future__ import annotations

import functools
import io
import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST, CallToolResult, InputRequiredResult, InputResponses, ServerNotification
from pydantic import TypeAdapter, ValidationError

from mcp_lambda import contract as c
from mcp_lambda.invocation import current_invocation, register
from mcp_lambda.observability import logger
from mcp_lambda.tasks.runner import is_task_event

CONTEXT_KWARG = "_mcp_lambda_placement_ctx"
"""The keyword a placed tool without a context parameter gets its context under (the wrapper needs the request)."""
REPLY_RESERVE_SECONDS = 1.0
"""Kept back from the front's remaining time, so a tool function that does not answer in time is still a tool
error the front can send, not a front that timed out."""
MAX_WAIT_SECONDS = 905.0
"""Lambda's longest timeout, and a margin: the longest a synchronous invoke can wait."""
HOST = "tool-call.invalid"
_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "content-length", "host"})
_RESPONSES = TypeAdapter(InputResponses)
_NOTIFICATION: TypeAdapter[ServerNotification] = TypeAdapter(ServerNotification)

tool_function_call: ContextVar[bool] = ContextVar("mcp_lambda_tool_function_call", default=False)
"""Set while a tool function serves a call its front forwarded: the front counts the call (metrics) once."""


# -- which environment runs what ------------------------------------------------------------------------------


def _environ() -> Mapping[str, str]:
    invocation = current_invocation.get()
    environ = getattr(invocation.runtime, "environ", None) if invocation is not None else None
    if environ is not None:
        return environ()
    import os

    return os.environ


def tool_functions(environ: Mapping[str, str]) -> dict[str, str]:
    """The front's placed tools and the functions running them (`MCP_TOOL_FUNCTIONS`); {} when none."""
    raw = environ.get(c.MCP_TOOL_FUNCTIONS)
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{c.MCP_TOOL_FUNCTIONS} is a JSON object of tool name to function, got {raw!r}")
    return value


def own_tools(environ: Mapping[str, str]) -> frozenset[str] | None:
    """A tool function's tools (`MCP_TOOL_FUNCTION_TOOLS`); None for a function that is not a tool function."""
    raw = environ.get(c.MCP_TOOL_FUNCTION_TOOLS)
    return None if raw is None else frozenset(t.strip() for t in raw.split(",") if t.strip())


def runs_no_tool(server: Any, environ: Mapping[str, str]) -> bool:
    """Whether an environment runs none of `server`'s tools: a front whose every tool is placed elsewhere. Such an
    environment needs no warm database connection (`mcp_lambda.database.database_lifespan`)."""
    placed = tool_functions(environ)
    manager = getattr(server, "_tool_manager", None)
    if not placed or manager is None or own_tools(environ) is not None:
        return False
    return all(tool.name in placed for tool in manager.list_tools())


# -- installation --------------------------------------------------------------------------------------------


def install(server: MCPServer[Any], tools: Iterable[str]) -> None:
    """Make `tools` of `server` placeable (idempotent) and give its functions the tool-call events.

    Cheap and harmless where nothing is placed: each call reads its environment and, without a function for
    the tool, runs the body as before."""
    manager = server._tool_manager  # the SDK keeps the registered tools here; the Tool objects are what it calls
    for name in tools:
        tool = manager.get_tool(name)
        if tool is None:
            raise ValueError(f"{server.name} has no tool {name!r} to place")
        if getattr(tool.fn, "__mcp_lambda_placed__", False):
            continue
        tool.fn = _placed(tool.name, tool.fn, tool.is_async, tool.context_kwarg)
        tool.is_async = True
        if tool.context_kwarg is None:
            tool.context_kwarg = CONTEXT_KWARG
    register(server, _TOOL_CALLS)


def install_from(server: MCPServer[Any], environ: Mapping[str, str]) -> None:
    """`install` the tools an environment names: a front's placed tools, or a tool function's own."""
    tools = set(tool_functions(environ)) | set(own_tools(environ) or ())
    if tools:
        install(server, sorted(tools))


def _placed(name: str, inner: Callable[..., Any], is_async: bool, context_kwarg: str | None) -> Callable[..., Any]:
    """`inner` (a tool's body as the SDK registered it), forwarded to the tool's function where one is set."""

    @functools.wraps(inner)
    async def run(**kwargs: Any) -> Any:
        ctx = kwargs[context_kwarg or CONTEXT_KWARG]
        function = None if tool_function_call.get() or _deferring() else tool_functions(_environ()).get(name)
        if function is None:
            if context_kwarg is None:
                kwargs.pop(CONTEXT_KWARG)
            if is_async:
                return await inner(**kwargs)
            return await anyio.to_thread.run_sync(functools.partial(inner, **kwargs))
        return await forward(function, name, ctx)

    run.__mcp_lambda_placed__ = True  # type: ignore[attr-defined]
    return run


def _deferring() -> bool:
    """The tasks extension is about to make a task of this call: its interceptor runs the body, not a function."""
    tasks = sys.modules.get("mcp_lambda.tasks.extension")
    return bool(tasks is not None and tasks.deferring())


# -- the front: forward ---------------------------------------------------------------------------------------


def tool_call_event(name: str, ctx: Any) -> dict[str, Any]:
    """The event that carries a call to its tool function (see the module's docstring)."""
    request_context = ctx.request_context
    request = request_context.request
    params = dict(request_context.params or {})
    if ctx.input_responses:
        params["inputResponses"] = _RESPONSES.dump_python(ctx.input_responses, mode="json", by_alias=True,
                                                          exclude_none=True)
    if ctx.request_state is not None:
        params["requestState"] = ctx.request_state
    trace = _trace_context()
    if trace:
        params["_meta"] = {**(params.get("_meta") or {}), **trace}
    headers = [(k, v) for k, v in request.headers.items() if k not in _HIDDEN_HEADERS] if request is not None else []
    client = request.scope.get("client") if request is not None else None
    token = get_access_token()
    return {c.TOOL_CALL_EVENT_KEY: {
        "tool": name,
        "id": request_context.request_id,
        "params": params,
        "headers": headers,
        "source_ip": client[0] if client else None,
        "caller": token.model_dump(mode="json", exclude={"token"}) if token is not None else None,
    }}


def _trace_context() -> dict[str, str]:
    """The current span's W3C context (`traceparent`, `tracestate`), when this environment traces."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


async def forward(function: str, name: str, ctx: Any) -> CallToolResult | InputRequiredResult:
    """Run the call on `function` and return its result as the SDK returns a tool's; its JSON-RPC error is raised
    as the same `MCPError`. A function that cannot answer is a `ToolError` saying why."""
    payload = json.dumps(tool_call_event(name, ctx)).encode()
    wait = _time_left()
    try:
        with anyio.fail_after(wait):
            response = await anyio.to_thread.run_sync(
                functools.partial(_client(function).invoke, FunctionName=function,
                                  InvocationType="RequestResponse", Payload=payload),
                abandon_on_cancel=True)
    except TimeoutError:
        raise ToolError(_TIMED_OUT) from None
    except Exception as exc:
        raise ToolError(_invoke_failure(function, exc)) from exc
    answer = _reply(function, response)
    await _send_on(ctx, answer.get("notifications"))
    return _result(answer)


async def _send_on(ctx: Any, notifications: Any) -> None:
    """Send the tool function's notifications on, in order, before the call's result, through the calls the
    tool itself would have made here (progress against this call's token, log messages under this request's
    level): the client's reply is the one the tool would have made in the front. Any other notification is
    sent as it came."""
    if not isinstance(notifications, list):
        return
    session = ctx.request_context.session
    for message in notifications:
        method = message.get("method") if isinstance(message, dict) else None
        params = message.get("params") if isinstance(message, dict) else None
        params = params if isinstance(params, dict) else {}
        if method == "notifications/progress":
            await ctx.report_progress(params.get("progress"), params.get("total"), params.get("message"))
        elif method == "notifications/message":
            await session.send_log_message(level=params.get("level"), data=params.get("data"),
                                           logger=params.get("logger"), related_request_id=ctx.request_id)
        else:
            try:
                notification = _NOTIFICATION.validate_python({"method": method, "params": params})
            except ValidationError:
                logger.warning("A tool function's message was not a notification; dropped", method=str(method))
                continue
            await session.send_notification(notification, related_request_id=ctx.request_id)


_TIMED_OUT = "its function timed out before it answered; the tool may or may not have run"


def _time_left() -> float:
    invocation = current_invocation.get()
    remaining = getattr(invocation.context, "get_remaining_time_in_millis", None) if invocation is not None else None
    if remaining is None:
        return MAX_WAIT_SECONDS
    return max(0.0, min(MAX_WAIT_SECONDS, remaining() / 1000 - REPLY_RESERVE_SECONDS))


def _invoke_failure(function: str, exc: Exception) -> str:
    """What a failed Invoke means to the caller (logged with its details, which stay here)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    if code in ("TooManyRequestsException", "ThrottlingException"):
        logger.warning("Tool function throttled", function=function)
        return "its function is throttled (TooManyRequestsException): too many calls at once; nothing ran, retry shortly"
    if type(exc).__name__ in ("ReadTimeoutError", "ConnectTimeoutError"):
        logger.warning("Tool function did not answer in time", function=function)
        return _TIMED_OUT
    logger.error("Tool function could not be invoked", function=function, code=code, error=type(exc).__name__)
    return f"its function could not be invoked ({code or type(exc).__name__}); nothing ran"


def _reply(function: str, response: Mapping[str, Any]) -> dict[str, Any]:
    """The tool function's answer, or the `ToolError` that says why there is none."""
    body = response.get("Payload")
    raw = body.read() if hasattr(body, "read") else body or b""
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    if response.get("FunctionError"):
        kind = answer.get("errorType") if isinstance(answer, dict) else None
        message = str(answer.get("errorMessage", "")) if isinstance(answer, dict) else ""
        logger.error("Tool function failed", function=function, error_type=kind)
        if kind == "Sandbox.Timedout" or "Task timed out" in message:
            raise ToolError(_TIMED_OUT)
        raise ToolError(f"its function failed ({kind or 'Unhandled'}); the tool may or may not have run")
    if not isinstance(answer, dict):
        logger.error("Tool function answered no tool-call reply", function=function)
        raise ToolError("its function answered something other than a tool call's reply")
    if "refused" in answer:
        logger.error("Tool function refused the call", function=function, reason=answer["refused"])
        raise ToolError(f"its function refused the call: {answer['refused']}")
    return answer


def _result(answer: Mapping[str, Any]) -> CallToolResult | InputRequiredResult:
    """The call's result as the SDK returns a tool's; its JSON-RPC error raised as the same `MCPError`."""
    if isinstance(answer.get("error"), dict):
        error = answer["error"]
        raise MCPError(code=error.get("code", INTERNAL_ERROR), message=error.get("message", "Internal error"),
                       data=error.get("data"))
    result = answer.get("result")
    if not isinstance(result, dict):
        raise ToolError("its function answered something other than a tool call's reply")
    if result.get("resultType") == "input_required":
        return InputRequiredResult.model_validate(result)
    return CallToolResult.model_validate(result)


# -- who is invoked: Lambda, or a local function --------------------------------------------------------------

_local: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
_lambda: Any = None
_lock = threading.Lock()


def register_local(function: str, invoke: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Serve `function` in this process (a local function's `invoke`): the local server's tool functions."""
    _local[function] = invoke


def unregister_local(function: str) -> None:
    _local.pop(function, None)


def invoke_local_async(function: str, event: dict[str, Any]) -> None:
    """Lambda's asynchronous invoke (`Event`) of a local function: queued to it, not waited for (a placed task
    tool's task, which runs on its tool function). Raises if there is no such function."""
    invoke = _local.get(function)
    if invoke is None:
        raise RuntimeError(f"no local function {function!r}")
    threading.Thread(target=invoke, args=(json.loads(json.dumps(event)),), name=f"event-{function}", daemon=True).start()


class LocalLambda:
    """Lambda's `invoke` (`RequestResponse`) for a function of this process: the event and the answer cross as
    JSON, as they cross Lambda. A local function never raises: its runtime answers every event."""

    def __init__(self, invoke: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self._invoke = invoke

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        answer = self._invoke(json.loads(Payload))
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode()), "ExecutedVersion": "$LATEST"}


def _client(function: str) -> Any:
    local = _local.get(function)
    if local is not None:
        return LocalLambda(local)
    global _lambda
    with _lock:
        if _lambda is None:
            import boto3  # in the Lambda runtime
            from botocore.config import Config

            # No retry: a throttled call is the caller's to retry (it is told so), and a timed-out one may have run.
            _lambda = boto3.client("lambda", config=Config(connect_timeout=5, read_timeout=MAX_WAIT_SECONDS,
                                                           retries={"total_max_attempts": 1}))
        return _lambda


# -- the tool function: run ---------------------------------------------------------------------------------


def is_tool_call_event(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get(c.TOOL_CALL_EVENT_KEY), dict)


class ToolCalls:
    """The tool-call events of a server's functions (`mcp_lambda.invocation.EventHandler`). In a tool function
    it takes every event, and refuses all but calls of its own tools."""

    def handles(self, event: Any) -> bool:
        # A placed task tool's task events are the tasks extension's (its tool function runs them), no one else's.
        return is_tool_call_event(event) or (own_tools(_environ()) is not None and not is_task_event(event))

    def handle(self, runtime: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
        tools = own_tools(runtime.environ())
        call = event.get(c.TOOL_CALL_EVENT_KEY) if isinstance(event, dict) else None
        if tools is None or not isinstance(call, dict) or call.get("tool") not in tools:
            reason = ("this function runs no placed tool" if tools is None else
                      "this function runs only calls of its tools, forwarded by its front")
            logger.warning("Event refused by a tool function", reason=reason)
            return _refusal(event, reason)
        return run_tool_call(runtime, call)

    def release(self, runtime: Any) -> None:
        pass

    def trace_carrier(self, event: Any) -> Mapping[str, Any] | None:
        """The front's trace context, which the call carries in its `_meta`: the tool function's invocation
        continues the front's trace, as a child of the front's span of the call."""
        call = event.get(c.TOOL_CALL_EVENT_KEY) if isinstance(event, dict) else None
        params = call.get("params") if isinstance(call, dict) else None
        meta = params.get("_meta") if isinstance(params, dict) else None
        return meta if isinstance(meta, dict) else None


_TOOL_CALLS = ToolCalls()


def _refusal(event: Any, reason: str) -> dict[str, Any]:
    """What a tool function answers an event that is not its front's call: an HTTP event (a URL or API wired to it
    by mistake) gets an HTTP 403 with a JSON-RPC error, as the runtime's own refusals read; anything else the
    `refused` answer its front reports."""
    from mcp_lambda.events import EventFormatError, jsonrpc_error, parse_event, to_lambda_response

    try:
        request = parse_event(event)
    except EventFormatError:
        return {"refused": reason}
    return to_lambda_response(jsonrpc_error(403, INVALID_REQUEST, f"Forbidden: {reason}"), request.payload_format)


def run_tool_call(runtime: Any, call: Mapping[str, Any]) -> dict[str, Any]:
    """Replay the forwarded `tools/call` through this environment's SDK app; its JSON-RPC result or error."""
    from mcp_lambda.asgi import Dispatch
    from mcp_lambda.events import HttpRequest
    from mcp_lambda.replies import messages

    params = dict(call.get("params") or {})
    trace = _trace_context()
    if trace:  # the tool function's own span of the call: a child of its invocation's, not a sibling
        params["_meta"] = {**(params.get("_meta") or {}), **trace}
    body = {"jsonrpc": "2.0", "id": call.get("id"), "method": "tools/call", "params": params}
    headers = [(str(k), str(v)) for k, v in call.get("headers") or () if str(k).lower() not in _HIDDEN_HEADERS]
    headers.append(("host", HOST))
    path = runtime.settings.mcp_path
    request = HttpRequest("POST", path, "", headers, json.dumps(body).encode(), call.get("source_ip") or "",
                          HOST, str(call.get("id")), "2.0")
    caller = call.get("caller")
    user = AuthenticatedUser(AccessToken(token="", **caller)) if isinstance(caller, dict) else None
    marker = tool_function_call.set(True)
    try:
        response = runtime.serve_in_environment(Dispatch(request, path, user))
    except Exception:
        logger.exception("A tool function could not serve a call")
        return {"error": {"code": INTERNAL_ERROR, "message": "Service unavailable: the tool's function could not "
                          "start, retry"}}
    finally:
        tool_function_call.reset(marker)
    *sent, final = messages(response) or [b""]
    try:
        message = json.loads(final)
    except ValueError:
        message = None
    if not isinstance(message, dict) or not ("result" in message or isinstance(message.get("error"), dict)):
        logger.error("A replayed tool call answered no JSON-RPC message", status=response.status)
        return {"error": {"code": INTERNAL_ERROR, "message": "Internal error"}}
    answer = {"result": message["result"]} if "result" in message else {"error": message["error"]}
    if sent:  # the call's notifications, in the order they were sent: the front sends them on
        answer["notifications"] = [json.loads(notification) for notification in sent]
    return answer
