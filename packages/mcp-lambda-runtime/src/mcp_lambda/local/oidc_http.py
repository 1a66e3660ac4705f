"""The requests and replies of the development issuer, apart from the HTTP server that carries them.

`make serve`'s server (http_server.py) and the tests' `serve_issuer()` both turn what they
receive into an `IssuerRequest` and write back the `Reply`, so each endpoint is written once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))


@dataclass(frozen=True, slots=True)
class IssuerRequest:
    method: str
    path: str  # relative to the issuer URL, e.g. "/token"
    query: str = ""
    body: bytes = b""
    content_type: str = ""
    authorization: str = ""

    def media_type(self) -> str:
        return self.content_type.partition(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


def parameters(encoded: str | bytes) -> tuple[dict[str, str], set[str]]:
    """Form or query parameters, and the names sent more than once (RFC 6749 §3.1 forbids that).

    Empty values count as absent, as RFC 6749 §3.1 asks. Bytes that are not UTF-8 raise ValueError.
    """
    text = encoded.decode("utf-8") if isinstance(encoded, bytes) else encoded
    values: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in parse_qsl(text, errors="strict"):
        if name in values:
            repeated.add(name)
        values[name] = value
    return values, repeated


def json_reply(status: int, document: Any, *headers: tuple[str, str]) -> Reply:
    return Reply(status, json.dumps(document).encode(), (("content-type", "application/json"), *headers))


def html_reply(status: int, page: str) -> Reply:
    """A page of the issuer's own: never cached, never framed (a framed sign-in button can be clickjacked)."""
    return Reply(status, page.encode(), (
        ("content-type", "text/html; charset=utf-8"),
        ("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        *NO_STORE,
    ))


def redirect(location: str) -> Reply:
    return Reply(302, b"", (("location", location), *NO_STORE))
