"""Signing keys of each issuer: discovered once, cached per execution environment, refreshed on demand.

An unknown `kid` triggers a refresh (the issuer rotated its keys) at most once per `REFRESH_INTERVAL`
per issuer, so a flood of tokens with invented `kid`s cannot turn into a flood of requests to the issuer.
The fetches use the standard library: one small GET each, at start and on rotation.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit


REFRESH_INTERVAL = 60.0
FETCH_TIMEOUT = 5.0
_MAX_DOCUMENT = 512 * 1024


class KeyUnavailable(Exception):
    """No key for this `kid`, or the issuer's keys could not be fetched."""


def fetch_json(url: str) -> Any:
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise KeyUnavailable(f"refusing to fetch keys over plain HTTP from {url}")
    request = urllib.request.Request(url, headers={"accept": "application/json", "user-agent": "mcp-lambda"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 (scheme checked)
        return json.loads(response.read(_MAX_DOCUMENT))


class IssuerKeys:
    """The JWKS of one issuer."""

    def __init__(self, issuer: str, jwks_uri: str | None = None, clock: Any = time.monotonic) -> None:
        self.issuer = issuer
        self._jwks_uri = jwks_uri
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self.fetches = 0

    def _discover(self) -> str:
        if self._jwks_uri is None:
            # OpenID Connect Discovery §4 (the issuer's terminating "/" goes before the well-known suffix), else
            # RFC 8414 §3 (the well-known part goes between the host and the issuer's path), for authorization
            # servers that are not OpenID providers; either document must name the issuer exactly as configured.
            try:
                document = fetch_json(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
            except (OSError, ValueError):
                parts = urlsplit(self.issuer)
                path = parts.path.rstrip("/")
                document = fetch_json(f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}")
            if not isinstance(document, dict) or document.get("issuer") != self.issuer:
                raise KeyUnavailable("discovery document names another issuer")
            self._jwks_uri = document["jwks_uri"]
        return self._jwks_uri

    def _refresh(self) -> None:
        self.fetches += 1
        self._fetched_at = self._clock()
        try:
            keys = fetch_json(self._discover())["keys"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyUnavailable(f"cannot fetch the signing keys of {self.issuer}: {type(exc).__name__}") from exc
        # Public signing keys only: a symmetric ("oct") key in a JWKS would let its readers forge tokens.
        self._keys = {
            key["kid"]: key
            for key in keys
            if isinstance(key, dict) and isinstance(key.get("kid"), str)
            and key.get("kty") in ("RSA", "EC", "OKP") and key.get("use", "sig") == "sig"
        }

    def key(self, kid: str) -> dict[str, Any]:
        """The JWK (as published) for `kid`."""
        with self._lock:
            if kid not in self._keys:
                due = self._fetched_at is None or self._clock() - self._fetched_at >= REFRESH_INTERVAL
                if due:
                    self._refresh()
            try:
                return self._keys[kid]
            except KeyError:
                raise KeyUnavailable("unknown kid") from None
