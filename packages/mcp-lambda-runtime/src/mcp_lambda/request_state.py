"""The 2026-07-28 `requestState` sealing keys, shared by every instance of a function.

The SDK seals `requestState` under a key generated per process unless told otherwise, so a client's
retry that lands on another execution environment (the normal case on Lambda) would be refused. The keys
come from configuration instead: `MCP_REQUEST_STATE_KEYS` directly, or a Secrets Manager secret named by
`MCP_REQUEST_STATE_SECRET_ARN`, fetched on first use (not at import) and cached for the environment.
"""

from __future__ import annotations

import json
from functools import cached_property

from mcp.server.request_state import AESGCMRequestStateCodec, RequestStateSecurity

from mcp_lambda.settings import RuntimeSettings


class SecretsManagerCodec:
    """An AES-256-GCM codec whose key ring is read from Secrets Manager the first time it is needed."""

    def __init__(self, secret_arn: str) -> None:
        self._secret_arn = secret_arn

    @cached_property
    def _codec(self) -> AESGCMRequestStateCodec:
        # Imported here: only functions configured with a secret pay for the parameters utility.
        from aws_lambda_powertools.utilities.parameters import get_secret

        raw = get_secret(self._secret_arn, max_age=300)
        raw = raw.decode() if isinstance(raw, bytes) else raw
        try:
            keys = json.loads(raw)
        except ValueError:
            keys = raw
        return AESGCMRequestStateCodec([keys] if isinstance(keys, str) else list(keys))

    def seal(self, payload: bytes) -> str:
        return self._codec.seal(payload)

    def unseal(self, token: str) -> bytes:
        return self._codec.unseal(token)


def request_state_security(settings: RuntimeSettings, audience: str) -> RequestStateSecurity | None:
    """The configured policy, or None for the SDK's per-process default (fine for a single process)."""
    if settings.request_state_keys:
        return RequestStateSecurity(keys=list(settings.request_state_keys), audience=audience)
    if settings.request_state_secret_arn:
        return RequestStateSecurity(codec=SecretsManagerCodec(settings.request_state_secret_arn), audience=audience)
    return None
