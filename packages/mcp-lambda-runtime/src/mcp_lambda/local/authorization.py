"""The authorization server of `make serve`: the deployed Lambda handler (mcp_lambda.authorization), in front of
the development issuer as its upstream provider, the way the deployed one sits in front of Cognito.

It is served at `/oauth` (RFC 8414 metadata at `/.well-known/oauth-authorization-server/oauth`), issues tokens
for every local server with sign-in, and gives each scope those servers declare to people in the group of
the same name (the development sign-in page asks for groups, as Cognito has them). State lives in memory;
the signing key in `.local/dev-oidc/authorization.pem`, so tokens outlive a restart. Client ID metadata
documents may be fetched from loopback and private addresses here (for clients tried locally); certificates
are still verified (`SSL_CERT_FILE` names extra ones).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mcp_lambda.authorization.cimd import MetadataFetcher
from mcp_lambda.authorization.clients import StoreCache
from mcp_lambda.authorization.config import AuthorizationConfig
from mcp_lambda.authorization.handler import AuthorizationFunction, callback_url
from mcp_lambda.authorization.service import METADATA_PATH, AuthorizationService
from mcp_lambda.authorization.signing import PemSigner
from mcp_lambda.authorization.store import MemoryStore
from mcp_lambda.authorization.upstream import UpstreamProvider
from mcp_lambda.local.oidc_sign_in import RegisteredClient

PATH = "oauth"
UPSTREAM_CLIENT_ID = "mcp-local-authorization-server"


class LocalAuthorization:
    """The authorization server at `<base_url>/oauth` for `resources`, signing people in at `upstream_issuer`."""

    def __init__(self, base_url: str, upstream_issuer: str, *, resources: Sequence[str], scopes: Sequence[str],
                 key_dir: Path | None = None) -> None:
        self.issuer = f"{base_url}/{PATH}"
        config = AuthorizationConfig.parse(json.dumps({
            "issuer": self.issuer,
            "resources": list(resources),
            "upstream": {"issuer": upstream_issuer, "client_id": UPSTREAM_CLIENT_ID},
            "scope_rules": [{"scope": scope, "groups": [scope]} for scope in scopes],
            "allow_private_metadata_urls": True,
        }))
        secret = secrets.token_urlsafe(32)  # the upstream client is registered anew at every start
        self.upstream_client = RegisteredClient(UPSTREAM_CLIENT_ID, secret, callback_url(config))
        store = MemoryStore()
        signer = PemSigner(_key(key_dir))

        def build() -> AuthorizationService:
            upstream = UpstreamProvider(config.upstream, callback_url(config), client_secret=secret)
            fetcher = MetadataFetcher(cache=StoreCache(store), allow_private_addresses=True)
            return AuthorizationService(config, store=store, signer=signer, upstream=upstream, fetcher=fetcher)

        self.handler = AuthorizationFunction(build)

    def event_path(self, path: str) -> str | None:
        """The path to give the handler for a request to `path` of the local server, or None if not its own."""
        if path == f"{METADATA_PATH}/{PATH}":
            return f"/{PATH}{METADATA_PATH}"  # RFC 8414 §3: the well-known part before the issuer's path
        if path.startswith(f"/{PATH}/"):
            return path
        return None


def _key(key_dir: Path | None) -> rsa.RSAPrivateKey:
    if key_dir is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = key_dir / "authorization.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)  # type: ignore[return-value]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key
