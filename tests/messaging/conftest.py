"""The messaging tests run the handler as the messaging server's own database user, never as the owner.

The user holds exactly what `mcp_servers.MESSAGING` declares (`grants`), made as `mcp-lambda serve` and the
deployed migration function make it (`mcp_lambda.database_users.ensure_user`). Its name is the test session's
own: roles belong to the whole PostgreSQL server, which other test runs share.
"""

from __future__ import annotations

import uuid

import pytest

from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.database_users import drop_user
from mcp_lambda.local.database import prepare_user
from mcp_servers import MESSAGING


@pytest.fixture(scope="session")
def messaging_user() -> str:
    return f"{MESSAGING.database_user}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def messaging_url(database_url: str, messaging_user: str):
    """`DATABASE_URL` signing in as a user with the messaging server's grants on the test database."""
    assert MESSAGING.database_user is not None
    yield prepare_user(database_url, messaging_user, MESSAGING.table_grants)
    owner = connect(DatabaseConfig.from_url(database_url))
    try:
        drop_user(owner, messaging_user)
    finally:
        owner.close()


@pytest.fixture
def messaging(messaging_url, monkeypatch):
    """A fresh messaging function (its own runtime and lifespan) on the test database, as its own user."""
    from mcp_lambda import McpLambdaRuntime
    from messaging.server import mcp

    monkeypatch.setenv("DATABASE_URL", messaging_url)
    runtime = McpLambdaRuntime(mcp)
    yield runtime
    runtime.close()
