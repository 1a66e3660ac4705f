"""Shared fixtures. A real PostgreSQL for the database tests: `DATABASE_URL`'s server when set, else the embedded one.

Each test session gets a database of its own (created, migrated, dropped), so runs do not see each
other's rows and the tests can count exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pg8000.native
import pytest

from mcp_lambda.local.database import embedded_url, ensure_database, migrate
from mcp_lambda.database import DatabaseConfig, connect

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "servers" / "messaging" / "migrations"


DISTRIBUTIONS = ("mcp-lambda-runtime", "mcp-lambda-cdk", "mcp-lambda-proxy")


@pytest.fixture(scope="session")
def built_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`make wheels`: every distribution of packages/, built once per test session."""
    out = tmp_path_factory.mktemp("dist")
    # setuptools is pinned in requirements.txt, so no build environment needs to be downloaded.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "-w", str(out), *(str(ROOT / "packages" / name) for name in DISTRIBUTIONS)],
                   check=True, cwd=out)
    return {name: next(out.glob(f"{name.replace('-', '_')}-*.whl")) for name in DISTRIBUTIONS}


@pytest.fixture(scope="session")
def admin_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded_url(ROOT / ".local" / "pgdata-test")


@pytest.fixture(scope="session")
def database_url(admin_url):
    name = f"mcp_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin_url, name)
    migrate(url, [MIGRATIONS])
    yield url
    admin = connect(DatabaseConfig.from_url(admin_url))
    try:
        admin.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(name)} WITH (FORCE)")
    finally:
        admin.close()


@pytest.fixture
def admin(database_url):
    """A connection of the test's own to the test database, for arranging faults and counting rows."""
    connection = connect(DatabaseConfig.from_url(database_url))
    yield connection
    connection.close()


@pytest.fixture
def messaging(database_url, monkeypatch):
    """A fresh messaging function (its own runtime and lifespan) on the test database."""
    from mcp_lambda import McpLambdaRuntime
    from messaging.server import mcp

    monkeypatch.setenv("DATABASE_URL", database_url)
    runtime = McpLambdaRuntime(mcp)
    yield runtime
    runtime.close()
