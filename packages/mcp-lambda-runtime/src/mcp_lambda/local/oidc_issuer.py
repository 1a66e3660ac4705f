"""A development OpenID Connect issuer, so the secure case can be tried and tested with no cloud account.

It signs real tokens (RS256 by default, ES256 on request) with keys kept in `.local/dev-oidc/` (under the
directory the local server runs in) and
publishes what a real issuer publishes: the discovery document (also as RFC 8414 metadata) and the
JWKS. Access tokens come from `mcp-lambda token --email alice@company.com`; given a registered client (the
local authorization server, mcp_lambda.authorization), it also signs people in through the browser and issues
ID tokens (mcp_lambda/local/oidc_sign_in.py), as Cognito does for the deployed one. `make serve` mounts it at
`http://127.0.0.1:$PORT/dev-oidc`; tests run it on its own loopback port. It is for loopback use only:
anyone who can reach it can get a token.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from mcp_lambda.local.oidc_http import IssuerRequest, Reply, json_reply
from mcp_lambda.local.oidc_sign_in import RegisteredClient, SignIn

DEV_AUDIENCE = "mcp-local"
DEV_SCOPES = ("messages:write",)


def _load_or_create(path: Path, create: Any) -> Any:
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = create()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key


class DevIssuer:
    """Keys, discovery document, JWKS, token minting and (for `client`) the browser sign-in of one issuer URL."""

    def __init__(self, issuer: str, key_dir: Path | None = None, *, client: RegisteredClient | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        if key_dir is None:  # throwaway keys (tests); the local server keeps its keys in .local/dev-oidc
            self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.ec_key = ec.generate_private_key(ec.SECP256R1())
        else:
            self.rsa_key = _load_or_create(key_dir / "rsa.pem",
                                           lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
            self.ec_key = _load_or_create(key_dir / "ec.pem", lambda: ec.generate_private_key(ec.SECP256R1()))
        self.kids = {"RS256": "dev-rsa-1", "ES256": "dev-ec-1"}
        self.sign_in = SignIn(self.issuer, self.mint, client, default_groups=DEV_SCOPES) if client else None

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks.json",
            **(self.sign_in.metadata() if self.sign_in else {}),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key()))
        return {"keys": [
            {**rsa_jwk, "kid": self.kids["RS256"], "use": "sig", "alg": "RS256"},
            {**ec_jwk, "kid": self.kids["ES256"], "use": "sig", "alg": "ES256"},
        ]}

    def mint(self, email: str | None = "alice@company.com", *, audience: str | list[str] = DEV_AUDIENCE,
             scopes: tuple[str, ...] = DEV_SCOPES, lifetime: int = 3600, algorithm: str = "RS256",
             headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A signed access token (RFC 9068: JOSE `typ` `at+jwt`) for `email` (None: for no person, as a client
        credentials token; give `sub`); `claims` override or add to the standard ones (None removes one),
        `headers` to the JOSE header (`{"typ": "JWT"}` makes it look like an ID token)."""
        now = int(time.time())
        payload = {
            "iss": self.issuer, "sub": f"dev|{email}" if email else None, "aud": audience, "iat": now, "nbf": now,
            "exp": now + lifetime, "email": email, "email_verified": True if email else None,
            "name": email.split("@")[0].title() if email else None,
            "scope": " ".join(scopes), "jti": uuid.uuid4().hex, **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        key = self.rsa_key if algorithm.startswith(("RS", "PS")) else self.ec_key
        return jwt.encode(payload, key, algorithm=algorithm,
                          headers={"kid": self.kids["RS256" if key is self.rsa_key else "ES256"], "typ": "at+jwt",
                                   **(headers or {})})

    def handle(self, request: IssuerRequest) -> Reply:
        """Answer a request to a path of the issuer: its documents, else its sign-in."""
        documents = {"/.well-known/openid-configuration": self.discovery, "/jwks.json": self.jwks}
        if request.path in documents:
            if request.method not in ("GET", "HEAD"):
                return json_reply(405, {"error": "method_not_allowed"}, ("allow", "GET"))
            return json_reply(200, documents[request.path]())
        if self.sign_in is None:
            return json_reply(404, {"error": "not_found"})
        return self.sign_in.handle(request)

    def issuer_path(self, path: str) -> str | None:
        """The issuer-relative path a server should hand to `handle`, or None if `path` is not the issuer's."""
        prefix = urlsplit(self.issuer).path
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
        return None


def issuer_handler(box: dict[str, DevIssuer], *, record: bool = False) -> type[BaseHTTPRequestHandler]:
    """An HTTP request handler answering with the DevIssuer in `box["issuer"]` (set once the server's port, and so
    the issuer's URL, is known), for a server of its own; `record` appends each request's path to the issuer's
    `requests`."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            issuer = box["issuer"]
            if record:
                issuer.requests.append(self.path)  # type: ignore[attr-defined]  # set by serve_issuer
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            reply = issuer.handle(IssuerRequest(self.command, url.path, url.query, body,
                                                self.headers.get("content-type", ""),
                                                self.headers.get("authorization", "")))
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_issuer(key_dir: Path | None = None, *, client: RegisteredClient | None = None) -> Iterator[DevIssuer]:
    """A DevIssuer on its own loopback port, for tests (signing people in for `client`, if given); records the
    requests it answers."""
    issuer_box: dict[str, DevIssuer] = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), issuer_handler(issuer_box, record=True))
    issuer = DevIssuer(f"http://127.0.0.1:{httpd.server_address[1]}", key_dir, client=client)
    issuer.requests = []  # type: ignore[attr-defined]
    issuer_box["issuer"] = issuer
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        httpd.shutdown()
        httpd.server_close()
