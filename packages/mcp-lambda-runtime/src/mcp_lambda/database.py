"""One PostgreSQL connection per execution environment, reconnected when a thaw finds it dead.

A Lambda environment is frozen between invocations; the proxy or the server may close its connection
meanwhile (idle timeouts, failovers, restarts, `pg_terminate_backend`). `Database.run` therefore
reconnects and retries once when the connection turns out to be gone. A retried statement may have run
already (the reply was lost, not the statement), so callers pass only idempotent statements to `run`:
writes carry an idempotency key and `ON CONFLICT DO NOTHING`.

Where the connection comes from (environment variables, set by the McpDatabase construct or locally):
- `DATABASE_URL`: `postgresql://user:password@host:port/dbname` (`?host=/socket/dir` for a Unix socket,
  `?sslmode=require` for TLS). Used by the local dev loop and the tests.
- Otherwise `MCP_DB_HOST` (the RDS Proxy endpoint), `MCP_DB_PORT` (5432), `MCP_DB_NAME`, and either
  `MCP_DB_SECRET_ARN` (the generated Secrets Manager secret: `username`, `password`) or
  `MCP_DB_IAM_AUTH=true` with `MCP_DB_USER` (an IAM authentication token instead of a password).
  TLS is required (`MCP_DB_TLS`, default true), as the proxy requires it.
- `MCP_DB_STATEMENT_TIMEOUT_MS` (default 5000): a statement running longer is cancelled by the server.

Every wait on the database fits in the invocation's time: connecting, and each statement's round trip, may
take the Lambda context's remaining time less `REPLY_RESERVE_SECONDS` (so a tool that gives up still has
time to say so) and never more than `SOCKET_TIMEOUT_SECONDS`. A database that stops answering (black-holed
by a security group, a failover in progress) is then a `DatabaseDeadline` the tool reports, not a Lambda
timeout the client sees as a bare 502/504. Outside an invocation (migrations, scripts) only the fixed
timeout applies.

Traced (tracing.py), each `run` is a CLIENT span named by the statement's first keyword and the database
(`SELECT mcp`), with `db.system.name`, `db.operation.name`, `db.namespace` and the server, and on failure the
SQLSTATE (or the failure's kind: `DatabaseUnavailable`, ...) as `error.type`. Never the statement's text or
parameters: migrations and users' passwords run through here too, and values are what a trace must not hold.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pg8000.native
from opentelemetry.trace import Span, SpanKind, StatusCode
from pg8000.exceptions import DatabaseError, InterfaceError

from mcp_lambda import contract as c
from mcp_lambda import snapstart, tracing
from mcp_lambda.invocation import current_invocation
from mcp_lambda.observability import logger

# SQLSTATEs after which the connection is gone but the statement can be retried on a new one:
# class 08 (connection exception), 57P01 admin_shutdown (pg_terminate_backend), 57P02 crash_shutdown,
# 57P03 cannot_connect_now (server starting).
_RECONNECT_CODES = ("57P01", "57P02", "57P03")
QUERY_CANCELED = "57014"
SOCKET_TIMEOUT_SECONDS = 30.0
REPLY_RESERVE_SECONDS = 1.0
"""Kept back from the invocation's remaining time for the tool to answer after the database gave up."""
MIN_WAIT_SECONDS = 0.05
WARM_TIMEOUT_SECONDS = 3.0
"""How long the lifespan's early connection may take: it is an optimisation, never worth a stalled start."""


class DatabaseUnavailable(Exception):
    """The database could not be reached (after a reconnect attempt).

    `maybe_ran`: the statement was sent before the connection was lost, so it may have run (a write may have
    committed with its reply lost); False when it never left (no connection could be made)."""

    def __init__(self, message: str, *, maybe_ran: bool = False) -> None:
        super().__init__(message)
        self.maybe_ran = maybe_ran


class DatabaseDeadline(DatabaseUnavailable):
    """The invocation's time ran out before the database answered."""


class StatementTimeout(Exception):
    """The server cancelled a statement that ran longer than the statement timeout."""


class NoDatabase(RuntimeError):
    """A statement in a function that has no database by declaration (``ToolPlacement(database=False)``).

    Not a `DatabaseUnavailable`, which tools report as an outage to retry: retrying cannot help, the tool is placed
    where it may not use the database. A declaration's mistake, so it is a crash to the SDK: the caller gets its
    bare tool error and the function's log the reason with its traceback."""


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    host: str | None
    port: int
    database: str
    user: str | None
    password: str | None = None
    unix_sock: str | None = None
    secret_arn: str | None = None
    iam_auth: bool = False
    tls: bool = False
    statement_timeout_ms: int = 5000
    region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabaseConfig:
        """`DATABASE_URL` (local development, tests), else the `MCP_DB_*` variables McpDatabase sets: the
        proxy endpoint, and one way to sign in, an IAM token (`MCP_DB_IAM_AUTH`) or the secret's password
        (`MCP_DB_SECRET_ARN`); both at once is refused rather than one silently ignored."""
        env = os.environ if env is None else env
        timeout = int(env.get(c.MCP_DB_STATEMENT_TIMEOUT_MS, "5000"))
        if env.get(c.DATABASE_URL):
            return cls.from_url(env[c.DATABASE_URL], statement_timeout_ms=timeout)
        if not env.get(c.MCP_DB_HOST):
            raise ValueError(f"no database configured: set {c.DATABASE_URL}, or {c.MCP_DB_HOST} with "
                             f"{c.MCP_DB_IAM_AUTH} or {c.MCP_DB_SECRET_ARN}")
        iam_auth = env.get(c.MCP_DB_IAM_AUTH, "false").lower() == "true"
        secret_arn = env.get(c.MCP_DB_SECRET_ARN) or None
        if iam_auth and secret_arn:
            raise ValueError(f"{c.MCP_DB_IAM_AUTH}=true and {c.MCP_DB_SECRET_ARN} name two ways to sign in: set one")
        return cls(
            host=env[c.MCP_DB_HOST],
            port=int(env.get(c.MCP_DB_PORT, "5432")),
            database=env.get(c.MCP_DB_NAME, "postgres"),
            user=env.get(c.MCP_DB_USER),
            secret_arn=secret_arn,
            iam_auth=iam_auth,
            tls=env.get(c.MCP_DB_TLS, "true").lower() != "false",
            statement_timeout_ms=timeout,
            region=env.get("AWS_REGION"),
        )

    @classmethod
    def from_url(cls, url: str, *, statement_timeout_ms: int = 5000) -> DatabaseConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        socket_dir = query.get("host")
        return cls(
            host=None if socket_dir else (parts.hostname or "127.0.0.1"),
            port=parts.port or 5432,
            database=unquote(parts.path.lstrip("/")) or "postgres",
            user=unquote(parts.username) if parts.username else "postgres",
            password=unquote(parts.password) if parts.password else None,
            unix_sock=f"{socket_dir}/.s.PGSQL.{parts.port or 5432}" if socket_dir else None,
            tls=query.get("sslmode", "disable") not in ("disable", "allow", "prefer"),
            statement_timeout_ms=statement_timeout_ms,
        )


def _credentials(config: DatabaseConfig) -> tuple[str, str | None]:
    """User and password: from the URL, an IAM token, or the Secrets Manager secret (cached 5 minutes)."""
    if config.iam_auth:
        import boto3  # in the Lambda runtime; imported only where IAM authentication is configured

        client = boto3.client("rds", region_name=config.region)
        token = client.generate_db_auth_token(config.host, config.port, config.user, Region=config.region)
        return str(config.user), token
    if config.secret_arn:
        from aws_lambda_powertools.utilities.parameters import get_secret

        secret = get_secret(config.secret_arn, transform="json", max_age=300)
        return secret["username"], secret["password"]
    return config.user or "postgres", config.password


def time_left() -> float:
    """Seconds the database may still take: the invocation's remaining time less the reply's reserve, at most
    SOCKET_TIMEOUT_SECONDS (which is all there is outside an invocation)."""
    invocation = current_invocation.get()
    remaining = getattr(invocation.context, "get_remaining_time_in_millis", None) if invocation else None
    if remaining is None:
        return SOCKET_TIMEOUT_SECONDS
    return min(SOCKET_TIMEOUT_SECONDS, remaining() / 1000 - REPLY_RESERVE_SECONDS)


def connect(config: DatabaseConfig, timeout: float = SOCKET_TIMEOUT_SECONDS) -> pg8000.native.Connection:
    user, password = _credentials(config)
    connection = pg8000.native.Connection(
        user,
        host=config.host or "localhost",
        port=config.port,
        database=config.database,
        password=password,
        unix_sock=config.unix_sock,
        ssl_context=ssl.create_default_context() if config.tls else None,
        timeout=timeout,
        application_name=os.environ.get(c.POWERTOOLS_SERVICE_NAME, "mcp-lambda"),
    )
    # Also set by the RDS parameter group; set here so local servers behave the same.
    connection.run(f"SET statement_timeout = {int(config.statement_timeout_ms)}")
    return connection


class Database:
    """The environment's connection, opened on first use and reopened when found dead.

    `config` None: the environment has no database by declaration (`MCP_NO_DATABASE`); every statement raises
    `NoDatabase`."""

    def __init__(self, config: DatabaseConfig | None) -> None:
        self.config = config
        self._connection: pg8000.native.Connection | None = None
        self.reconnects = 0
        # A SnapStart copy must not reuse the connection opened before its snapshot.
        snapstart.on_restore(self._discard)

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        """Run one idempotent statement; reconnect and retry once if the connection was lost, all within the
        invocation's time (DatabaseDeadline when it runs out)."""
        if self.config is None:
            raise NoDatabase("this tool's function has no database: its placement says database=False "
                             "(ToolPlacement in the server's declaration)")
        if not tracing.recording():
            return self._run(sql, params)
        operation = _operation(sql)
        attributes = {"db.system.name": "postgresql", "db.operation.name": operation,
                      "db.namespace": self.config.database,
                      "server.address": self.config.host or self.config.unix_sock or "localhost",
                      "server.port": self.config.port}
        with tracing.span(f"{operation} {self.config.database}", kind=SpanKind.CLIENT, attributes=attributes) as span:
            try:
                return self._run(sql, params)
            except Exception as exc:
                if span is not None:
                    _record_failure(span, exc)
                raise

    def _run(self, sql: str, params: dict[str, Any]) -> list[list[Any]]:
        sent = False
        for attempt in (1, 2):
            try:
                connection = self._connected(self._wait())
                _set_timeout(connection, self._wait())
            except DatabaseUnavailable as exc:
                exc.maybe_ran = sent
                raise
            try:
                sent = True
                return connection.run(sql, **params)
            except (InterfaceError, DatabaseError, OSError) as exc:
                if _is_timeout(exc):
                    raise StatementTimeout(str(exc)) from exc
                if not _is_connection_lost(exc):
                    raise
                logger.warning("Database connection lost; reconnecting", attempt=attempt, error=str(exc))
                self._discard()
                if attempt == 2:
                    raise DatabaseUnavailable("the database connection was lost twice", maybe_ran=True) from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _wait() -> float:
        left = time_left()
        if left < MIN_WAIT_SECONDS:
            raise DatabaseDeadline("the invocation's time ran out before the database answered")
        return left

    def _connected(self, timeout: float = SOCKET_TIMEOUT_SECONDS) -> pg8000.native.Connection:
        assert self.config is not None  # run() refuses first
        if self._connection is None:
            try:
                self._connection = connect(self.config, timeout)
            except (InterfaceError, DatabaseError, OSError) as exc:
                if time_left() < MIN_WAIT_SECONDS:
                    raise DatabaseDeadline("the invocation's time ran out while connecting to the database") from exc
                raise DatabaseUnavailable(f"cannot connect to the database: {type(exc).__name__}") from exc
            self.reconnects += 1
        return self._connection

    def warm(self) -> None:
        """Connect now if possible (at lifespan start); a failure is logged and retried on first use."""
        if self.config is None:
            return
        try:
            self._connected(min(WARM_TIMEOUT_SECONDS, max(time_left(), MIN_WAIT_SECONDS)))
        except DatabaseUnavailable:
            logger.warning("Database not reachable at start; will retry on first use", exc_info=True)

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # the socket is already gone; closing is best effort
                pass

    def close(self) -> None:
        self._discard()


def _set_timeout(connection: pg8000.native.Connection, seconds: float) -> None:
    """The socket timeout of the next round trip. pg8000 takes a timeout only when connecting; its socket
    (`_usock`, the TLS socket when TLS is on) is where every later read and write waits."""
    sock = getattr(connection, "_usock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _sqlstate(exc: Exception) -> str | None:
    detail = exc.args[0] if exc.args else None
    return detail.get("C") if isinstance(detail, dict) else None


_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def _operation(sql: str) -> str:
    """The conventions' operation name, parsed: the statement's first keyword (`SELECT`, `INSERT`), except that a
    statement starting with `WITH` is named by what it does: the first data-modifying command in it (a post is
    one `WITH ... INSERT ... SELECT`, so that it needs no SELECT on the table), else `SELECT`."""
    words = sql.split(None, 1)
    if not words:
        return "UNKNOWN"
    first = words[0].upper()
    if first != "WITH":
        return first
    write = _WRITES.search(sql)
    return write.group(1).upper() if write else "SELECT"


def _record_failure(span: Span, exc: BaseException) -> None:
    """`error.type`: the SQLSTATE the server answered with (also `db.response.status_code`), else the kind of
    failure. Not the message: the server quotes values in it (a duplicate key's, for one)."""
    cause = exc if isinstance(exc, DatabaseError) else exc.__cause__
    code = _sqlstate(cause) if isinstance(cause, DatabaseError) else None
    if code:
        span.set_attribute("db.response.status_code", code)
    span.set_attribute("error.type", code or type(exc).__qualname__)
    span.set_status(StatusCode.ERROR, type(exc).__qualname__)


def _is_timeout(exc: Exception) -> bool:
    return isinstance(exc, DatabaseError) and _sqlstate(exc) == QUERY_CANCELED


def _is_connection_lost(exc: Exception) -> bool:
    if isinstance(exc, (InterfaceError, OSError)):
        # pg8000 wraps most network failures in InterfaceError, but a reset read mid-reply surfaces as the
        # socket's own ConnectionResetError.
        return True
    code = _sqlstate(exc) or ""
    return code.startswith("08") or code in _RECONNECT_CODES


@dataclass(slots=True)
class DatabaseState:
    """What the database lifespan hands to tools: `ctx.request_context.lifespan_context.db`."""

    db: Database


def _environment() -> Mapping[str, str]:
    """The variables of the execution environment being started: the process's, plus those of its own that a
    local server gives each function (each connects as its own database user, as each Lambda function would)."""
    invocation = current_invocation.get()
    environ = getattr(invocation.runtime, "environ", None) if invocation is not None else None
    return environ() if environ is not None else os.environ


def configured(env: Mapping[str, str]) -> DatabaseConfig | None:
    """An environment's database: its configuration (`DatabaseConfig.from_env`, which refuses none), or None where
    `MCP_NO_DATABASE=true` says it has none by declaration."""
    if env.get(c.MCP_NO_DATABASE, "").lower() == "true":
        return None
    return DatabaseConfig.from_env(env)


@asynccontextmanager
async def database_lifespan(server: Any) -> AsyncIterator[DatabaseState]:
    """An MCPServer lifespan: one `Database` per execution environment, closed at shutdown.

    The connection is attempted at start but a failure does not fail the start: tools that do not
    touch the database keep working, and the others report the outage as a tool error and reconnect
    on their next call. Not attempted where no tool of the server runs (a front whose every tool is placed on a
    function of its own, `mcp_lambda.placement`): opened there only if something asks. A function placed without
    the database (`MCP_NO_DATABASE`) has a `Database` that refuses every statement.
    """
    from mcp_lambda.placement import runs_no_tool  # placement imports the SDK; the migrations import this module

    environ = _environment()
    db = Database(configured(environ))
    if not runs_no_tool(server, environ):
        db.warm()
    try:
        yield DatabaseState(db)
    finally:
        db.close()
