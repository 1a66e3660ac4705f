"""The authorization server as a Lambda function: `mcp_lambda.authorization.handler.handler`.

The service is built once per execution environment, at the first request (the KMS public key, the upstream
client secret and the upstream discovery document are read then, not at import, so a cold start that only
answers a metadata request stays cheap), from the environment the McpAuthorizationServer construct sets:
`MCP_AS_CONFIG_PARAMETER` (or `MCP_AS_CONFIG`), `MCP_AS_TABLE`, `MCP_AS_KMS_KEY_ID`, `MCP_AS_UPSTREAM_SECRET`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from mcp_lambda import contract as c
from mcp_lambda.authorization.cimd import MetadataFetcher
from mcp_lambda.authorization.clients import StoreCache
from mcp_lambda.authorization.config import AuthorizationConfig
from mcp_lambda.authorization.service import AuthorizationService
from mcp_lambda.authorization.signing import KmsSigner
from mcp_lambda.authorization.store import store_from_environment
from mcp_lambda.authorization.upstream import UpstreamProvider
from mcp_lambda.events import EventFormatError, HttpResponse, parse_event, to_lambda_response
from mcp_lambda.observability import logger


def callback_url(config: AuthorizationConfig) -> str:
    """Where the upstream provider sends people back: register exactly this with it."""
    return f"{config.issuer.rstrip('/')}/callback"


def service_from_environment(environ: Mapping[str, str] | None = None) -> AuthorizationService:
    environ = os.environ if environ is None else environ
    config = AuthorizationConfig.from_environment(environ)
    store = store_from_environment()
    key_id = environ.get(c.MCP_AS_KMS_KEY_ID)
    if not key_id:
        raise RuntimeError(f"{c.MCP_AS_KMS_KEY_ID} is not set")
    upstream = UpstreamProvider(config.upstream, callback_url(config), client_secret=_upstream_secret(environ))
    fetcher = MetadataFetcher(cache=StoreCache(store), allow_private_addresses=config.allow_private_metadata_urls)
    return AuthorizationService(config, store=store, signer=KmsSigner(key_id), upstream=upstream, fetcher=fetcher)


def _upstream_secret(environ: Mapping[str, str]) -> str | None:
    """The upstream client secret from Secrets Manager: the secret's string, or its `client_secret` field
    when it is JSON (as Cognito app client secrets are stored by the construct)."""
    secret_id = environ.get(c.MCP_AS_UPSTREAM_SECRET)
    if not secret_id:
        return None
    import boto3

    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        document = json.loads(value)
    except ValueError:
        return value
    return document.get("client_secret") if isinstance(document, dict) else value


class AuthorizationFunction:
    """A Lambda handler serving one AuthorizationService, made by `factory` at the first request."""

    def __init__(self, factory: Callable[[], AuthorizationService]) -> None:
        self._factory = factory
        self._service: AuthorizationService | None = None
        self._lock = threading.Lock()

    @property
    def service(self) -> AuthorizationService:
        with self._lock:
            if self._service is None:
                self._service = self._factory()
            return self._service

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        try:
            request = parse_event(event)
        except EventFormatError as exc:
            logger.warning("unsupported event", reason=str(exc))
            return to_lambda_response(HttpResponse(400, [("content-type", "application/json")],
                                                   b'{"error":"invalid_request"}'), "2.0")
        return to_lambda_response(self.service.handle(request), request.payload_format)


handler = AuthorizationFunction(service_from_environment)
