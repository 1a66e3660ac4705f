"""Real RS256/ES256 tokens from test issuers that serve their JWKS over loopback HTTP, and the secure
messaging function configured to trust them."""

from __future__ import annotations

import json

import pytest

from mcp_lambda.local.oidc_issuer import serve_issuer
from tests.log_records import LogRecords

RESOURCE = "https://secure.example/mcp"
AUDIENCE = "mcp-test-client"


@pytest.fixture(scope="session")
def issuer():
    with serve_issuer() as running:
        yield running


@pytest.fixture(scope="session")
def second_issuer():
    with serve_issuer() as running:
        yield running


def auth_config(*providers: dict, **extra) -> str:
    return json.dumps({"resource": RESOURCE, "providers": list(providers), **extra})


@pytest.fixture
def secure(issuer, second_issuer, database_url, monkeypatch):
    """A fresh secure-messaging function trusting both test issuers (the second one only for its own client)."""
    from mcp_lambda import McpLambdaRuntime
    from secure_messaging.server import ACCESS, mcp

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MCP_AUTH_CONFIG", auth_config(
        {"issuer": issuer.issuer, "audiences": [AUDIENCE], "allowed_domains": ["company.com"]},
        {"issuer": second_issuer.issuer, "audiences": ["second-client"]},
    ))
    runtime = McpLambdaRuntime(mcp, access=ACCESS)
    yield runtime
    runtime.close()


class AuthLog(LogRecords):
    """Collects the runtime's structured log records."""

    def failures(self) -> list[dict]:
        return [dict(r.__dict__) for r in self.records if r.getMessage() == "AUTH_FAILURE"]


@pytest.fixture
def auth_log():
    from mcp_lambda.observability import logger

    handler = AuthLog()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
