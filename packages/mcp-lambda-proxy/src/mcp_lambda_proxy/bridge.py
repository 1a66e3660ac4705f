"""The bridge: JSON-RPC over stdio (the desktop client) <-> Streamable HTTP (the server), on the SDK.

    desktop client ─stdio─ stdio_server ─ JSONRPCDispatcher ─ Bridge ─ ClientSession ─ JSONRPCDispatcher
                                           (downstream)                (negotiation,    ─ streamable_http_client
                                                                        stamping)        ─ ProxyHttpClient ─▶ server

Both sides are the SDK's raw `JSONRPCDispatcher` (methods are strings, params and results dicts), so
every request, result, error and notification crosses unchanged, whatever its method: the proxy has
no list of methods it knows. The upstream `ClientSession` is used for what must follow the protocol
revision: negotiating it (`--protocol`) and stamping each request for it (the `MCP-Protocol-Version`
header; at 2026-07-28 the `_meta` envelope and the `Mcp-Method`/`Mcp-Name`/`Mcp-Param-*` headers).
Server-to-client traffic bypasses the session (it would drop methods it does not know): requests
(sampling, elicitation, roots, anything) go to the desktop client and their answers back, and
notifications (progress, log messages, list changes) are passed on.

Negotiation. The desktop client's `initialize` decides when: `legacy` sends it to the server as it
is (the client's own version, capabilities and identity) and returns the server's answer untouched;
`2026-07-28` probes `server/discover` and answers `initialize` from the discover result, in the
client's handshake revision; `auto` probes and falls back to the handshake exactly as the SDK's
client does. A desktop client that itself speaks 2026-07-28 (it sends `server/discover`) has its
probe forwarded as it is.

Translation, only for a handshake-era desktop client on a 2026-07-28 connection: `logging/setLevel`
becomes the per-request log-level opt-in; an `input_required` result is resolved by asking the
desktop client (elicitation, sampling, roots) and retrying with its answers, as the SDK's client
does; fields the client's revision does not define (`resultType`, `ttlMs`, `cacheScope`) are
removed; and client notifications are not sent (that revision has none over HTTP; cancellation is
the request's POST being aborted).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import UnionType
from typing import Any, get_args

import anyio
import anyio.abc
import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import DispatchContext, OnNotify, OnNotifyIntercept, OnRequest
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    LOG_LEVEL_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from mcp_types.methods import SERVER_RESULTS
from mcp_types.version import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    LATEST_MODERN_VERSION,
    MODERN_PROTOCOL_VERSIONS,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from mcp_lambda_proxy import PROG, __version__

log = logging.getLogger("mcp_lambda_proxy.bridge")

PROTOCOL_CHOICES = ("auto", "legacy", *MODERN_PROTOCOL_VERSIONS)
INPUT_REQUIRED_MAX_ROUNDS = 10
INITIALIZED_WAIT_SECONDS = 5.0
RELIST_PAGE_CAP = 100

_RAW: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_AnyRequest = types.Request[dict[str, Any] | None, str]
_AnyNotification = types.Notification[dict[str, Any] | None, str]


@cache
def _wire_fields(method: str, version: str) -> frozenset[str]:
    target = SERVER_RESULTS.get((method, version))
    if target is None:
        return frozenset()
    members = get_args(target) if isinstance(target, UnionType) else (target,)
    fields: set[str] = set()
    for model in members:
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields.update(field.alias or name for name, field in model.model_fields.items())
    return frozenset(fields)


def fields_unknown_to(method: str, version: str, modern: str = LATEST_MODERN_VERSION) -> frozenset[str]:
    """Result keys `modern` defines for `method` that `version` does not (none for unknown methods)."""
    older = _wire_fields(method, version)
    if not older:
        return frozenset()
    return _wire_fields(method, modern) - older


async def _not_used(*_args: Any) -> Any:  # pragma: no cover - only shapes the session's capability ad
    raise MCPError(code=INTERNAL_ERROR, message="handled by the bridge")


class _Tap:
    """The upstream `Dispatcher` as the `ClientSession` sees it, with the bridge's own inbound handlers.

    The session drives `run()` with handlers that only understand the methods it knows; the bridge
    passes every server-to-client message on instead, so those are what the dispatcher gets.
    """

    def __init__(self, inner: JSONRPCDispatcher[Any], on_request: OnRequest, on_notify: OnNotify) -> None:
        self._inner = inner
        self._on_request = on_request
        self._on_notify = on_notify

    async def run(
        self,
        on_request: OnRequest,
        on_notify: OnNotify,
        on_notify_intercept: OnNotifyIntercept | None = None,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        await self._inner.run(self._on_request, self._on_notify, None, task_status=task_status)

    async def send_raw_request(self, method: str, params: Mapping[str, Any] | None, opts: Any = None) -> dict[str, Any]:
        return await self._inner.send_raw_request(method, params, opts)

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: Any = None) -> None:
        await self._inner.notify(method, params, opts)


@dataclass
class _Peer:
    """Who the desktop client said it is, for the upstream session."""

    client_info: types.Implementation
    capabilities: dict[str, Any]


class Bridge:
    """Serves one desktop client (the downstream dispatcher's handlers) over one upstream connection."""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        protocol: str,
        http_client: httpx2.AsyncClient,
        downstream: JSONRPCDispatcher[Any],
        task_group: anyio.abc.TaskGroup,
    ) -> None:
        if protocol not in PROTOCOL_CHOICES:
            raise ValueError(f"protocol must be one of {PROTOCOL_CHOICES}, not {protocol!r}")
        self.name = name
        self.url = url
        self.protocol = protocol
        self.http_client = http_client
        self.downstream = downstream
        self.task_group = task_group
        self.session: ClientSession | None = None
        self.era: str | None = None  # "legacy" or "modern": what the upstream connection speaks
        self.downstream_version: str | None = None  # the handshake revision agreed with the desktop client
        self.log_level: str | None = None
        self._negotiation = anyio.Lock()
        self._initialized_forwarded: anyio.Event | None = None
        self._sdk_sent_initialized = False
        self._closing = anyio.Event()
        self._closed = anyio.Event()

    # -- the upstream connection ---------------------------------------------------------------------

    async def _ensure_session(self, peer: _Peer | None) -> ClientSession:
        if self.session is None:
            peer = peer or _Peer(types.Implementation(name=PROG, version=__version__), {})
            self.session = await self.task_group.start(self._own_session, peer)
        return self.session

    async def _own_session(self, peer: _Peer, *, task_status: anyio.abc.TaskStatus[ClientSession]) -> None:
        """Hold the upstream transport and session; they are entered and left by this one task."""
        capabilities = peer.capabilities
        sampling = capabilities.get("sampling")
        try:
            async with streamable_http_client(self.url, http_client=self.http_client) as (read_stream, write_stream):
                inner = JSONRPCDispatcher(read_stream, write_stream, on_stream_exception=self._stream_exception)
                tap = _Tap(inner, self._from_server_request, self._from_server_notification)
                session = ClientSession(
                    dispatcher=tap,
                    client_info=peer.client_info,
                    sampling_callback=_not_used if sampling is not None else None,
                    sampling_capabilities=_model_or_none(types.SamplingCapability, sampling),
                    elicitation_callback=_not_used if "elicitation" in capabilities else None,
                    list_roots_callback=_not_used if "roots" in capabilities else None,
                )
                async with session:
                    task_status.started(session)
                    await self._closing.wait()
        finally:  # after the transport's exit, which ends a stateful server's session (DELETE)
            self._closed.set()

    async def signed_in(self) -> None:
        """The user signed in mid-session: the tools the server lists may differ now (protected ones callable,
        no longer marked), so a desktop client that has connected is told to list them again."""
        if self.era is not None:
            await self.downstream.notify("notifications/tools/list_changed", None)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Leave the upstream session in order (a stateful server is told the session ends), then return."""
        self._closing.set()
        if self.session is not None:
            with anyio.move_on_after(timeout):
                await self._closed.wait()

    async def _stream_exception(self, exc: Exception) -> None:
        log.debug("upstream transport: %r", exc)

    # -- negotiation -----------------------------------------------------------------------------------

    async def _probe_modern(self, session: ClientSession) -> bool:
        """`server/discover` as the SDK's `mode="auto"` does it: True and adopted, or False for a legacy server."""
        try:
            await session.discover()
        except MCPError as exc:
            if isinstance(exc.error.data, dict) and "proxy" in exc.error.data:
                raise  # the proxy's own failure (unreachable, sign-in failed): no answer about the revision
            if exc.code == UNSUPPORTED_PROTOCOL_VERSION:
                supported = (exc.error.data or {}).get("supported") if isinstance(exc.error.data, dict) else None
                if isinstance(supported, list) and not any(v in HANDSHAKE_PROTOCOL_VERSIONS for v in supported):
                    raise  # a 2026-only server that shares no revision with this client
            return False
        except (RuntimeError, ValidationError):  # answered, but advertises no revision in common
            return False
        return True

    async def _adopt_modern(self, session: ClientSession, version: str) -> dict[str, Any]:
        raw = await session.send_discover(version)
        session.adopt(types.DiscoverResult.model_validate(raw))
        return raw

    async def _negotiate_without_peer(self) -> ClientSession:
        """The desktop client sent a request before any handshake: negotiate with the SDK's own identity."""
        async with self._negotiation:
            session = await self._ensure_session(None)
            if self.era is None:
                if self.protocol in MODERN_PROTOCOL_VERSIONS:
                    await self._adopt_modern(session, self.protocol)
                    self.era = "modern"
                elif self.protocol == "auto" and await self._probe_modern(session):
                    self.era = "modern"
                else:
                    await session.initialize()
                    self._sdk_sent_initialized = True
                    self.era = "legacy"
            return session

    async def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        peer = _Peer(
            client_info=_model_or_none(types.Implementation, params.get("clientInfo"))
            or types.Implementation(name=PROG, version=__version__),
            capabilities=params.get("capabilities") if isinstance(params.get("capabilities"), dict) else {},
        )
        requested = params.get("protocolVersion")
        async with self._negotiation:
            session = await self._ensure_session(peer)
            if self.era is None and self.protocol != "legacy":
                if self.protocol in MODERN_PROTOCOL_VERSIONS:
                    await self._adopt_modern(session, self.protocol)
                    self.era = "modern"
                elif await self._probe_modern(session):
                    self.era = "modern"
            if self.era == "modern":
                self.downstream_version = requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
                return self._initialize_result_from_discover(session)
            # The handshake, end to end: the server negotiates with the desktop client's own offer.
            raw = await session.send_request(_AnyRequest(method="initialize", params=params), _RAW)
            result = types.InitializeResult.model_validate(raw)
            if result.protocol_version not in HANDSHAKE_PROTOCOL_VERSIONS:
                raise MCPError(
                    code=INTERNAL_ERROR,
                    message=f"{PROG}: the server chose protocol version {result.protocol_version!r}, "
                    "which this proxy does not speak",
                )
            session.adopt(result)
            self.era = "legacy"
            self.downstream_version = result.protocol_version
            self._initialized_forwarded = anyio.Event()
            return _announcing_tool_changes(raw)

    def _initialize_result_from_discover(self, session: ClientSession) -> dict[str, Any]:
        discover = session.discover_result
        assert discover is not None
        server_info = session.server_info or types.Implementation(name=self.name, version="unknown")
        result: dict[str, Any] = {
            "protocolVersion": self.downstream_version,
            "capabilities": discover.capabilities.model_dump(by_alias=True, mode="json", exclude_none=True),
            "serverInfo": server_info.model_dump(by_alias=True, mode="json", exclude_none=True),
        }
        if discover.instructions:
            result["instructions"] = discover.instructions
        return _announcing_tool_changes(result)

    async def _discover(self, params: dict[str, Any]) -> dict[str, Any]:
        """A desktop client that speaks 2026-07-28 itself probes the server through the proxy."""
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        version = meta.get(PROTOCOL_VERSION_META_KEY)
        peer = _Peer(
            client_info=_model_or_none(types.Implementation, meta.get(CLIENT_INFO_META_KEY))
            or types.Implementation(name=PROG, version=__version__),
            capabilities=meta.get(CLIENT_CAPABILITIES_META_KEY) or {},
        )
        async with self._negotiation:
            session = await self._ensure_session(peer)
            if self.protocol == "legacy":
                # Not this connection's revision: the server answers as a handshake server would.
                return await session.send_request(_AnyRequest(method="server/discover", params=params), _RAW)
            raw = await self._adopt_modern(session, version if isinstance(version, str) else LATEST_MODERN_VERSION)
            self.era = "modern"
            self.downstream_version = None
            return _announcing_tool_changes(raw)

    # -- requests from the desktop client --------------------------------------------------------------

    async def on_request(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        try:
            return await self._handle(method, dict(params) if params is not None else None)
        except MCPError:
            raise
        except ValidationError as exc:
            raise MCPError(
                code=INTERNAL_ERROR,
                message=f"{PROG}: the server's answer to {method} does not follow the protocol "
                f"({exc.error_count()} validation errors)",
            ) from None
        except Exception as exc:
            log.debug("%s failed", method, exc_info=True)
            raise MCPError(code=INTERNAL_ERROR, message=f"{PROG}: {method} failed: {exc}") from None

    async def _handle(self, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        if method == "initialize":
            return await self._initialize(params or {})
        if method == "server/discover":
            return await self._discover(params or {})
        if self.era is None:
            if method == "ping":
                return {}
            await self._negotiate_without_peer()
        session = self.session
        assert session is not None
        translating = self.era == "modern" and self.downstream_version is not None
        waiter = self._initialized_forwarded
        if waiter is not None and method != "ping":
            # The handshake's order: `notifications/initialized` reaches the server before any request.
            with anyio.move_on_after(INITIALIZED_WAIT_SECONDS):
                await waiter.wait()
            self._initialized_forwarded = None
        if translating and method == "logging/setLevel":
            level = (params or {}).get("level")
            if not isinstance(level, str):
                raise MCPError(code=INVALID_REQUEST, message="logging/setLevel needs a level")
            self.log_level = level
            return {}
        if self.era == "modern" and method == "tools/list":
            raw = await self._list_tools(session, params)
        else:
            raw = await self._forward(session, method, params)
        if translating:
            raw = await self._resolve_input_required(session, method, params, raw)
            unknown = fields_unknown_to(method, self.downstream_version or LATEST_HANDSHAKE_VERSION)
            if unknown:
                raw = {key: value for key, value in raw.items() if key not in unknown}
        return raw

    async def _forward(self, session: ClientSession, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        if self.era == "modern" and self.log_level is not None:
            params = dict(params or {})
            meta = dict(params.get("_meta") or {})
            meta.setdefault(LOG_LEVEL_META_KEY, self.log_level)
            params["_meta"] = meta
        try:
            return await session.send_request(_AnyRequest(method=method, params=params), _RAW)
        except MCPError as exc:
            if exc.code != HEADER_MISMATCH or self.era != "modern" or method != "tools/call":
                raise
            # The tool was not listed through this connection (or changed): list, then send once more.
            await self._relist(session)
            return await session.send_request(_AnyRequest(method=method, params=params), _RAW)

    async def _list_tools(self, session: ClientSession, params: dict[str, Any] | None) -> dict[str, Any]:
        """tools/list through the session at 2026-07-28: it learns each tool's `Mcp-Param-*` headers.

        (And drops a tool whose `x-mcp-header` annotations are invalid, as a 2026-07-28 client must.)
        """
        request_params = types.PaginatedRequestParams.model_validate(params or {})
        if self.log_level is not None:
            request_params.meta = {**(request_params.meta or {}), LOG_LEVEL_META_KEY: self.log_level}  # type: ignore[typeddict-item]
        result = await session.list_tools(params=request_params)
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    async def _relist(self, session: ClientSession) -> None:
        cursor: str | None = None
        for _ in range(RELIST_PAGE_CAP):
            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            cursor = page.next_cursor
            if cursor is None:
                return

    async def _resolve_input_required(
        self, session: ClientSession, method: str, params: dict[str, Any] | None, raw: dict[str, Any]
    ) -> dict[str, Any]:
        """Answer a 2026-07-28 `input_required` result for a client that cannot: ask it, then retry."""
        delay = 0.05
        rounds = 0
        while raw.get("resultType") == "input_required":
            rounds += 1
            if rounds > INPUT_REQUIRED_MAX_ROUNDS:
                raise MCPError(
                    code=INTERNAL_ERROR,
                    message=f"{PROG}: the server asked for more input over {INPUT_REQUIRED_MAX_ROUNDS} rounds",
                )
            requests = raw.get("inputRequests") or {}
            retry = dict(params or {})
            if requests:
                retry["inputResponses"] = await self._ask_client(requests)
                delay = 0.05
            else:
                await anyio.sleep(delay)
                delay = min(delay * 2, 0.25)
                retry.pop("inputResponses", None)
            if raw.get("requestState") is not None:
                retry["requestState"] = raw["requestState"]
            else:
                retry.pop("requestState", None)
            raw = await self._forward(session, method, retry)
        return raw

    async def _ask_client(self, requests: Mapping[str, Any]) -> dict[str, Any]:
        """All input requests at once; the first refusal is the answer to the original request."""
        answers: dict[str, Any] = {}
        refusals: list[MCPError] = []

        async def ask(key: str, request: Mapping[str, Any], tg: anyio.abc.TaskGroup) -> None:
            try:
                answers[key] = await self.downstream.send_raw_request(str(request.get("method")), request.get("params"))
            except MCPError as exc:
                refusals.append(exc)
                tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            for key, request in requests.items():
                if isinstance(request, Mapping):
                    tg.start_soon(ask, key, request, tg)
        if refusals:
            raise refusals[0]
        return answers

    # -- notifications from the desktop client ---------------------------------------------------------

    async def on_notify(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> None:
        if method == "notifications/cancelled":
            return  # the dispatcher cancelled the request it names; its upstream request is cancelled with it
        if self.session is None or self.era != "legacy":
            return  # nothing to tell yet; and 2026-07-28 defines no client notifications over HTTP
        if method == "notifications/initialized":
            if self._sdk_sent_initialized:
                return
        waiter = self._initialized_forwarded if method == "notifications/initialized" else None
        notification = _AnyNotification(method=method, params=dict(params) if params is not None else None)
        try:
            await self.session.send_notification(notification)
        finally:
            if waiter is not None:
                waiter.set()

    # -- messages from the server ----------------------------------------------------------------------

    async def _from_server_request(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return await self.downstream.send_raw_request(method, params)

    async def _from_server_notification(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> None:
        if method == "notifications/cancelled":
            return  # the dispatcher cancelled the server request it names (and so our question to the client)
        await self.downstream.notify(method, params)


def _announcing_tool_changes(result: dict[str, Any]) -> dict[str, Any]:
    """`result` with `capabilities.tools.listChanged` set when the server has tools: the proxy sends
    `notifications/tools/list_changed` itself after a sign-in (`Bridge.signed_in`)."""
    capabilities = result.get("capabilities")
    if not isinstance(capabilities, dict) or not isinstance(capabilities.get("tools"), dict):
        return result
    tools = {**capabilities["tools"], "listChanged": True}
    return {**result, "capabilities": {**capabilities, "tools": tools}}


def _model_or_none(model: type[BaseModel], value: Any) -> Any:
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None
