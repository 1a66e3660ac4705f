"""Test servers on loopback for the proxy's sign-in: an OAuth authorization server and a protected MCP server.

`AuthorizationServer`: RFC 8414 metadata, dynamic client registration (optional), an authorize
endpoint that redirects with `code` and `state` (or `error=access_denied` when told to deny), and a
token endpoint that checks PKCE (S256), the redirect URI, the client's authentication and the RFC 8707
`resource`, issues opaque access tokens with a lifetime and refresh tokens, and rotates refresh tokens
(an old one is refused). Loopback redirect URIs match on any port (RFC 8252 §7.3). Every request is
recorded in `events`.

`ProtectedServer`: an MCP server (the SDK's `MCPServer`, stateless JSON) behind a gate that answers
401 with `WWW-Authenticate: Bearer resource_metadata="..."` (optionally renamed to
`x-amzn-Remapped-WWW-Authenticate`, as API Gateway does) unless the bearer is a live access token of
the authorization server for this resource; it serves the RFC 9728 metadata naming the authorization
server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import anyio
import jwt
import mcp_types as types
import uvicorn
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, ListRoots, MCPServer, Resolve, Sample
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import CreateMessageResult, ListRootsResult, RequestParams, SamplingMessage, TextContent
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class ThreadedServer:
    """An ASGI app served by uvicorn on 127.0.0.1 (a port chosen now) in a background thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(self.app, log_level="warning", lifespan="auto", access_log=False, interface="asgi3")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()


def _b64url_sha256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact match, except that a loopback redirect URI may use any port (RFC 8252 §7.3)."""
    if registered == requested:
        return True
    a, b = urlsplit(registered), urlsplit(requested)
    return (
        a.scheme == b.scheme == "http"
        and a.hostname in LOOPBACK_HOSTS
        and a.hostname == b.hostname
        and a.path == b.path
        and a.query == b.query
    )


@dataclass
class Client:
    client_id: str
    secret: str | None
    redirect_uris: list[str]
    auth_method: str


@dataclass
class Grant:
    client_id: str
    scope: str
    resource: str | None
    subject: str = "user@example.com"


@dataclass
class AuthorizationServer:
    """See the module docstring. Settings may be changed between requests."""

    resource: str | None = None  # the resource its tokens are for (set by ProtectedServer)
    dcr: bool = True
    deny: bool = False
    access_ttl: int = 3600
    rotate_refresh_tokens: bool = True
    scopes_supported: list[str] = field(default_factory=lambda: ["mcp:tools"])
    issue_id_tokens: bool = False
    jwt_access_tokens: bool = False  # RS256 JWTs (aud = the resource) with a JWKS, instead of opaque tokens
    token_auth_methods: list[str] = field(default_factory=lambda: ["none", "client_secret_basic", "client_secret_post"])

    def __post_init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = ThreadedServer(self._app())
        self.issuer = self.server.base_url
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if self.jwt_access_tokens else None

    # -- test controls ---------------------------------------------------------------------------------

    def register_client(self, client_id: str, secret: str | None, redirect_uri: str = "http://127.0.0.1/callback") -> None:
        method = "client_secret_basic" if secret else "none"
        self.clients[client_id] = Client(client_id, secret, [redirect_uri], method)

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self.access_tokens.values():
                token["expires_at"] = 0

    def count(self, kind: str, **match: Any) -> int:
        return sum(1 for e in self.events if e["kind"] == kind and all(e.get(k) == v for k, v in match.items()))

    def live_access_token(self, token: str, resource: str | None) -> dict[str, Any] | None:
        with self._lock:
            grant = self.access_tokens.get(token)
        if grant is None or grant["expires_at"] <= time.time():
            return None
        if resource is not None and grant["resource"] != resource:
            return None
        return grant

    # -- the app ---------------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", self._metadata),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/register", self._register, methods=["POST"]),
                Route("/jwks", self._jwks),
            ]
        )

    async def _metadata(self, request: Request) -> Response:
        self.events.append({"kind": "metadata"})
        body: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": self.token_auth_methods,
            "scopes_supported": self.scopes_supported,
        }
        if self.dcr:
            body["registration_endpoint"] = f"{self.issuer}/register"
        if self.signing_key is not None:
            body["jwks_uri"] = f"{self.issuer}/jwks"
        return JSONResponse(body)

    async def _jwks(self, request: Request) -> Response:
        if self.signing_key is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        key = RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**key, "kid": "test-key", "alg": "RS256", "use": "sig"}]})

    async def _register(self, request: Request) -> Response:
        if not self.dcr:
            return JSONResponse({"error": "invalid_request"}, status_code=404)
        metadata = await request.json()
        redirect_uris = metadata.get("redirect_uris") or []
        if not redirect_uris:
            return JSONResponse({"error": "invalid_redirect_uri"}, status_code=400)
        method = metadata.get("token_endpoint_auth_method") or "none"
        client_id = f"client-{secrets.token_hex(6)}"
        secret = secrets.token_urlsafe(16) if method != "none" else None
        self.clients[client_id] = Client(client_id, secret, list(redirect_uris), method)
        self.events.append({"kind": "register", "client_id": client_id, "metadata": metadata})
        body = {**metadata, "client_id": client_id, "token_endpoint_auth_method": method,
                "client_id_issued_at": int(time.time())}
        if secret:
            body["client_secret"] = secret
        return JSONResponse(body, status_code=201)

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.events.append({"kind": "authorize", "params": params})
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or not any(redirect_uri_matches(r, redirect_uri) for r in client.redirect_uris):
            return JSONResponse({"error": "invalid_request", "error_description": "unknown client or redirect"}, 400)
        state = params.get("state")

        def back(**values: str) -> Response:
            if state is not None:
                values["state"] = state
            return RedirectResponse(f"{redirect_uri}?{urlencode(values)}", status_code=302)

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE S256 is required")
        if self.resource is not None and params.get("resource") != self.resource:
            return back(error="invalid_target", error_description="resource must name the MCP server")
        if self.deny:
            return back(error="access_denied", error_description="The user denied the request")
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "challenge": params["code_challenge"],
            "scope": params.get("scope", ""),
            "resource": params.get("resource"),
            "expires_at": time.time() + 60,
        }
        return back(code=code)

    def _authenticate(self, request: Request, form: dict[str, str]) -> Client | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(header[6:]).decode()
            except ValueError:
                return None
            client_id, _, secret = raw.partition(":")
            from urllib.parse import unquote

            client = self.clients.get(unquote(client_id))
            return client if client and client.secret and client.secret == unquote(secret) else None
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return None
        if client.secret is None:
            return client
        return client if form.get("client_secret") == client.secret else None

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        grant_type = form.get("grant_type")
        event: dict[str, Any] = {"kind": "token", "grant_type": grant_type, "resource": form.get("resource")}
        self.events.append(event)

        def refuse(error: str, description: str = "", status: int = 400) -> Response:
            event["error"] = error
            return JSONResponse({"error": error, "error_description": description}, status_code=status)

        client = self._authenticate(request, form)
        if client is None:
            return refuse("invalid_client", "client authentication failed", 401)
        if self.resource is not None and form.get("resource") != self.resource:
            return refuse("invalid_target", "resource must name the MCP server")
        if grant_type == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None or code["expires_at"] < time.time() or code["client_id"] != client.client_id:
                return refuse("invalid_grant", "unknown or used code")
            if form.get("redirect_uri") != code["redirect_uri"]:
                return refuse("invalid_grant", "redirect_uri differs")
            if _b64url_sha256(form.get("code_verifier", "")) != code["challenge"]:
                return refuse("invalid_grant", "PKCE verification failed")
            grant = Grant(client.client_id, code["scope"], code["resource"])
        elif grant_type == "refresh_token":
            with self._lock:
                stored = self.refresh_tokens.get(form.get("refresh_token", ""))
                if stored is None or not stored["active"] or stored["client_id"] != client.client_id:
                    return refuse("invalid_grant", "unknown or rotated refresh token")
                if self.rotate_refresh_tokens:
                    stored["active"] = False
            grant = Grant(client.client_id, stored["scope"], stored["resource"])
        else:
            return refuse("unsupported_grant_type")
        return JSONResponse(self._issue(grant, new_refresh=grant_type == "authorization_code" or self.rotate_refresh_tokens,
                                        refresh=form.get("refresh_token")), headers={"cache-control": "no-store"})

    def _issue(self, grant: Grant, *, new_refresh: bool, refresh: str | None) -> dict[str, Any]:
        access = f"at-{secrets.token_urlsafe(16)}"
        if self.signing_key is not None:
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": grant.resource, "sub": "user-1", "email": grant.subject,
                      "email_verified": True, "scope": grant.scope, "client_id": grant.client_id,
                      "iat": now, "exp": now + self.access_ttl, "jti": secrets.token_hex(8)}
            access = jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": "test-key", "typ": "at+jwt"})
        with self._lock:
            self.access_tokens[access] = {
                "client_id": grant.client_id, "scope": grant.scope, "resource": grant.resource,
                "expires_at": time.time() + self.access_ttl, "subject": grant.subject,
            }
            if new_refresh:
                refresh = f"rt-{secrets.token_urlsafe(16)}"
                self.refresh_tokens[refresh] = {
                    "client_id": grant.client_id, "scope": grant.scope, "resource": grant.resource, "active": True,
                }
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.access_ttl,
                                "scope": grant.scope}
        if new_refresh:
            body["refresh_token"] = refresh
        if self.issue_id_tokens:
            id_token = f"idt-{secrets.token_urlsafe(16)}"
            with self._lock:
                self.access_tokens[id_token] = dict(self.access_tokens[access], id_token=True)
            body["id_token"] = id_token
        return body


class ProtectedServer:
    """An MCP server behind a bearer-token gate (see the module docstring)."""

    def __init__(self, authorization_server: AuthorizationServer, *, remap_challenge: bool = False,
                 scopes: list[str] | None = None, accept_id_tokens_only: bool = False) -> None:
        self.authorization_server = authorization_server
        self.remap_challenge = remap_challenge
        self.scopes = scopes if scopes is not None else ["mcp:tools"]
        self.accept_id_tokens_only = accept_id_tokens_only
        self.requests: list[dict[str, Any]] = []
        mcp = MCPServer("protected")

        @mcp.tool()
        def whoami() -> str:
            """Who the server thinks is calling."""
            return "user@example.com"

        @mcp.tool()
        def add(a: int, b: int) -> int:
            """Adds two numbers."""
            return a + b

        self._inner = mcp.streamable_http_app(stateless_http=True, json_response=True)
        self.server = ThreadedServer(self._gate)
        self.base_url = self.server.base_url
        self.url = f"{self.base_url}/mcp"
        self.metadata_url = f"{self.base_url}/.well-known/oauth-protected-resource/mcp"
        authorization_server.resource = self.url

    def __enter__(self) -> ProtectedServer:
        self.authorization_server.server.start()
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.authorization_server.server.stop()

    def count(self, **match: Any) -> int:
        return sum(1 for r in self.requests if all(r.get(k) == v for k, v in match.items()))

    async def _gate(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        path = scope["path"]
        if path == "/.well-known/oauth-protected-resource/mcp":
            body = {
                "resource": self.url,
                "authorization_servers": [self.authorization_server.issuer],
                "scopes_supported": self.scopes,
                "bearer_methods_supported": ["header"],
            }
            await JSONResponse(body)(scope, receive, send)
            return
        if path != "/mcp":
            await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        authorization = headers.get("authorization", "")
        token = authorization[7:] if authorization.lower().startswith("bearer ") else None
        grant = self.authorization_server.live_access_token(token, self.url) if token else None
        if grant is not None and self.accept_id_tokens_only and not grant.get("id_token"):
            grant = None
        self.requests.append({"method": scope["method"], "token": token, "authorized": grant is not None})
        if grant is None:
            challenge = f'Bearer resource_metadata="{self.metadata_url}"'
            if self.scopes:
                challenge += f', scope="{" ".join(self.scopes)}"'
            if token:
                challenge += ', error="invalid_token", error_description="The access token is not valid"'
            header = "x-amzn-Remapped-WWW-Authenticate" if self.remap_challenge else "WWW-Authenticate"
            body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "Unauthorized"}})
            await Response(body, status_code=401, media_type="application/json", headers={header: challenge})(
                scope, receive, send
            )
            return
        await self._inner(scope, receive, send)


class Name(BaseModel):
    name: str


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class OpenParams(RequestParams):
    model_config = ConfigDict(extra="allow")


def _ask_llm(prompt: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=prompt))], max_tokens=50)


def _ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


def _roots() -> ListRoots:
    return ListRoots()


class RichServer:
    """A stateful MCP server answering over SSE, with everything a stateless Lambda server cannot send.

    Progress and log notifications during a call, requests to the client mid-call (sampling,
    elicitation, roots, and a vendor method), a vendor notification, vendor request methods (one
    succeeding with an open-ended result, one failing with error data), and a slow tool that records
    its cancellation. Every HTTP request is recorded (method, JSON-RPC method, protocol and session
    headers) in `requests`.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.vendor_answers: list[Any] = []
        mcp = MCPServer("rich", version="2.0.0", instructions="A server for the proxy's forwarding tests.")
        rich = self

        @mcp.tool()
        async def progress_and_log(ctx: Context) -> str:
            """Reports progress twice and logs once."""
            await ctx.report_progress(1, 2, "first half")
            await ctx.info("halfway")
            await ctx.report_progress(2, 2, "second half")
            return "done"

        @mcp.tool()
        async def ask_llm(prompt: str, reply: Annotated[CreateMessageResult, Resolve(_ask_llm)]) -> str:
            """Asks the client's model."""
            return f"LLM: {reply.content.text}"

        @mcp.tool()
        async def ask_user(answer: Annotated[ElicitationResult[Name], Resolve(_ask_name)]) -> str:
            """Asks the user."""
            return f"User: {answer.data.name}" if answer.action == "accept" else f"User: {answer.action}"

        @mcp.tool()
        async def ask_roots(roots: Annotated[ListRootsResult, Resolve(_roots)]) -> str:
            """Asks for the client's roots."""
            return "Roots: " + ", ".join(str(root.uri) for root in roots.roots)

        @mcp.tool()
        async def vendor_roundtrip(ctx: Context) -> str:
            """Sends a vendor notification and a vendor request to the client; returns the client's answer."""
            related = ctx.request_context.request_id
            await ctx.session.send_notification(
                types.Notification[dict[str, Any], str](method="vendor/event", params={"n": 1, "nested": {"x": None}}),
                related_request_id=related,
            )
            try:
                answer = await ctx.session.send_request(
                    types.Request[dict[str, Any], str](method="vendor/ask", params={"question": "six times seven?"}),
                    Open,
                    metadata=ServerMessageMetadata(related_request_id=related),
                )
                value: Any = answer.model_dump()
            except MCPError as exc:
                value = {"error": {"code": exc.code, "message": exc.message, "data": exc.data}}
            rich.vendor_answers.append(value)
            return json.dumps(value, sort_keys=True)

        @mcp.tool()
        async def slow(ctx: Context) -> str:
            """Sleeps for 30 s unless cancelled."""
            try:
                await anyio.sleep(30)
            except anyio.get_cancelled_exc_class():
                rich.cancelled.append(str(ctx.request_context.request_id))
                raise
            return "finished"

        async def echo(ctx: Any, params: OpenParams) -> dict[str, Any]:
            body = params.model_dump(mode="json", by_alias=True)
            body.pop("_meta", None)
            return {"echo": body, "nested": {"list": [1, None, True], "empty": {}}, "unicode": "héllo ✓"}

        async def fail(ctx: Any, params: OpenParams) -> dict[str, Any]:
            raise MCPError(code=-32050, message="vendor failure", data={"why": ["a", 1, None], "ok": False})

        async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
            return types.EmptyResult()

        mcp._lowlevel_server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)  # noqa: SLF001
        mcp._lowlevel_server.add_request_handler("vendor/echo", OpenParams, echo)  # noqa: SLF001
        mcp._lowlevel_server.add_request_handler("vendor/fail", OpenParams, fail)  # noqa: SLF001
        self._inner = mcp.streamable_http_app(json_response=False, stateless_http=False)
        self.server = ThreadedServer(self._record)
        self.url = f"{self.server.base_url}/mcp"

    def __enter__(self) -> RichServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def methods(self) -> list[str]:
        return [r["rpc"] for r in self.requests if r.get("rpc")]

    async def _record(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        entry: dict[str, Any] = {
            "http": scope["method"],
            "version": headers.get("mcp-protocol-version"),
            "session": headers.get("mcp-session-id"),
            "mcp_method": headers.get("mcp-method"),
        }
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            entry["rpc"] = parsed.get("method") or ("response" if "result" in parsed or "error" in parsed else None)
            entry["params"] = parsed.get("params")
            entry["body"] = parsed
        self.requests.append(entry)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._inner(scope, replay, send)
