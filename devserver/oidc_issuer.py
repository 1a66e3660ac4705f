"""A development OpenID Connect issuer, so the secure case can be tried and tested with no cloud account.

It signs real tokens (RS256 by default, ES256 on request) with keys kept in `.local/dev-oidc/` and
publishes what a real issuer publishes: the discovery document and the JWKS. `make serve` mounts it at
`http://127.0.0.1:$PORT/dev-oidc`; `make token EMAIL=alice@company.com` mints a token for it. Tests
run it on its own loopback port. It is for loopback use only: anyone who can reach it can get a token.
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

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ROOT = Path(__file__).resolve().parent.parent
KEY_DIR = ROOT / ".local" / "dev-oidc"
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
    """Keys, discovery document, JWKS and token minting of one issuer URL."""

    def __init__(self, issuer: str, key_dir: Path | None = KEY_DIR) -> None:
        self.issuer = issuer.rstrip("/")
        if key_dir is None:  # throwaway keys (tests)
            self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.ec_key = ec.generate_private_key(ec.SECP256R1())
        else:
            self.rsa_key = _load_or_create(key_dir / "rsa.pem",
                                           lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
            self.ec_key = _load_or_create(key_dir / "ec.pem", lambda: ec.generate_private_key(ec.SECP256R1()))
        self.kids = {"RS256": "dev-rsa-1", "ES256": "dev-ec-1"}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks.json",
            "response_types_supported": ["code"],
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

    def mint(self, email: str = "alice@company.com", *, audience: str | list[str] = DEV_AUDIENCE,
             scopes: tuple[str, ...] = DEV_SCOPES, lifetime: int = 3600, algorithm: str = "RS256",
             headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A signed token for `email`; `claims` override or add to the standard ones."""
        now = int(time.time())
        payload = {
            "iss": self.issuer, "sub": f"dev|{email}", "aud": audience, "iat": now, "nbf": now,
            "exp": now + lifetime, "email": email, "email_verified": True, "name": email.split("@")[0].title(),
            "scope": " ".join(scopes), "jti": uuid.uuid4().hex, **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        key = self.rsa_key if algorithm.startswith(("RS", "PS")) else self.ec_key
        return jwt.encode(payload, key, algorithm=algorithm,
                          headers={"kid": self.kids["RS256" if key is self.rsa_key else "ES256"], **(headers or {})})

    def handle(self, path: str) -> tuple[int, bytes]:
        """Answer GET `path` (relative to the issuer URL)."""
        documents = {"/.well-known/openid-configuration": self.discovery, "/jwks.json": self.jwks}
        if path in documents:
            return 200, json.dumps(documents[path]()).encode()
        return 404, b'{"error":"not_found"}'


@contextmanager
def serve_issuer(key_dir: Path | None = None) -> Iterator[DevIssuer]:
    """A DevIssuer on its own loopback port, for tests; counts the requests it answers."""
    issuer_box: dict[str, DevIssuer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            issuer = issuer_box["issuer"]
            issuer.requests.append(self.path)
            status, body = issuer.handle(self.path)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = DevIssuer(f"http://127.0.0.1:{httpd.server_address[1]}", key_dir)
    issuer.requests = []  # type: ignore[attr-defined]
    issuer_box["issuer"] = issuer
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        httpd.shutdown()
        httpd.server_close()
