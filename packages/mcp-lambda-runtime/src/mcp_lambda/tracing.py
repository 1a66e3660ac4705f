"""Traces: one per invocation, joined to the client's trace and linked to Lambda's own (`MCP_TRACING=otlp`).

The spans of one invocation::

    POST /mcp                    SERVER    the invocation (this module): parent the client's `traceparent`
    │                                      header, else the W3C context in the request's `params._meta`; a
    │                                      link to Lambda's X-Ray trace; HTTP and FaaS attributes; the
    │                                      JSON-RPC error code of a refusal the runtime answered itself
    ├─ sign-in                   INTERNAL  servers with an access policy: who asked, why they were refused
    └─ tools/call get_weather    SERVER    the SDK's own span (mcp/server/_otel.py)
       └─ INSERT mcp             CLIENT    each database statement (database.py)

Why on the SDK's span: the SDK already wraps every request it serves in a span that follows OpenTelemetry's
semantic conventions for MCP (method, tool, protocol version, request id, JSON-RPC error code or
`tool_error`), parented by the trace context in `params._meta` as the conventions ask. The runtime adds what
only it knows: the invocation around the request (HTTP, sign-in, the refusals the SDK never sees, Lambda's
trace), the transport attributes and, for an MCP span parented by `_meta`, the link to the invocation that
carried it (the conventions: link the ambient context), and the database statements.

Lambda's trace: with active tracing Lambda records its own X-Ray trace, whose id it passes in
`_X_AMZN_TRACE_ID` (or, behind API Gateway, the `X-Amzn-Trace-Id` header). The AWS Lambda conventions ask
for a link to it (attribute `source`), not a parent, so the spans stay in the client's trace.

Cost: this module uses the OpenTelemetry API only, which the SDK imports anyway. With tracing off the runtime
starts no invocation span, so `span()` finds nothing recording and returns at once, and the SDK behind the
exporter (`tracing_export.py`) is never imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared._otel import extract_trace_context
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from opentelemetry.trace import Link, Span, SpanKind, StatusCode

from mcp_lambda import __version__
from mcp_lambda.events import HttpRequest, HttpResponse

XRAY_ENV = "_X_AMZN_TRACE_ID"
XRAY_HEADER = "x-amzn-trace-id"
FLUSH_TIMEOUT_MILLIS = 2000
_ERROR_BODY_LIMIT = 64 * 1024
# The MCP conventions' transport attributes: every request reaches the function over HTTP, so over TCP.
_TRANSPORT = {"network.transport": "tcp", "network.protocol.name": "http"}

tracer = trace.get_tracer("mcp_lambda", __version__)
_invocation_span: ContextVar[Span | None] = ContextVar("mcp_lambda_invocation_span", default=None)


def recording() -> bool:
    """Whether the current span is recorded: false with tracing off (no invocation span) or not sampled."""
    return trace.get_current_span().is_recording()


def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None) -> AbstractContextManager[Span | None]:
    """A child of the current span, or nothing (`None`) when the current span is not recorded.

    Exceptions are neither recorded nor turned into a status here: their messages can carry what a trace must
    not (a statement's values, a token); the caller sets `error.type` and the status itself.
    """
    if not recording():
        return nullcontext()
    return tracer.start_as_current_span(name, kind=kind, attributes=attributes, record_exception=False,
                                        set_status_on_exception=False)


@contextmanager
def invocation(request: HttpRequest | None, context: Any, environ: Mapping[str, str], *, mcp_path: str,
               max_body: int, cold: bool, carrier: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """The span of one invocation: `request`, or an event that is not HTTP (None, an extension's own), whose
    parent is the W3C context in `carrier` when it has one (a placed tool's call: the front's span)."""
    attributes: dict[str, Any] = {"faas.trigger": "http" if request is not None else "other", "faas.coldstart": cold}
    invocation_id = getattr(context, "aws_request_id", None)
    if isinstance(invocation_id, str):
        attributes["faas.invocation_id"] = invocation_id
    arn = getattr(context, "invoked_function_arn", None)
    if isinstance(arn, str) and arn.count(":") >= 6:
        attributes["cloud.resource_id"] = arn
        attributes["cloud.account.id"] = arn.split(":")[4]
    parent: Context | None = None
    if request is not None:
        route = mcp_path if request.path.rstrip("/") in ("", mcp_path.rstrip("/")) else None
        name = f"{request.method} {route}" if route else request.method
        attributes.update({"http.request.method": request.method, "url.path": request.path, "url.scheme": "https",
                           "server.address": request.header("host") or request.domain_name,
                           "client.address": request.source_ip, "network.protocol.name": "http"})
        if route:
            attributes["http.route"] = route
        agent = request.header("user-agent")
        if agent:
            attributes["user_agent.original"] = agent
        parent = client_context(request, max_body)
    else:
        name = getattr(context, "function_name", None) or environ.get("AWS_LAMBDA_FUNCTION_NAME") or "invocation"
        parent = extract_trace_context(dict(carrier)) if carrier else None
    with tracer.start_as_current_span(
        name, context=parent or Context(), kind=SpanKind.SERVER, attributes=attributes,
        links=xray_links(request, environ), record_exception=False, set_status_on_exception=False,
    ) as current:
        token = _invocation_span.set(current)
        try:
            yield current
        finally:
            _invocation_span.reset(token)


@contextmanager
def detached() -> Iterator[None]:
    """No span current, and no invocation: for a task that outlives the invocation that starts it (the
    lifespan, and the SDK's task group in it), which would otherwise carry that invocation's span for good."""
    token = otel_context.attach(Context())
    invocation_token = _invocation_span.set(None)
    try:
        yield
    finally:
        _invocation_span.reset(invocation_token)
        otel_context.detach(token)


def client_context(request: HttpRequest, max_body: int) -> Context | None:
    """The client's trace context: its W3C `traceparent` header, else that of the request's `params._meta`
    (read as the SDK reads it; a single request only, and only from a body the runtime would read at all)."""
    carrier = {name: value for name, value in request.headers if name in ("traceparent", "tracestate")}
    if "traceparent" in carrier:
        context = extract(carrier)
        if trace.get_current_span(context).get_span_context().is_valid:
            return context
    if len(request.body) > max_body:
        return None
    message = request.message()
    params = message.get("params") if isinstance(message, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    return extract_trace_context(meta) if isinstance(meta, dict) else None


def xray_links(request: HttpRequest | None, environ: Mapping[str, str]) -> list[Link]:
    """A link to Lambda's X-Ray trace (the environment's trace id, else the event's header), if there is one."""
    value, source = environ.get(XRAY_ENV), "x-ray-env"
    if not value and request is not None:
        value, source = request.header(XRAY_HEADER), "x-ray-header"
    if not value:
        return []
    from opentelemetry.propagators.aws import AwsXRayPropagator  # the tracing extra, installed when tracing is on

    linked = trace.get_current_span(AwsXRayPropagator().extract({"X-Amzn-Trace-Id": value})).get_span_context()
    return [Link(linked, {"source": source})] if linked.is_valid else []


def record_response(current: Span, response: HttpResponse) -> None:
    """The reply's HTTP status and, for an error the runtime answered itself (guards, sign-in, envelope), its
    JSON-RPC code: the SDK's span records the errors the SDK answers, and these never reach it."""
    current.set_attribute("http.response.status_code", response.status)
    if response.status < 400:
        return
    code, message = _jsonrpc_error(response)
    if code is not None:
        current.set_attributes({"rpc.response.status_code": str(code), "error.type": str(code)})
        current.set_status(StatusCode.ERROR, message)
    elif response.status >= 500:
        current.set_attribute("error.type", str(response.status))
        current.set_status(StatusCode.ERROR)


def _jsonrpc_error(response: HttpResponse) -> tuple[int | None, str | None]:
    if len(response.body) > _ERROR_BODY_LIMIT or not (response.header("content-type") or "").startswith(
            "application/json"):
        return None, None
    try:
        error = json.loads(response.body).get("error")
    except (ValueError, AttributeError):
        return None, None
    if isinstance(error, dict) and isinstance(error.get("code"), int):
        message = error.get("message")
        return error["code"], message if isinstance(message, str) else None
    return None, None


def record_sign_in(current: Span, *, signed_in: bool, refusal: HttpResponse | None, reason: str | None) -> None:
    """The sign-in check's outcome: who asked (signed in or anonymous) and, when refused, why (the reason code
    of the AUTH_FAILURE log line, never the token) and with which status."""
    current.set_attribute("mcp_lambda.sign_in.caller", "signed_in" if signed_in else "anonymous")
    if refusal is not None:
        current.set_attributes({"error.type": reason or "refused", "http.response.status_code": refusal.status})
        current.set_status(StatusCode.ERROR, reason)


def flush() -> None:
    """Send this invocation's spans now: Lambda freezes the environment once the handler returns."""
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush(FLUSH_TIMEOUT_MILLIS)


class InvocationLink:
    """Server middleware, inside the SDK's MCP span: the transport attributes, and, when `_meta` made the span
    a child of the client's span rather than of the invocation, a link to the invocation span (the ambient
    context, which the MCP conventions ask to link)."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        invocation_span = _invocation_span.get()
        current = trace.get_current_span()
        if invocation_span is not None and current is not invocation_span and current.is_recording():
            current.set_attributes(_TRANSPORT)
            linked = invocation_span.get_span_context()
            parent = getattr(current, "parent", None)  # the SDK's spans know their parent
            if parent is None or parent.span_id != linked.span_id:
                current.add_link(linked)
        return await call_next(ctx)
