"""The local HTTP server: `/<server>/<path>` is handed to that server's Lambda handler as `/<path>`.

Each server runs as a local function (`lambda_bridge.LocalFunction`): its handler in an execution environment
of its own. Servers with sign-in trust the authorization server mounted at `/oauth` (the deployed one's Lambda
handler, signing people in at the development issuer at `/dev-oidc`) and the development issuer itself (for
`mcp-lambda token`), each with its own `resource` (its local URL), as each Lambda function has its own
environment; servers with a database get
`DATABASE_URL` (or the embedded PostgreSQL) with every declared migration applied, signing in as the server's
own database user when it declares `grants`. A server's placed tools (`ServerSpec.placements`) run in local
functions of their own (with their own database users), which its function invokes as it would on AWS
(`mcp_lambda.placement`); they have no route. Given a SigV4 verifier,
servers deployed behind `AWS_IAM` Function URLs take only signed requests, as on AWS.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcp_lambda import contract as c
from mcp_lambda import placement as placements
from mcp_lambda.local.authorization import LocalAuthorization
from mcp_lambda.local.database import prepare_local_database, prepare_user
from mcp_lambda.local.events import function_url_event, response_parts
from mcp_lambda.local.lambda_bridge import LocalFunction
from mcp_lambda.local.oidc_http import IssuerRequest
from mcp_lambda.local.oidc_issuer import DEV_AUDIENCE, DevIssuer
from mcp_lambda.local.project import LOCAL_ENVIRONMENT, check_against_handler, import_handler
from mcp_lambda.local.sigv4 import Refusal, SigV4Verifier, forbidden
from mcp_lambda.spec import ServerSpec, ToolPlacement

log = logging.getLogger("mcp_lambda.local")
ISSUER_PATH = "dev-oidc"

# Function URLs answer CORS preflights themselves when CORS is configured; this mirrors that for
# browser-based clients such as MCP Inspector in direct mode.
_CORS_HEADERS = "content-type, accept, authorization, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name"
_CORS_EXPOSE = "mcp-session-id, www-authenticate, mcp-protocol-version"
_LOCAL_ORIGIN_PREFIXES = ("http://127.0.0.1:", "http://localhost:", "http://[::1]:")


class LocalServer:
    """Every given server behind one `ThreadingHTTPServer`; use as a context manager or call `serve_forever`.

    :param host: the interface to listen on. Default: loopback.
    :param port: the port; 0 picks a free one. Default: 8080.
    :param servers: the servers to serve, each at `/<name>/mcp`.
    :param key_dir: where the development issuer keeps its signing keys, so tokens outlive a restart.
        Default: throwaway keys.
    :param providers: the issuers servers with sign-in trust, as ``MCP_AUTH_CONFIG`` spells them (each
        server's ``resource`` is its local URL). Default: the development issuer at ``/dev-oidc``, unless
        ``MCP_AUTH_CONFIG`` is set for every server.
    :param sigv4: verifies the signatures of requests to servers with ``signed_requests`` (``AWS_IAM`` Function
        URLs on AWS), which then refuse unsigned ones with 403 as Lambda does. Default: none (unsigned
        requests served).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        servers: Sequence[ServerSpec],
        key_dir: Path | None = None,
        providers: Sequence[Mapping[str, Any]] | None = None,
        sigv4: SigV4Verifier | None = None,
    ) -> None:
        # What this server adds to the environment is taken back by close(), so a server that is gone
        # leaves no configuration behind for later servers or processes.
        self._environment_before = dict(os.environ)
        self.servers = {server.name: server for server in servers}
        self._providers = list(providers) if providers is not None else None
        self.sigv4 = sigv4
        self.functions: dict[str, LocalFunction] = {}
        self.tool_functions: dict[str, LocalFunction] = {}
        """The placed tools' functions, by function name (``<server>-<placement>``): invoked, never routed to."""
        self.database_urls: dict[str, str] = {}
        """What each server with its own database user connects to (``DATABASE_URL`` signing in as that user)."""
        self.httpd = ThreadingHTTPServer((host, port), _make_request_handler(self))  # a busy port fails first
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        try:
            for key, value in LOCAL_ENVIRONMENT.items():
                os.environ.setdefault(key, value)
            signing_in = [server for server in servers if server.sign_in]
            self.authorization = LocalAuthorization(
                self.base_url, f"{self.base_url}/{ISSUER_PATH}", key_dir=key_dir,
                resources=[self.url(server.name) for server in signing_in],
                scopes=sorted({scope for server in signing_in for scope in server.scopes})) if signing_in else None
            self.issuer = DevIssuer(f"{self.base_url}/{ISSUER_PATH}", key_dir,
                                    client=self.authorization.upstream_client if self.authorization else None)
            for server in servers:
                handler = import_handler(server)
                check_against_handler(server, handler)
                if server.placements:
                    placements.install(handler.server, [tool for p in server.placements for tool in p.tools])
            migrations = [d for server in servers if server.database for d in server.migration_dirs]
            if any(server.database for server in servers):
                # Exported before the handlers are first called: they read it then.
                os.environ["DATABASE_URL"] = owner_url = prepare_local_database(list(dict.fromkeys(migrations)))
                for server in servers:
                    if server.database_user is not None:
                        self.database_urls[server.name] = prepare_user(owner_url, server.database_user,
                                                                       server.table_grants)
                    for placement in server.placements:
                        user = server.placement_user(placement)
                        if placement.grants is not None and user is not None:
                            self.database_urls[tool_function_name(server, placement)] = prepare_user(
                                owner_url, user, placement.table_grants)
            for server in servers:
                for placement in server.placements:
                    name = tool_function_name(server, placement)
                    function = LocalFunction(name, f"{server.package}.server:handler",
                                             environment=self._tool_environment(server, placement))
                    self.tool_functions[name] = function
                    placements.register_local(name, function.invoke)
                self.functions[server.name] = LocalFunction(server.name, f"{server.package}.server:handler",
                                                            environment=self._environment(server))
        except BaseException:
            self.close()
            raise

    def _tool_environment(self, server: ServerSpec, placement: ToolPlacement) -> dict[str, str]:
        """A tool function's own variables: its tools, and its database user's URL (its own, else the server's), or
        that it has no database (a placement with ``database=False``, which must not reach the process's
        ``DATABASE_URL``)."""
        own = {c.MCP_TOOL_FUNCTION_TOOLS: ",".join(placement.tools)}
        if server.database and not server.placement_database(placement):
            return {**own, c.MCP_NO_DATABASE: "true"}
        name = tool_function_name(server, placement)
        url = self.database_urls.get(name) or self.database_urls.get(server.name)
        return {**own, **({c.DATABASE_URL: url} if url else {})}

    def _environment(self, server: ServerSpec) -> dict[str, str]:
        """The server's own variables: its database user's URL when it has one; sign-in trusts `providers` (by
        default the local authorization server and the development issuer), for this server's URL, unless
        MCP_AUTH_CONFIG is set for all of them."""
        own = {c.DATABASE_URL: self.database_urls[server.name]} if server.name in self.database_urls else {}
        if server.placements:
            own[c.MCP_TOOL_FUNCTIONS] = json.dumps({tool: tool_function_name(server, p)
                                                    for p in server.placements for tool in p.tools})
        if not server.sign_in or (self._providers is None and c.MCP_AUTH_CONFIG in self._environment_before):
            return own
        assert self.authorization is not None  # made when any server signs callers in
        providers = self._providers or [{"issuer": self.authorization.issuer, "audiences": []},
                                        {"issuer": self.issuer.issuer, "audiences": [DEV_AUDIENCE]}]
        return {**own, c.MCP_AUTH_CONFIG: json.dumps({"resource": self.url(server.name), "providers": providers})}

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, server: str) -> str:
        return f"{self.base_url}/{server}/mcp"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def __enter__(self) -> LocalServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mcp-lambda-local", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, close every function (leaving its lifespan) and take back the environment."""
        if self._thread is not None:
            self.httpd.shutdown()
        self.httpd.server_close()
        for function in self.functions.values():
            function.close()
        for name, function in self.tool_functions.items():
            placements.unregister_local(name)
            function.close()
        for key in set(os.environ) - set(self._environment_before):
            del os.environ[key]
        os.environ.update(self._environment_before)


def tool_function_name(server: ServerSpec, placement: ToolPlacement) -> str:
    """A placed tool's local function: ``<server>-<placement>``."""
    return f"{server.name}-{placement.name}"


def _make_request_handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    functions = server.functions

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mcp-lambda-local"

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            issuer_path = server.issuer.issuer_path(url.path)
            if issuer_path is not None:
                self._issuer(issuer_path, url.query, body)
                return
            authorization = server.authorization
            authorization_path = authorization.event_path(url.path) if authorization else None
            if authorization is not None and authorization_path is not None:
                event = function_url_event(self.command, authorization_path, query=url.query,
                                           headers=self.headers.items(), body=body, source_ip=self.client_address[0])
                self._send(*response_parts(authorization.handler(event)))
                return
            if url.path.startswith(c.PROTECTED_RESOURCE_WELL_KNOWN + "/"):
                # RFC 9728 puts a resource's metadata at the host's root: /.well-known/…/<service>/mcp
                service, _, rest = url.path[len(c.PROTECTED_RESOURCE_WELL_KNOWN) + 1:].partition("/")
                rest = f"{c.PROTECTED_RESOURCE_WELL_KNOWN[1:]}/{rest}"
            else:
                service, _, rest = url.path.lstrip("/").partition("/")
            function = functions.get(service)
            if function is None:
                self._send(404, [("content-type", "application/json")], self._index(url.path))
                return
            origin = self.headers.get("origin")
            if self.command == "OPTIONS" and origin:
                self._send(204, self._cors(origin), b"")
                return
            caller = None
            if server.sigv4 is not None and server.servers[service].signed_requests:
                caller = server.sigv4.verify(self.command, url.path, url.query, self.headers.items(), body)
                if isinstance(caller, Refusal):
                    log.warning("%s %s refused (as an AWS_IAM Function URL would): %s", self.command, url.path,
                                caller.reason)
                    self._send(*forbidden())
                    return
            event = function_url_event(self.command, "/" + rest, query=url.query, headers=self.headers.items(),
                                       body=body, source_ip=self.client_address[0], iam_caller=caller)
            status, headers, payload = response_parts(function.invoke(event))
            self._send(status, headers + (self._cors(origin) if origin else []), payload)

        def _issuer(self, path: str, query: str, body: bytes) -> None:
            # Browser-based clients (MCP Inspector) read the metadata and call the registration and token
            # endpoints with CORS, as they call the services.
            origin = self.headers.get("origin")
            cors = self._cors(origin) if origin else []
            if self.command == "OPTIONS" and origin:
                self._send(204, cors, b"")
                return
            reply = server.issuer.handle(IssuerRequest(
                self.command, path, query, body, self.headers.get("content-type", ""),
                self.headers.get("authorization", ""),
            ))
            self._send(reply.status, [*reply.headers, *cors], reply.body)

        def _cors(self, origin: str) -> list[tuple[str, str]]:
            if not origin.startswith(_LOCAL_ORIGIN_PREFIXES):
                return []
            return [
                ("access-control-allow-origin", origin),
                ("access-control-allow-methods", "POST, GET, DELETE, OPTIONS"),
                ("access-control-allow-headers", _CORS_HEADERS),
                ("access-control-expose-headers", _CORS_EXPOSE),
                ("vary", "origin"),
            ]

        def _index(self, path: str) -> bytes:
            listing = {name: f"/{name}/mcp" for name in functions}
            return json.dumps({"error": f"no service at {path}", "services": listing}).encode()

        def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_HEAD = _dispatch

    return RequestHandler
