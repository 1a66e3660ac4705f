"""The authorization server's endpoints, on Authlib's OAuth 2.0 server components.

    GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
    GET  /jwks.json                                 the access tokens' signing key
    POST /register                                  RFC 7591 dynamic client registration
    GET  /authorize                                 validate the client's request, then sign in upstream
    GET  /callback                                  the upstream provider's answer -> the consent page
    POST /consent                                   the person's answer -> the code, to the client
    POST /token                                     authorization_code (PKCE S256) and refresh_token grants
    POST /revoke                                    RFC 7009

Authlib validates what RFC 6749 / 7636 / 7591 / 7009 define (parameters, client authentication, PKCE, grant
and response types) and produces the RFC's error for each failure; this module adds what no library has: the
sign-in delegated to an upstream provider, the consent page, the `resource` indicator (RFC 8707) bound into
the token's audience, and scopes derived from the upstream identity.

A sign-in in progress is a *flow*, stored for 10 minutes under an unguessable id that is also the upstream
`state`. The browser that starts it gets a cookie with a second secret; the callback and the consent
must come from that browser (a flow started by an attacker and completed by a victim is refused), and the
consent form carries a third secret (CSRF). A flow is taken atomically when answered, so one consent
issues at most one code. Before the code, the person sees which client asks (and whether its name is
vouched for by the host of its metadata URL), for which server, with which scopes, and where the browser
will be sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    JsonPayload,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from starlette.datastructures import Headers

from mcp_lambda.authorization.cimd import ClientMetadataError, MetadataFetcher
from mcp_lambda.authorization.clients import AUTH_METHODS, ClientRegistry, RegistrationEndpoint
from mcp_lambda.authorization.config import AuthorizationConfig
from mcp_lambda.authorization.grants import AccessTokens, Grant, Grants, RefreshToken
from mcp_lambda.authorization.pages import ConsentView, consent_page, error_page
from mcp_lambda.authorization.signing import Signer, jwks
from mcp_lambda.authorization.store import Store
from mcp_lambda.authorization.upstream import Identity, UpstreamError, UpstreamProvider
from mcp_lambda.events import HttpRequest, HttpResponse
from mcp_lambda.observability import logger

METADATA_PATH = "/.well-known/oauth-authorization-server"
FLOW_TTL = 600
MAX_BODY = 64 * 1024
COOKIE = "mcp_as_flow"
_JSON = [("content-type", "application/json"), ("cache-control", "no-store"), ("pragma", "no-cache")]
_CORS = [("access-control-allow-origin", "*"), ("access-control-allow-methods", "GET, POST, OPTIONS"),
         ("access-control-allow-headers", "authorization, content-type, mcp-protocol-version"),
         ("access-control-max-age", "600")]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the `resource` is not one this server issues tokens for."""

    error = "invalid_target"


# -- Authlib's view of a request ---------------------------------------------------------------------------


class _Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: dict[str, list[str]] = {}
        for name, value in pairs:
            self._data.setdefault(name, value)
            self._datalist.setdefault(name, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, self._datalist)


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Headers, query: list[tuple[str, str]],
                 form: list[tuple[str, str]]) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _JsonPayload(JsonPayload):
    def __init__(self, data: Any) -> None:
        self._data = data

    @property
    def data(self) -> Any:
        return self._data


class _Response:
    """What Authlib's `handle_response` produces here; `location` is what RFC 9207's extension rewrites."""

    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.body = body
        self.headers = [(name.lower(), value) for name, value in headers]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k != "location"] + [("location", value)]

    def http(self) -> HttpResponse:
        if isinstance(self.body, (dict, list)):
            body = json.dumps(self.body).encode()
            headers = [(k, v) for k, v in self.headers if k != "content-type"] + [("content-type", "application/json")]
        else:
            body, headers = (self.body or "").encode(), self.headers
        if not any(k == "cache-control" for k, _ in headers):
            headers = [*headers, ("cache-control", "no-store")]
        return HttpResponse(self.status, headers, body)


# -- Authlib's server, grants and endpoints, backed by this module's stores ----------------------------------


class _Server(AuthorizationServer):
    def __init__(self, service: AuthorizationService) -> None:
        super().__init__()
        self.service = service

    def query_client(self, client_id: str) -> Any:
        try:
            return self.service.clients.find(client_id)
        except ClientMetadataError as exc:
            raise InvalidClientError(description=exc.description) from None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.service.save_token(token, request)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> JsonRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> _Response:
        return _Response(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class _Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class _S256Only(CodeChallenge):
    """PKCE required of every client, S256 only (OAuth 2.1 §4.1.1; MCP authorization: clients MUST use S256)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("code_challenge is required (PKCE)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("code_verifier is required (PKCE)")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: Any) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: Any) -> str:
        return authorization_code.code_challenge_method


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.service.grants.save_code(code, request.user, request.payload.redirect_uri,
                                             data["code_challenge"], data["code_challenge_method"])

    def query_authorization_code(self, code: str, client: Any) -> Any:
        return self.server.service.grants.redeem_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: Any) -> None:
        pass  # taken from the store when redeemed (query_authorization_code), atomically

    def authenticate_user(self, authorization_code: Any) -> Grant:
        self.server.service.check_token_resource(self.request, authorization_code.grant)
        return authorization_code.grant


class _RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        return self.server.service.grants.find_refresh_token(refresh_token)

    def authenticate_user(self, refresh_token: RefreshToken) -> Grant:
        self.server.service.check_token_resource(self.request, refresh_token.grant)
        return refresh_token.grant

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        pass  # rotated in save_token, by compare-and-swap on the family


class _Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> RefreshToken | None:
        # Access tokens are self-contained JWTs that expire within the hour; only refresh tokens are revocable.
        if token_type_hint == "access_token":
            return None
        family, _, _ = token_string.partition(".")
        record = self.server.service.store.get("family", family) if family else None
        if record is None or not hmac.compare_digest(record.item["current"], _hash(token_string)):
            return None
        return RefreshToken(Grant.from_json(record.item["grant"]), record.version)

    def revoke_token(self, token: RefreshToken, request: Any) -> None:
        self.server.service.grants.revoke_family(token.grant.family)


class _Registration(RegistrationEndpoint):
    def create_endpoint_request(self, request: Any) -> Any:
        return request


# -- the service -------------------------------------------------------------------------------------------


class AuthorizationService:
    """Every endpoint of one authorization server; `handle` answers one HTTP request."""

    def __init__(self, config: AuthorizationConfig, *, store: Store, signer: Signer, upstream: UpstreamProvider,
                 fetcher: MetadataFetcher, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.signer = signer
        self.upstream = upstream
        self.clock = clock
        self.issuer = config.issuer
        self._base_path = urlsplit(config.issuer).path.rstrip("/")
        self.clients = ClientRegistry(store, fetcher, tuple(config.scopes_supported))
        self.grants = Grants(store, refresh_token_lifetime=config.refresh_token_lifetime, clock=clock)
        self.access_tokens = AccessTokens(config.issuer, signer, config.access_token_lifetime, clock)
        self.secure_cookies = urlsplit(config.issuer).scheme == "https"

        self.server = _Server(self)
        self.server.register_grant(_CodeGrant, [_S256Only()])
        self.server.register_grant(_RefreshGrant)
        self.server.register_endpoint(_Revocation)
        self.server.register_endpoint(_Registration(self.server, self.clients, self.metadata()))
        self.server.register_extension(_Issuer(config.issuer))
        self.server.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=self._access_token,
            refresh_token_generator=lambda client, grant_type, user, scope: self.grants.new_refresh_token(user),
            expires_generator=config.access_token_lifetime,
        ))

    # -- routing ---------------------------------------------------------------------------------------
    def handle(self, request: HttpRequest) -> HttpResponse:
        path = self._relative(request.path)
        try:
            return self._route(request, path)
        except Exception:  # a defect: the client gets the RFC's generic answer, the log the trace
            logger.exception("authorization server failure", extra={"path": path})
            return HttpResponse(500, list(_JSON), b'{"error":"server_error"}')

    def _route(self, request: HttpRequest, path: str) -> HttpResponse:
        routes: dict[tuple[str, str], Callable[[HttpRequest], HttpResponse]] = {
            ("GET", METADATA_PATH): lambda r: self._json(200, self.metadata(), cors=True, cache="max-age=300"),
            ("GET", "/jwks.json"): lambda r: self._json(200, jwks(self.signer), cors=True, cache="max-age=300"),
            ("POST", "/register"): self._register,
            ("GET", "/authorize"): self._authorize,
            ("GET", "/callback"): self._callback,
            ("POST", "/consent"): self._consent,
            ("POST", "/token"): self._token,
            ("POST", "/revoke"): self._revoke,
        }
        handler = routes.get((request.method, path))
        if handler is not None:
            if len(request.body) > MAX_BODY or request.body_decode_error:
                return self._json(413 if len(request.body) > MAX_BODY else 400, {"error": "invalid_request"})
            return handler(request)
        if request.method == "OPTIONS" and path in (METADATA_PATH, "/jwks.json", "/register", "/token", "/revoke"):
            return HttpResponse(204, list(_CORS))
        if any(p == path for _, p in routes):
            allowed = ", ".join(m for m, p in routes if p == path)
            return HttpResponse(405, [*_JSON, ("allow", allowed)], b'{"error":"invalid_request"}')
        return self._json(404, {"error": "not_found"})

    def metadata(self) -> dict[str, Any]:
        issuer = self.issuer.rstrip("/")
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "registration_endpoint": f"{issuer}/register",
            "revocation_endpoint": f"{issuer}/revoke",
            "jwks_uri": f"{issuer}/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "scopes_supported": self.config.scopes_supported,
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
        }

    # -- registration, token, revocation: Authlib's endpoints -------------------------------------------
    def _register(self, request: HttpRequest) -> HttpResponse:
        message = request.message() if request.is_json() else None
        if not isinstance(message, dict):
            return self._json(400, {"error": "invalid_client_metadata",
                                    "error_description": "the body must be a JSON object"}, cors=True)
        json_request = JsonRequest(request.method, self._url(request), Headers(raw=_raw(request.headers)))
        json_request.payload = _JsonPayload(message)
        return self._cors(self.server.create_endpoint_response("client_registration", json_request).http())

    def _token(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request)
        if form is None:
            return self._json(400, {"error": "invalid_request",
                                    "error_description": "the body must be application/x-www-form-urlencoded"}, cors=True)
        return self._cors(self.server.create_token_response(self._oauth2_request(request, form=form)).http())

    def _revoke(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request)
        if form is None:
            return self._json(400, {"error": "invalid_request"}, cors=True)
        return self._cors(self.server.create_endpoint_response("revocation", self._oauth2_request(request, form=form)).http())

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        grant: Grant = request.user
        refresh = token.get("refresh_token")
        if refresh is None:
            return
        if isinstance(request.refresh_token, RefreshToken):
            if not self.grants.rotate(request.refresh_token, refresh):
                raise InvalidGrantError("the refresh token was used more than once")
        else:
            self.grants.start_family(grant, refresh)

    def _access_token(self, client: Any, grant_type: str, user: Grant, scope: str) -> str:
        return self.access_tokens.issue(user, scope)

    def check_token_resource(self, request: OAuth2Request, grant: Grant) -> None:
        """RFC 8707 §2.2: a `resource` at the token endpoint must name the resource the grant is for."""
        resources = request.payload.datalist.get("resource", [])
        if resources and (len(resources) > 1 or resources[0] != grant.resource):
            raise InvalidTargetError(description="resource must be the one the authorization was for")

    # -- the browser's side: authorize, callback, consent -----------------------------------------------
    def _authorize(self, request: HttpRequest) -> HttpResponse:
        query = parse_qsl(request.query_string, keep_blank_values=False)
        oauth_request = self._oauth2_request(request, query=query)
        try:
            grant = self.server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return self._authorization_error(error, oauth_request)
        try:
            resource = self._resource(oauth_request)
        except InvalidTargetError as error:
            error.redirect_uri = grant.redirect_uri
            return self._authorization_error(error, oauth_request)
        # No scope asked for: every scope this server knows, narrowed to the person's at the callback.
        scope = oauth_request.scope or grant.client.get_allowed_scope(" ".join(self.config.scopes_supported))
        flow_id, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        flow = {"query": query, "client_id": grant.client.get_client_id(), "redirect_uri": grant.redirect_uri,
                "resource": resource, "scope": scope, "state": oauth_request.payload.state,
                "nonce": nonce, "verifier": verifier, "browser": _hash(browser)}
        self.store.put("flow", flow_id, flow, ttl=FLOW_TTL)
        try:
            location = self.upstream.authorization_url(state=flow_id, nonce=nonce, code_challenge=_s256(verifier))
        except UpstreamError as exc:
            logger.warning("AUTHORIZATION_FAILURE", reason=exc.reason)
            return self._redirect_error(flow, "temporarily_unavailable", exc.description)
        return HttpResponse(302, [("location", location), ("cache-control", "no-store"),
                                  ("set-cookie", self._cookie(browser))])

    def _callback(self, request: HttpRequest) -> HttpResponse:
        params = dict(parse_qsl(request.query_string))
        flow_id = params.get("state", "")
        record = self.store.get("flow", flow_id) if flow_id else None
        if record is None:
            return error_page(400, "This sign-in has expired", "Start again from the application.")
        flow = record.item
        if not self._same_browser(request, flow):
            return error_page(400, "This sign-in was started elsewhere",
                              "Sign-ins must finish in the browser that started them. Start again from the application.")
        if "error" in params or "code" not in params:
            self.store.delete("flow", flow_id)
            return self._redirect_error(flow, "access_denied", "the sign-in was cancelled or refused")
        try:
            identity = self.upstream.sign_in(params["code"], flow["verifier"], flow["nonce"])
        except UpstreamError as exc:
            logger.warning("AUTHORIZATION_FAILURE", reason=exc.reason, client_id=flow["client_id"])
            self.store.delete("flow", flow_id)
            error = "temporarily_unavailable" if exc.reason == "upstream_unreachable" else "access_denied"
            return self._redirect_error(flow, error, exc.description)
        entitled = self.config.entitled_scopes(identity.groups, identity.email, identity.email_verified)
        scopes = [s for s in flow["scope"].split() if s in entitled]
        csrf = secrets.token_urlsafe(24)
        updated = {**flow, "identity": identity.to_json(), "granted": " ".join(scopes), "csrf": csrf,
                   "auth_time": int(self.clock())}
        if not self.store.swap("flow", flow_id, updated, version=record.version):
            return error_page(400, "This sign-in has expired", "Start again from the application.")
        try:
            client = self.clients.find(flow["client_id"])
        except ClientMetadataError as exc:
            return error_page(400, "This application cannot sign in", exc.description)
        if client is None:
            return error_page(400, "This application cannot sign in", "It is no longer registered.")
        return consent_page(ConsentView(
            client_name=client.display_name, vouched_by=client.vouched_by,
            redirect_host=urlsplit(flow["redirect_uri"]).netloc or flow["redirect_uri"],
            resource_name=self.config.resource_name(flow["resource"]),
            account=identity.email or identity.name or identity.subject, scopes=tuple(scopes),
            flow=flow_id, csrf=csrf))

    def _consent(self, request: HttpRequest) -> HttpResponse:
        form = dict(self._form(request) or [])
        flow_id = form.get("flow", "")
        record = self.store.get("flow", flow_id) if flow_id else None
        if record is None or "identity" not in record.item:
            return error_page(400, "This sign-in has expired", "Start again from the application.")
        flow = record.item
        if not self._same_browser(request, flow) or not hmac.compare_digest(form.get("csrf", ""), flow["csrf"]):
            return error_page(400, "This answer cannot be accepted", "Start again from the application.")
        if self.store.take("flow", flow_id) is None:  # answered once only
            return error_page(400, "This sign-in has already been answered", "Return to the application.")
        clear = [("set-cookie", self._cookie("", clear=True))]
        if form.get("decision") != "allow":
            response = self._redirect_error(flow, "access_denied", "the person denied the request")
            return HttpResponse(response.status, [*response.headers, *clear], response.body)
        query = [(k, v) for k, v in flow["query"] if k != "scope"] + [("scope", flow["granted"])]
        oauth_request = self._oauth2_request(request, query=query, method="GET")
        grant_user = Grant(identity=Identity.from_json(flow["identity"]), client_id=flow["client_id"],
                           scope=flow["granted"], resource=flow["resource"], auth_time=flow["auth_time"])
        try:
            grant = self.server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return self._authorization_error(error, oauth_request)
        response = self.server.create_authorization_response(oauth_request, grant_user=grant_user, grant=grant).http()
        return HttpResponse(response.status, [*response.headers, *clear], response.body)

    # -- helpers ---------------------------------------------------------------------------------------
    def _resource(self, request: OAuth2Request) -> str:
        """RFC 8707: the one resource the token will be for; the only configured one when none is named."""
        named = request.payload.datalist.get("resource", [])
        if len(named) > 1:
            raise InvalidTargetError(description="one resource per authorization")
        if not named and len(self.config.resources) == 1:
            return self.config.resources[0]
        if not named or named[0] not in self.config.resources:
            raise InvalidTargetError(description="resource must name an MCP server of this authorization server")
        return named[0]

    def _authorization_error(self, error: OAuth2Error, request: OAuth2Request) -> HttpResponse:
        """RFC 6749 §4.1.2.1: errors go back to the client's redirect URI, except when the client or the
        redirect URI itself is wrong: those must never redirect, so the person sees a page."""
        redirect_uri = getattr(error, "redirect_uri", None)
        if not redirect_uri:
            description = error.description or error.error
            return error_page(400, "This sign-in request is not valid", description)
        params = {"error": error.error, "iss": self.issuer}
        if error.description:
            params["error_description"] = error.description
        if request.payload.state:
            params["state"] = request.payload.state
        return HttpResponse(302, [("location", add_params_to_uri(redirect_uri, params)), ("cache-control", "no-store")])

    def _redirect_error(self, flow: dict[str, Any], error: str, description: str) -> HttpResponse:
        params = {"error": error, "error_description": description, "iss": self.issuer}
        if flow.get("state"):
            params["state"] = flow["state"]
        return HttpResponse(302, [("location", add_params_to_uri(flow["redirect_uri"], params)),
                                  ("cache-control", "no-store")])

    def _same_browser(self, request: HttpRequest, flow: dict[str, Any]) -> bool:
        presented = _cookies(request).get(self._cookie_name(), "")
        return bool(presented) and hmac.compare_digest(_hash(presented), flow["browser"])

    def _cookie_name(self) -> str:
        # The __Host- prefix pins the cookie to this origin (no Domain, Path=/), and needs Secure: HTTPS only.
        return f"__Host-{COOKIE}" if self.secure_cookies else COOKIE

    def _cookie(self, value: str, *, clear: bool = False) -> str:
        attributes = ["Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={0 if clear else FLOW_TTL}"]
        if self.secure_cookies:
            attributes.append("Secure")
        return f"{self._cookie_name()}={value}; " + "; ".join(attributes)

    def _oauth2_request(self, request: HttpRequest, *, query: list[tuple[str, str]] | None = None,
                        form: list[tuple[str, str]] | None = None, method: str | None = None) -> _Request:
        if query is None:
            query = parse_qsl(request.query_string)
        return _Request(method or request.method, self._url(request, query), Headers(raw=_raw(request.headers)),
                        list(query), list(form or []))

    def _relative(self, path: str) -> str:
        """The path below the issuer's (which is empty for an issuer at a host's root, as on a Function URL)."""
        base = self._base_path
        if base and (path == base or path.startswith(base + "/")):
            return path[len(base):] or "/"
        return path

    def _url(self, request: HttpRequest, query: list[tuple[str, str]] | None = None) -> str:
        path = self._relative(request.path)
        return f"{self.issuer.rstrip('/')}{path}" + (f"?{urlencode(query)}" if query else "")

    def _form(self, request: HttpRequest) -> list[tuple[str, str]] | None:
        media = (request.header("content-type") or "").partition(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            return None
        try:
            return parse_qsl(request.body.decode("utf-8"), keep_blank_values=False, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return None

    def _json(self, status: int, document: Any, *, cors: bool = False, cache: str = "no-store") -> HttpResponse:
        headers = [("content-type", "application/json"), ("cache-control", cache)]
        return HttpResponse(status, [*headers, *(_CORS if cors else [])], json.dumps(document).encode())

    def _cors(self, response: HttpResponse) -> HttpResponse:
        return HttpResponse(response.status, [*response.headers, *_CORS], response.body)


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in headers]


def _cookies(request: HttpRequest) -> dict[str, str]:
    jar: dict[str, str] = {}
    for name, value in request.headers:
        if name == "cookie":
            for part in value.split(";"):
                key, _, val = part.strip().partition("=")
                jar.setdefault(key, val)
    return jar


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
