"""Browser sign-in for the proxy, on the SDK's `OAuthClientProvider`.

The provider does the protocol work: RFC 9728 protected resource metadata (from `WWW-Authenticate`'s
`resource_metadata`, then the well-known URLs), RFC 8414 / OpenID Connect discovery, dynamic client
registration or a client ID metadata document (or the pre-registered --client-id), the
authorization-code flow with PKCE (S256) and `state`, the RFC 8707 `resource` parameter, token
refresh and scope step-up. `ProxyAuth` wraps it with what a long-running proxy needs:

- **No queue behind the provider.** The provider serializes every request it sees (it holds a lock
  until each response's headers arrive); with a valid token `ProxyAuth` sends the request itself, so
  a slow tool call never blocks the next request. Only a missing, expired or rejected token reaches
  the provider.
- **One sign-in for everyone.** Sign-in and refresh run under the credential store's lock, shared by
  every proxy process. The first request to fail signs in; the others wait, reload the store, and
  use the new token. A refresh token rotated by another process is picked up the same way.
- **Refresh before the browser.** A token the server rejects, or one that expired while the process
  was idle or stopped, is refreshed first (the discovered token endpoint is stored with the tokens);
  the browser opens only when refreshing fails.
- **API Gateway's renamed header.** API Gateway (REST) renames a backend's `WWW-Authenticate` to
  `x-amzn-Remapped-WWW-Authenticate`; it is read as the challenge when the original is missing.
- **--scope** replaces the scope the server challenges with (a step-up adds the server's scope to it).
- **ID tokens.** Google access tokens are opaque to third parties, so against Google (or with
  `--bearer id_token`) the OpenID Connect ID token from the token response is the bearer.
- **Loopback redirect.** `http://127.0.0.1:<port>/callback`, the port chosen by the OS when the
  proxy starts; the browser is opened with `webbrowser.open` (which honours `$BROWSER`) and the URL
  is printed to stderr too. A callback whose `state` differs from the request's is refused, and a
  denial (`error=access_denied`) ends the sign-in with the authorization server's reason.
- **Signed in, say so.** After a sign-in in the browser succeeds, `on_sign_in` is awaited: the bridge
  tells the desktop client that the server's tools changed (what a server shows depends on who asks).
"""

from __future__ import annotations

import html
import logging
import re
import sys
import threading
import time
import webbrowser
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import anyio.abc
import httpx2
from mcp.client.auth import OAuthClientProvider, OAuthFlowError
from mcp.client.auth.utils import union_scopes
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from pydantic import AnyUrl, ValidationError

from mcp_lambda_proxy import PROG, __version__
from mcp_lambda_proxy.store import CredentialStore

log = logging.getLogger("mcp_lambda_proxy.auth")

REMAPPED_CHALLENGE = "x-amzn-Remapped-WWW-Authenticate"
CALLBACK_PATH = "/callback"
EXPIRY_SKEW_SECONDS = 30  # refresh this long before the recorded expiry
MAX_SIGN_IN_ATTEMPTS = 3  # consecutive sign-ins that did not satisfy the server before giving up
SIGN_IN_ATTEMPTS_RESET_SECONDS = 300
GOOGLE_ISSUERS = ("https://accounts.google.com",)
BEARER_CHOICES = ("auto", "access_token", "id_token")


class SignInDenied(OAuthFlowError):
    """The user (or the authorization server) refused the authorization request."""


class SignInStateMismatch(OAuthFlowError):
    """The redirect's `state` is not the one this sign-in sent: a stale tab, or a forged redirect."""


class SignInTimeout(OAuthFlowError):
    """Nobody completed the sign-in in the browser in time."""


# --- the redirect target ----------------------------------------------------------------------------


_PAGE = """<!doctype html><meta charset="utf-8"><title>{title}</title>
<body style="font-family: system-ui, sans-serif; margin: 3em"><h2>{title}</h2><p>{body}</p></body>"""


class LoopbackCallback:
    """The sign-in redirect target: `http://127.0.0.1:<port>/callback`, the port chosen at start.

    The listening socket exists for the life of the proxy (the redirect URI is part of the client's
    registration), but connections are only answered while a sign-in waits for one.
    """

    def __init__(self, listener: anyio.abc.SocketListener, port: int) -> None:
        self._listener = listener
        self.port = port
        self.redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
        self._expected_state: str | None = None

    @classmethod
    async def open(cls, port: int = 0) -> LoopbackCallback:
        """Port 0: chosen now, so two proxies never collide; a fixed port for exact-match registrations."""
        listeners = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
        listener = listeners.listeners[0]  # one address, so one listener
        return cls(listener, listener.extra(anyio.abc.SocketAttribute.local_port))

    def expect(self, state: str | None) -> None:
        self._expected_state = state

    async def aclose(self) -> None:
        await self._listener.aclose()

    async def wait(self, timeout: float) -> AuthorizationCodeResult:
        """Answer requests to the redirect URI until one completes the sign-in (or `timeout` passes)."""
        outcome: list[AuthorizationCodeResult | OAuthFlowError] = []
        done = anyio.Event()

        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                try:
                    with anyio.fail_after(10):
                        target = await _read_request_target(stream)
                except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, ValueError):
                    return
                status, title, body, result = self._judge(target)
                if result is not None and not done.is_set():
                    outcome.append(result)
                    done.set()
                page = _PAGE.format(title=html.escape(title), body=html.escape(body)).encode()
                head = (
                    f"HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n"
                    f"content-length: {len(page)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n"
                )
                try:
                    await stream.send(head.encode() + page)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass

        try:
            with anyio.fail_after(timeout):
                async with anyio.create_task_group() as tg:

                    async def accept_loop() -> None:
                        while True:
                            stream = await self._listener.accept()
                            tg.start_soon(handle, stream)

                    tg.start_soon(accept_loop)
                    await done.wait()
                    # Let the page that completed the sign-in reach the browser, then stop answering.
                    with anyio.move_on_after(2):
                        await anyio.sleep(0.05)
                    tg.cancel_scope.cancel()
        except TimeoutError:
            raise SignInTimeout(f"nobody completed the sign-in in the browser within {timeout:.0f}s") from None
        result = outcome[0]
        if isinstance(result, OAuthFlowError):
            raise result
        return result

    def _judge(self, target: str) -> tuple[str, str, str, AuthorizationCodeResult | OAuthFlowError | None]:
        url = urlsplit(target)
        if url.path != CALLBACK_PATH:
            return "404 Not Found", "Not found", "This is the sign-in callback of mcp-lambda-proxy.", None
        query = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        if self._expected_state is None or query.get("state") != self._expected_state:
            return (
                "400 Bad Request",
                "Sign-in refused",
                "This response does not belong to the sign-in in progress (state mismatch). Start again.",
                SignInStateMismatch(
                    "the sign-in response does not belong to the sign-in in progress (state mismatch); "
                    "it was refused"
                ),
            )
        if "error" in query:
            error = query["error"]
            detail = query.get("error_description") or ""
            reason = f"{error}: {detail}" if detail else error
            if error == "access_denied":
                message = f"sign-in was denied at the authorization server ({reason})"
            else:
                message = f"the authorization server refused the sign-in ({reason})"
            return "200 OK", "Sign-in not completed", message[0].upper() + message[1:] + ".", SignInDenied(message)
        code = query.get("code")
        if not code:
            return "400 Bad Request", "Sign-in failed", "No authorization code was received.", OAuthFlowError(
                "the authorization server redirected back without an authorization code"
            )
        result = AuthorizationCodeResult(code=code, state=query.get("state"), iss=query.get("iss"))
        return "200 OK", "Signed in", "You can close this window and return to your application.", result


async def _read_request_target(stream: anyio.abc.SocketStream) -> str:
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        chunk = await stream.receive(4096)
        data += chunk
        if len(data) > 32 * 1024:
            raise ValueError("request head too large")
    request_line = data.split(b"\n", 1)[0].decode("latin-1").strip()
    method, target, *_ = request_line.split(" ")
    if method not in ("GET", "POST"):
        raise ValueError(method)
    return target


# --- opening the browser ----------------------------------------------------------------------------


Opener = Callable[[str], Any]


def open_browser_in_background(url: str, opener: Opener = webbrowser.open) -> None:
    """Open `url` without waiting: a `$BROWSER` command may only return once the sign-in is done."""

    def run() -> None:
        try:
            opened = opener(url)
        except Exception as exc:  # a broken browser configuration must not end the sign-in
            opened = False
            log.debug("browser failed: %r", exc)
        if opened is False:
            print(f"{PROG}: could not open a browser; open the URL above yourself", file=sys.stderr, flush=True)

    threading.Thread(target=run, name="mcp-lambda-proxy-browser", daemon=True).start()


# --- the httpx auth wrapper -------------------------------------------------------------------------


@dataclass
class SignInOptions:
    name: str
    server_url: str
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    bearer: str = "auto"
    client_metadata_url: str | None = None
    sign_in_timeout: float = 300.0
    open_browser: bool = True


def _challenge_header(response: httpx2.Response) -> str | None:
    return response.headers.get("www-authenticate") or response.headers.get(REMAPPED_CHALLENGE)


def _challenged(response: httpx2.Response) -> bool:
    """401, or 403 with `error="insufficient_scope"` (a scope step-up)."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and 'insufficient_scope' in (_challenge_header(response) or "")


def _scope_param(challenge: str) -> str | None:
    match = re.search(r'scope=(?:"([^"]*)"|([^\s,]+))', challenge)
    return (match.group(1) if match.group(1) is not None else match.group(2)) if match else None


def _with_scope(challenge: str, scope: str) -> str:
    replaced, count = re.subn(r'scope=(?:"[^"]*"|[^\s,]+)', f'scope="{scope}"', challenge, count=1)
    if count:
        return replaced
    if challenge.strip().lower() == "bearer":
        return f'Bearer scope="{scope}"'
    return f'{challenge}, scope="{scope}"' if " " in challenge.strip() else f'{challenge} scope="{scope}"'


def _is_token_request(request: httpx2.Request) -> bool:
    return request.method == "POST" and b"grant_type=" in (request.content or b"")


class ProxyAuth(httpx2.Auth):
    """`httpx2.Auth` for the proxy's HTTP client: see the module docstring."""

    def __init__(
        self,
        options: SignInOptions,
        store: CredentialStore,
        callback: LoopbackCallback,
        *,
        opener: Opener = webbrowser.open,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.store = store
        self.callback = callback
        self.opener = opener
        self.clock = clock
        self._id_token: str | None = None
        self._failed_sign_ins = 0
        self._last_sign_in = 0.0
        self._sign_in_first: str | None = None
        self.sign_ins = 0  # authorization-code flows started by this process
        self.on_sign_in: Callable[[], Awaitable[None]] | None = None  # awaited after each successful sign-in
        metadata = OAuthClientMetadata(
            client_name=f"{PROG} ({options.name})",
            redirect_uris=[AnyUrl(callback.redirect_uri)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            software_id=PROG,
            software_version=__version__,
        )
        self.provider = OAuthClientProvider(
            server_url=options.server_url,
            client_metadata=metadata,
            storage=_Storage(self),
            redirect_handler=self._redirect,
            callback_handler=self._callback,
            client_metadata_url=options.client_metadata_url,
        )

    # -- state shared with the store -------------------------------------------------------------------

    @property
    def context(self) -> Any:
        return self.provider.context

    def preregistered_client(self) -> OAuthClientInformationFull | None:
        if not self.options.client_id:
            return None
        secret = self.options.client_secret
        return OAuthClientInformationFull(
            client_id=self.options.client_id,
            client_secret=secret,
            redirect_uris=[AnyUrl(self.callback.redirect_uri)],
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            grant_types=["authorization_code", "refresh_token"],
        )

    async def load(self) -> None:
        """Read the store once at start: stored tokens, client and metadata (and a stored client secret)."""
        record = await self._record()
        if self.options.client_id and not self.options.client_secret:
            client = record.get("client") or {}
            if client.get("client_id") == self.options.client_id:
                self.options.client_secret = record["secrets"].get("client_secret")
        self._adopt(record)
        if not self.options.client_id:
            return
        self.context.client_info = self.preregistered_client()
        stored = (record.get("client") or {}).get("client_id")
        new_secret = self.options.client_secret and record["secrets"].get("client_secret") != self.options.client_secret
        if stored != self.options.client_id or new_secret:
            if stored is not None and stored != self.options.client_id:
                # Tokens of another client: its refresh token is useless to this one.
                self.context.current_tokens = None
                self.context.token_expiry_time = None
                self._id_token = None
            async with self.store.lock:
                await self.save()

    async def _record(self) -> dict[str, Any]:
        record = await self.store.read(self.options.name)
        if record.get("url") != self.options.server_url:
            return {"secrets": {}}
        return record

    def _adopt(self, record: dict[str, Any]) -> None:
        """Take what the store holds that this process does not (another process signed in or refreshed)."""
        secrets = record.get("secrets") or {}
        token_meta = record.get("tokens") or {}
        context = self.context
        if secrets.get("access_token"):
            current = context.current_tokens
            if current is None or current.access_token != secrets["access_token"]:
                context.current_tokens = OAuthToken(
                    access_token=secrets["access_token"],
                    token_type="Bearer",
                    expires_in=token_meta.get("expires_in"),
                    scope=token_meta.get("scope"),
                    refresh_token=secrets.get("refresh_token"),
                )
                context.token_expiry_time = token_meta.get("expires_at")
                self._id_token = secrets.get("id_token")
        client = record.get("client")
        if client and not self.options.client_id:
            try:
                info = OAuthClientInformationFull.model_validate(
                    {**client, "client_secret": secrets.get("client_secret")}
                )
            except ValidationError:
                info = None
            if info is not None and (context.client_info is None or context.client_info.client_id != info.client_id):
                context.client_info = info
        metadata = record.get("metadata") or {}
        try:
            if context.protected_resource_metadata is None and metadata.get("protected_resource"):
                context.protected_resource_metadata = ProtectedResourceMetadata.model_validate(
                    metadata["protected_resource"]
                )
            if context.oauth_metadata is None and metadata.get("authorization_server"):
                context.oauth_metadata = OAuthMetadata.model_validate(metadata["authorization_server"])
        except ValidationError:
            pass
        if context.auth_server_url is None and metadata.get("auth_server_url"):
            context.auth_server_url = metadata["auth_server_url"]

    async def save(self) -> None:
        """Write this process's view (tokens, client, metadata) to the store; the caller holds the lock."""
        context = self.context
        record: dict[str, Any] = {"url": self.options.server_url, "secrets": {}}
        if context.client_info is not None:
            client = context.client_info.model_dump(mode="json", exclude_none=True)
            record["secrets"]["client_secret"] = client.pop("client_secret", None)
            record["client"] = client
        tokens = context.current_tokens
        if tokens is not None:
            record["tokens"] = {
                "token_type": tokens.token_type,
                "expires_in": tokens.expires_in,
                "scope": tokens.scope,
                "expires_at": context.token_expiry_time,
            }
            record["secrets"].update(
                access_token=tokens.access_token, refresh_token=tokens.refresh_token, id_token=self._id_token
            )
        metadata: dict[str, Any] = {}
        if context.protected_resource_metadata is not None:
            metadata["protected_resource"] = context.protected_resource_metadata.model_dump(mode="json", exclude_none=True)
        if context.oauth_metadata is not None:
            metadata["authorization_server"] = context.oauth_metadata.model_dump(mode="json", exclude_none=True)
        if context.auth_server_url:
            metadata["auth_server_url"] = context.auth_server_url
        if metadata:
            record["metadata"] = metadata
        await self.store.write(self.options.name, record)

    # -- choosing the bearer ---------------------------------------------------------------------------

    def _uses_id_token(self) -> bool:
        """The ID token is the bearer with --bearer id_token, or against Google; the access token otherwise
        (and whenever there is no ID token: a server that wants one then asks for a new sign-in)."""
        if self._id_token is None or self.options.bearer == "access_token":
            return False
        if self.options.bearer == "id_token":
            return True
        metadata = self.context.oauth_metadata
        issuer = str(metadata.issuer).rstrip("/") if metadata is not None else ""
        return issuer in GOOGLE_ISSUERS

    def _bearer(self) -> str | None:
        tokens = self.context.current_tokens
        if tokens is None or not tokens.access_token:
            return None
        return self._id_token if self._uses_id_token() else tokens.access_token

    def _usable_bearer(self) -> str | None:
        expiry = self.context.token_expiry_time
        if expiry is not None:
            tokens = self.context.current_tokens
            lifetime = tokens.expires_in if tokens is not None and tokens.expires_in else None
            skew = min(EXPIRY_SKEW_SECONDS, lifetime / 4) if lifetime else EXPIRY_SKEW_SECONDS
            if self.clock() >= expiry - skew:
                return None
        return self._bearer()

    # -- the flow --------------------------------------------------------------------------------------

    def sign_in_before_next_request(self, metadata_url: str) -> None:
        """Sign in with the next request although the server would answer it without credentials.

        For `--check` on a server whose public methods (its `ping`) never challenge: it publishes RFC 9728
        protected resource metadata at `metadata_url`, and the next request starts the sign-in as a 401
        naming that metadata would (no request with a made-up token, which the server would count as an
        authentication failure).
        """
        self._sign_in_first = metadata_url

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        bearer = self._usable_bearer()
        rejected: str | None = None
        step_up = False
        answered = False  # whether httpx holds a response to return if nothing more is sent
        challenge: httpx2.Response | None = None
        if self._sign_in_first is not None and self.context.current_tokens is None:
            header = f'Bearer resource_metadata="{self._sign_in_first}"'
            challenge = httpx2.Response(401, headers={"WWW-Authenticate": header}, request=request)
        self._sign_in_first = None
        if challenge is None and (bearer or self.context.current_tokens is None):
            # A valid token, or none at all (many servers never ask): send it as it is.
            if bearer:
                request.headers["Authorization"] = f"Bearer {bearer}"
            response = yield request
            if not _challenged(response):
                return
            rejected, step_up, answered = bearer, response.status_code == 403, True
        # No token the server accepts (or an expired one): sign in or refresh, one process at a time.
        async with self.store.lock:
            self._adopt(await self._record())
            bearer = self._usable_bearer()
            if bearer and bearer != rejected:
                request.headers["Authorization"] = f"Bearer {bearer}"
                response = yield request
                if not _challenged(response):
                    return
                rejected, step_up, answered = bearer, response.status_code == 403, True
            if self.clock() - self._last_sign_in > SIGN_IN_ATTEMPTS_RESET_SECONDS:
                self._failed_sign_ins = 0
            if self._failed_sign_ins >= MAX_SIGN_IN_ATTEMPTS:
                # The server keeps refusing what sign-in gets: stop asking the user, pass its answer on.
                if not answered:
                    yield request
                return
            if (
                self.context.current_tokens is not None
                and not step_up
                and (rejected is not None or self.context.can_refresh_token())
            ):
                # A token the server refused, or one about to expire: refresh it before anything else
                # (an expiry in the past: the provider reads 0 as "never expires"). A token refused
                # for its scope (403) stays: the provider sends it again to read the scope wanted.
                self.context.token_expiry_time = 1.0
            request.headers.pop("Authorization", None)
            sign_ins = self.sign_ins
            final: httpx2.Response | None = None
            flow = self.provider.async_auth_flow(request)
            try:
                outgoing = await flow.__anext__()
                while True:
                    if outgoing is request:
                        self._apply_bearer(outgoing)
                    if outgoing is request and challenge is not None:
                        response, challenge = challenge, None  # the challenge the server did not send
                    else:
                        response = yield outgoing
                    if outgoing is request:
                        final = response
                        if _challenged(response):
                            self._prepare_challenge(response)
                    elif _is_token_request(outgoing):
                        await self._observe_token_response(outgoing, response)
                    outgoing = await flow.asend(response)
            except StopAsyncIteration:
                pass
            finally:
                await flow.aclose()
            if final is not None and not _challenged(final):
                self._failed_sign_ins = 0
                if self.sign_ins != sign_ins and self.on_sign_in is not None:
                    await self.on_sign_in()
            elif self.sign_ins != sign_ins:
                self._failed_sign_ins += 1
                self._last_sign_in = self.clock()

    def _apply_bearer(self, request: httpx2.Request) -> None:
        """The provider put the access token on the request; use the ID token instead when that is the bearer."""
        if "Authorization" in request.headers and self._uses_id_token():
            request.headers["Authorization"] = f"Bearer {self._id_token}"

    def _prepare_challenge(self, response: httpx2.Response) -> None:
        """What the provider reads from a challenge: the renamed header, and --scope."""
        challenge = _challenge_header(response)
        if challenge is None:
            return
        scope = self.options.scope
        if scope:
            server_scope = _scope_param(challenge)
            if response.status_code == 403 and server_scope:
                scope = union_scopes(scope, server_scope) or scope
            challenge = _with_scope(challenge, scope)
        response.headers["WWW-Authenticate"] = challenge

    async def _observe_token_response(self, request: httpx2.Request, response: httpx2.Response) -> None:
        """Keep the ID token of a token response (the provider's token model has no field for it)."""
        if response.status_code != 200:
            return
        try:
            body = (await response.aread()) and response.json()
        except (ValueError, httpx2.StreamError):
            return
        if not isinstance(body, dict):
            return
        new = body.get("id_token") if isinstance(body.get("id_token"), str) else None
        if b"grant_type=refresh_token" in (request.content or b""):
            # OpenID Connect: a refresh may omit the ID token; the one from the sign-in still names the user.
            self._id_token = new or self._id_token
        else:
            self._id_token = new

    async def _redirect(self, authorization_url: str) -> None:
        self.sign_ins += 1
        parts = urlsplit(authorization_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(query)
        self.callback.expect(params.get("state"))
        if parts.hostname == "accounts.google.com":
            # Google issues refresh tokens only for offline access, and only on a consent screen.
            for key, value in (("access_type", "offline"), ("prompt", "consent")):
                if key not in params:
                    query.append((key, value))
            authorization_url = urlunsplit(parts._replace(query=urlencode(query)))
        self._choose_token_endpoint_auth_method()
        print(
            f"{PROG}: sign in to {self.options.name} ({self.options.server_url}) in your browser:\n"
            f"  {authorization_url}",
            file=sys.stderr,
            flush=True,
        )
        if self.options.open_browser:
            open_browser_in_background(authorization_url, self.opener)

    async def _callback(self) -> AuthorizationCodeResult:
        return await self.callback.wait(self.options.sign_in_timeout)

    def _choose_token_endpoint_auth_method(self) -> None:
        """A pre-registered secret goes in a Basic header unless the server only takes it in the body."""
        client = self.context.client_info
        metadata = self.context.oauth_metadata
        if not (self.options.client_id and client is not None and client.client_secret and metadata is not None):
            return
        supported = metadata.token_endpoint_auth_methods_supported
        if supported and "client_secret_basic" not in supported and "client_secret_post" in supported:
            client.token_endpoint_auth_method = "client_secret_post"


class _Storage:
    """The provider's `TokenStorage`: the store record of this server (read and written under the lock)."""

    def __init__(self, auth: ProxyAuth) -> None:
        self.auth = auth

    async def get_tokens(self) -> OAuthToken | None:
        record = await self.auth._record()
        secrets = record.get("secrets") or {}
        if not secrets.get("access_token"):
            return None
        meta = record.get("tokens") or {}
        return OAuthToken(
            access_token=secrets["access_token"],
            expires_in=meta.get("expires_in"),
            scope=meta.get("scope"),
            refresh_token=secrets.get("refresh_token"),
        )

    async def set_tokens(self, tokens: OAuthToken) -> None:
        await self.auth.save()

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        if self.auth.options.client_id:
            return self.auth.preregistered_client()
        return self.auth.context.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        await self.auth.save()
