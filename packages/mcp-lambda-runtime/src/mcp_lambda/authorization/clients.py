"""The clients the authorization server knows: those that registered (RFC 7591) and those whose client id is
the URL of their metadata document (CIMD), as Authlib's `ClientMixin`.

A registered client is stored (its secret only as a SHA-256 hash); a CIMD client is fetched (cimd.py) and
cached. Either way a redirect URI must be one the client declared, compared exactly, except that a loopback
redirect URI matches on any port (RFC 8252 §7.3: a native app listens on a port chosen when it runs).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError

from mcp_lambda.authorization.cimd import MetadataFetcher, is_metadata_url, redirect_uri_problem
from mcp_lambda.authorization.store import Store

CLIENT_TTL = 365 * 24 * 3600
GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
MAX_REDIRECT_URIS = 10
MAX_TEXT = 200
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def redirect_matches(registered: str, requested: str) -> bool:
    """Exact match, or the same loopback URI on another port (RFC 8252 §7.3)."""
    if registered == requested:
        return True
    a, b = urlsplit(registered), urlsplit(requested)
    return (a.scheme == b.scheme == "http" and a.hostname in _LOOPBACK and a.hostname == b.hostname
            and (a.path or "/") == (b.path or "/") and a.query == b.query and not b.fragment)


@dataclass(frozen=True)
class Client(ClientMixin):
    client_id: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str = "none"
    grant_types: tuple[str, ...] = GRANT_TYPES
    client_name: str | None = None
    client_uri: str | None = None
    scope: str | None = None
    secret_hash: str | None = None
    metadata_document: bool = False
    """The client id is the URL of its metadata document: its name is vouched for by that URL's host."""
    supported_scopes: tuple[str, ...] = field(default=(), compare=False)

    # -- ClientMixin ---------------------------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OAuth 2.1: the redirect URI is always named in the request

    def get_allowed_scope(self, scope: str | None) -> str:
        """The scopes of `scope` this server knows and the client registered for ("" for none: the
        authorization endpoint itself widens an empty request to every scope, see service.py)."""
        allowed = set(self.supported_scopes)
        if self.scope:
            allowed &= set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_matches(registered, redirect_uri) for registered in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and hmac.compare_digest(self.secret_hash, _hash(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    # -- what the consent page shows ----------------------------------------------------------------------
    @property
    def display_name(self) -> str:
        return (self.client_name or "").strip()[:MAX_TEXT] or "An unnamed application"

    @property
    def vouched_by(self) -> str | None:
        """The host that published the client's metadata (CIMD), or None for a self-registered client."""
        return urlsplit(self.client_id).hostname if self.metadata_document else None

    def to_json(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "redirect_uris": list(self.redirect_uris),
                "token_endpoint_auth_method": self.token_endpoint_auth_method, "grant_types": list(self.grant_types),
                "client_name": self.client_name, "client_uri": self.client_uri, "scope": self.scope,
                "secret_hash": self.secret_hash}


class StoreCache:
    """Fetched client metadata documents, kept in the store (cimd.Cache): one fetch per document and max-age
    for every execution environment, not one per environment."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, url: str) -> dict[str, Any] | None:
        record = self.store.get("cimd", url)
        return record.item if record is not None else None

    def put(self, url: str, document_json: dict[str, Any], ttl_seconds: int) -> None:
        if ttl_seconds > 0:
            self.store.put("cimd", url, document_json, ttl=ttl_seconds)


class ClientRegistry:
    """Finds clients by id: CIMD URLs through the fetcher (cached), other ids in the store."""

    def __init__(self, store: Store, fetcher: MetadataFetcher, scopes_supported: tuple[str, ...]) -> None:
        self.store = store
        self.fetcher = fetcher
        self.scopes_supported = scopes_supported

    def find(self, client_id: str) -> Client | None:
        """The client, or None when there is none by that id. Raises cimd.ClientMetadataError when the id is a
        metadata URL whose document cannot be used (the caller answers invalid_client with its reason)."""
        if not isinstance(client_id, str) or not client_id or len(client_id) > 2048:
            return None
        if is_metadata_url(client_id):
            document = self.fetcher.fetch(client_id)
            return Client(client_id=document.client_id, redirect_uris=document.redirect_uris,
                          token_endpoint_auth_method="none",
                          grant_types=tuple(g for g in document.grant_types if g in GRANT_TYPES),
                          client_name=document.client_name, client_uri=document.client_uri, scope=document.scope,
                          metadata_document=True, supported_scopes=self.scopes_supported)
        record = self.store.get("client", client_id)
        if record is None:
            return None
        data = record.item
        return Client(client_id=data["client_id"], redirect_uris=tuple(data["redirect_uris"]),
                      token_endpoint_auth_method=data["token_endpoint_auth_method"],
                      grant_types=tuple(data["grant_types"]), client_name=data.get("client_name"),
                      client_uri=data.get("client_uri"), scope=data.get("scope"), secret_hash=data.get("secret_hash"),
                      supported_scopes=self.scopes_supported)

    def register(self, metadata: dict[str, Any]) -> tuple[Client, str | None]:
        """Store a new client from validated metadata; returns it and its secret (None for public clients)."""
        method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
        secret = secrets.token_urlsafe(32) if method != "none" else None
        client = Client(
            client_id=f"mcp-{secrets.token_urlsafe(24)}",
            redirect_uris=tuple(metadata["redirect_uris"]),
            token_endpoint_auth_method=method,
            grant_types=tuple(metadata.get("grant_types") or ("authorization_code",)),
            client_name=metadata.get("client_name"),
            client_uri=metadata.get("client_uri"),
            scope=metadata.get("scope"),
            secret_hash=_hash(secret) if secret else None,
            supported_scopes=self.scopes_supported,
        )
        self.store.put("client", client.client_id, client.to_json(), ttl=CLIENT_TTL)
        return client, secret


class RegistrationEndpoint(ClientRegistrationEndpoint):
    """RFC 7591 dynamic registration, open to anyone (as MCP clients expect), for the clients this server can
    serve: authorization code (and refresh), redirect URIs a native or web client may use, no software statements."""

    def __init__(self, server: Any, registry: ClientRegistry, metadata: dict[str, Any]) -> None:
        super().__init__(server)
        self.registry = registry
        self.metadata = metadata

    def create_registration_response(self, request: Any) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        data = request.payload.data
        if not isinstance(data, dict):
            raise InvalidClientMetadataError("the registration request must be a JSON object")
        uris = data.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS or not all(
                redirect_uri_problem(u) is None for u in uris):
            raise InvalidRedirectUriError()
        for key in ("client_name", "client_uri", "scope"):
            if key in data and (not isinstance(data[key], str) or len(data[key]) > MAX_TEXT * 5):
                raise InvalidClientMetadataError(f"{key} must be a short string")
        grant_types = data.get("grant_types", ["authorization_code"])
        if not isinstance(grant_types, list) or "authorization_code" not in grant_types or not set(grant_types) <= set(GRANT_TYPES):
            raise InvalidClientMetadataError("grant_types must include authorization_code and may add refresh_token")
        if data.get("response_types", ["code"]) != ["code"]:
            raise InvalidClientMetadataError("response_types may only be code")
        method = data.get("token_endpoint_auth_method", "client_secret_basic")
        if method not in AUTH_METHODS:
            raise InvalidClientMetadataError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
        metadata = self.extract_client_metadata(request)
        metadata.update(redirect_uris=uris, grant_types=grant_types, token_endpoint_auth_method=method)
        client, secret = self.registry.register(metadata)
        body = {**{k: v for k, v in metadata.items() if v is not None}, "client_id": client.client_id,
                "client_id_issued_at": int(time.time())}
        if secret:
            body.update(client_secret=secret, client_secret_expires_at=0)
        return 201, body, [("content-type", "application/json"), ("cache-control", "no-store")]

    def authenticate_token(self, request: Any) -> bool:
        return True  # open registration: what a client may do is decided at sign-in, by the person, on the consent page

    def get_server_metadata(self) -> dict[str, Any]:
        return self.metadata


class InvalidRedirectUriError(InvalidClientMetadataError):
    error = "invalid_redirect_uri"
    description = ("redirect_uris must be 1 to 10 absolute URIs without fragments: https, http on a loopback "
                   "address, or a private-use scheme")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
