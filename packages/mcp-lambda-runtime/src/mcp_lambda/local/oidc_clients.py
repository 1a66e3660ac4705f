"""Client registration for the development issuer (RFC 7591): public clients with loopback redirect URIs.

A native client such as the proxy registers itself and gets a client ID; it has no secret (it could
not keep one, RFC 8252 §8.5) and may only be sent back to a loopback address, where the code reaches
nobody but a process on this machine.

A client ID carries its registration, signed with a key of the issuer's, instead of an entry in
memory: a proxy keeps its stored client ID across restarts of `make serve`, so it only signs in again
(its refresh token died with the old process) instead of being stuck with a client nobody knows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlsplit

from mcp_lambda.local.oidc_http import NO_STORE, IssuerRequest, Reply, json_reply

GRANT_TYPES = ["authorization_code", "refresh_token"]
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_LOOPBACK_IPS = ("127.0.0.1", "::1")


def is_loopback_redirect(uri: str) -> bool:
    """An `http` URL on a loopback host, without credentials or fragment (RFC 8252 §7.3)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        return False
    return (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and parts.username is None
            and "#" not in uri)


def redirect_matches(registered: str, requested: str) -> bool:
    """Exact match, except the port of a loopback IP (RFC 8252 §7.3): a native client listens on a port
    the OS picks at start, so the one it registered is gone by its next run."""
    if registered == requested:
        return True
    a, b = urlsplit(registered), urlsplit(requested)
    return (is_loopback_redirect(requested) and a.hostname in _LOOPBACK_IPS and a.hostname == b.hostname
            and (a.scheme, a.path, a.query) == (b.scheme, b.path, b.query))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Clients:
    """Registers clients (`POST /register`) and recognizes the client IDs it issued."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def register(self, request: IssuerRequest) -> Reply:
        """What a client asks for beyond its redirect URIs is replaced by what this issuer does (RFC 7591
        §3.2.1 allows that), and answered: the client reads from the answer what it got."""
        try:
            metadata = json.loads(request.body) if request.media_type() == "application/json" else None
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            return _error("invalid_client_metadata", "send the client metadata as a JSON object")
        uris = metadata.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and is_loopback_redirect(u)
                                                             for u in uris):
            return _error("invalid_redirect_uri",
                          "redirect_uris must be loopback http URLs, e.g. http://127.0.0.1:8976/callback")
        client = {
            "client_id": self._client_id(uris),
            "client_id_issued_at": int(time.time()),
            "redirect_uris": uris,
            "token_endpoint_auth_method": "none",
            "grant_types": GRANT_TYPES,
            "response_types": ["code"],
            "application_type": "native",
        }
        if isinstance(metadata.get("client_name"), str):
            client["client_name"] = metadata["client_name"]
        return json_reply(201, client, *NO_STORE)

    def redirect_uris(self, client_id: str | None) -> list[str] | None:
        """The redirect URIs registered with `client_id`, or None if this issuer did not issue it."""
        payload, _, signature = (client_id or "").partition(".")
        if not payload or not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            return None
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["r"]

    def _client_id(self, redirect_uris: list[str]) -> str:
        """The registration, signed; the nonce makes each registration a client of its own."""
        registration = {"n": secrets.token_urlsafe(6), "r": redirect_uris}
        payload = b64url(json.dumps(registration, separators=(",", ":")).encode())
        return f"{payload}.{self._signature(payload)}"

    def _signature(self, payload: str) -> str:
        return b64url(hmac.new(self.key, payload.encode(), hashlib.sha256).digest()[:16])


def _error(error: str, description: str) -> Reply:
    return json_reply(400, {"error": error, "error_description": description}, *NO_STORE)
