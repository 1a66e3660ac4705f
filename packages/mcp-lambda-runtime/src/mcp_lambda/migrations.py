"""Schema migrations, applied at deploy time (a CloudFormation custom resource) and by the local dev loop.

Tools never create or alter tables at request time. A service keeps numbered SQL files
(`001_messages.sql`, ...) in its `migrations/` folder; `apply` runs the ones not yet recorded in
`schema_migrations`, each in its own transaction, under an advisory lock so that concurrent deployments
(or two local servers) cannot apply the same file twice. Applying again is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from mcp_lambda import contract as c
from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.observability import logger

# Any constant works; it only has to be the same for every process migrating this database (and making its
# users: mcp_lambda.database_users takes the same lock).
LOCK_KEY = 0x4D43504D  # "MCPM"


def migration_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if p.name[:3].isdigit())


def apply(connection: pg8000.native.Connection, directory: Path) -> list[str]:
    """Apply pending migrations from `directory`; returns the names applied now."""
    connection.run("SELECT pg_advisory_lock(:key)", key=LOCK_KEY)
    try:
        connection.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {name: checksum for name, checksum in connection.run("SELECT name, checksum FROM schema_migrations")}
        applied: list[str] = []
        for path in migration_files(directory):
            sql = path.read_text()
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if path.name in done:
                if done[path.name] != checksum:
                    raise RuntimeError(f"migration {path.name} changed after it was applied; add a new file instead")
                continue
            # The simple query protocol runs a file of several statements; BEGIN/COMMIT make it atomic.
            connection.execute_simple("BEGIN")
            try:
                connection.execute_simple(sql)
                connection.run(
                    "INSERT INTO schema_migrations (name, checksum) VALUES (:name, :checksum)",
                    name=path.name,
                    checksum=checksum,
                )
                connection.execute_simple("COMMIT")
            except Exception:
                connection.execute_simple("ROLLBACK")
                raise
            applied.append(path.name)
            logger.info("Applied migration", migration=path.name)
        return applied
    finally:
        connection.run("SELECT pg_advisory_unlock(:key)", key=LOCK_KEY)


def connect_with_retry(config: DatabaseConfig, attempts: int = 8, first_delay: float = 2.0) -> pg8000.native.Connection:
    """Connect, waiting with exponential backoff (2 s, 4 s, ... about 4 minutes in all).

    On a first deployment the proxy's target may still be registering, and secret rotation starts right
    after the database is created: both make the first connections fail for a while.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return connect(config)
        except (InterfaceError, DatabaseError, OSError) as exc:
            if attempt == attempts:
                raise
            logger.warning("Database not ready for migrations; retrying", attempt=attempt, delay=delay,
                           error=type(exc).__name__)
            time.sleep(delay)
            delay = min(delay * 2, 60.0)
    raise AssertionError("unreachable")


def migrations_directory(env: Mapping[str, str] | None = None) -> Path:
    """`MCP_MIGRATIONS_DIR`: the folder of SQL files, relative to the code root (`LAMBDA_TASK_ROOT` on Lambda)."""
    env = os.environ if env is None else env
    if not env.get(c.MCP_MIGRATIONS_DIR):
        raise ValueError(f"{c.MCP_MIGRATIONS_DIR} is not set: the migrations folder, relative to the code root")
    return Path(env.get("LAMBDA_TASK_ROOT") or ".") / env[c.MCP_MIGRATIONS_DIR]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """CloudFormation custom resource (CDK Provider framework `on_event`): migrate on Create and Update.

    `MCP_MIGRATIONS_DIR` names the folder relative to the code root (`migrations`, shipped beside the runtime).
    Delete leaves the schema alone: the data outlives the stack unless the database itself is removed.
    The same function makes the database users of the servers that use these migrations
    (`Custom::McpDatabaseUser`, `mcp_lambda.database_users`), after the migrations, as the same owner.
    """
    if event.get("ResourceType") == c.DATABASE_USER_RESOURCE_TYPE:
        from mcp_lambda.database_users import on_event

        config = DatabaseConfig.from_env()
        return on_event(event, lambda retry: connect_with_retry(config) if retry else connect(config))
    physical_id = event.get("PhysicalResourceId") or "schema-migrations"
    if event.get("RequestType") == "Delete":
        return {"PhysicalResourceId": physical_id}
    directory = migrations_directory()
    connection = connect_with_retry(DatabaseConfig.from_env())
    try:
        applied = apply(connection, directory)
    finally:
        connection.close()
    return {"PhysicalResourceId": physical_id, "Data": {"Applied": ",".join(applied) or "none"}}
