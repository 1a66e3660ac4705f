"""A database user of its own for each server: exactly the privileges its tools use, and nothing it could own.

Why: a server that connects as the schema's owner can drop, alter, truncate and read every table, so one
injected statement or one bug in a tool reaches everything. A server declares what its tools do
(`ServerSpec.grants`: per table, some of SELECT, INSERT, UPDATE, DELETE); the migrations' user (the owner, on
AWS the master user) turns that into a login role, `ServerSpec.database_user`, after the migrations ran, and
the server connects as that role: on AWS through RDS Proxy (the migration function, custom resource
`Custom::McpDatabaseUser`), locally in `mcp-lambda serve` (`mcp_lambda.local.database`).

What `ensure_user` leaves, whatever was there before, in one transaction under the migrations' lock:
- a LOGIN role with no other attribute (not superuser, no CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS), a
  member of no role, owning nothing. A role that exists with more than that is refused, not repaired: who
  gave it more should know.
- exactly the declared table privileges: every privilege it holds on other relations (tables, views,
  sequences, their columns) and schemas is revoked first, so a grant taken out of the declaration is taken
  away on the next run; `INSERT` adds `USAGE` on the sequences the table's columns own (`serial`, identity),
  a table outside `public` adds `USAGE` on its schema.
It then owns no table, so it can neither `DROP` nor `ALTER` one, and on PostgreSQL 15 or later (RDS runs 17)
it may create nothing in `public` either (PostgreSQL no longer grants `CREATE` there to everyone).

Passwords: on AWS the proxy signs in as the user with the password of the user's Secrets Manager secret; the
migration function sets it from there when it creates the user or the secret changes, and the secret's
rotation changes both after. Locally the password is derived from the owner's URL (`local_password`), so two
local servers on one database agree. Either way the server receives a SCRAM-SHA-256 verifier computed here
(as psql's `\\password` does), never the password itself, so no statement log can hold it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pg8000.native
from scramp import ScramMechanism

from mcp_lambda import contract as c
from mcp_lambda.migrations import LOCK_KEY  # the migrations' advisory lock: the two never interleave
from mcp_lambda.observability import logger
from mcp_lambda.spec import TableGrant

_SCRAM = ScramMechanism("SCRAM-SHA-256")
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)
_ATTEMPTS = 3
# A role created meanwhile (duplicate_object), "tuple concurrently updated" (an internal error, XX000) on the
# role's catalog row, a deadlock between two such transactions.
_CATALOG_COLLISIONS = ("42710", "XX000", "40P01")
_RELATION_KINDS = ("r", "p", "v", "m", "f")  # tables, partitioned tables, views, materialized views, foreign tables


class DatabaseUserError(RuntimeError):
    """The user cannot be made what the declaration says; the message says why."""


def scram_verifier(password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (what `ALTER ROLE ... PASSWORD` takes)."""
    salt, stored_key, server_key, iterations = _SCRAM.make_auth_info(password, iteration_count=SCRAM_ITERATIONS)
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def local_password(owner_url: str, user: str) -> str:
    """The password of `user` on a local database: derived from the owner's URL (whoever knows it may do more
    than this user anyway), so every local server on that database derives the same."""
    return hmac.new(owner_url.encode(), f"mcp-lambda-local/{user}".encode(), hashlib.sha256).hexdigest()


def ensure_user(
    connection: pg8000.native.Connection, user: str, grants: Sequence[TableGrant], *, password: str | None = None
) -> None:
    """Make `user` a login role holding exactly `grants` (see the module docstring); set its password when
    given. Raises DatabaseUserError when a table does not exist or the role already holds more than a login.

    Roles belong to the whole server, while the advisory lock is per database: the same user made at once for
    two databases of one server (two local servers, parallel test runs) can collide in the role catalog, and
    the loser tries again."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _ensure_user(connection, user, grants, password)
            break
        except pg8000.native.DatabaseError as exc:
            if attempt == _ATTEMPTS or _sqlstate(exc) not in _CATALOG_COLLISIONS:
                raise
            logger.warning("Database user changed concurrently; trying again", user=user, attempt=attempt)
    logger.info("Database user ready", user=user, grants=grants_property(grants))


def _ensure_user(
    connection: pg8000.native.Connection, user: str, grants: Sequence[TableGrant], password: str | None
) -> None:
    role = pg8000.native.identifier(user)
    connection.run("BEGIN")
    try:
        connection.run("SELECT pg_advisory_xact_lock(:key)", key=LOCK_KEY)
        rows = connection.run(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls, rolcanlogin "
            "FROM pg_roles WHERE rolname = :user", user=user)
        if not rows:
            connection.run(f"CREATE ROLE {role} LOGIN")
        else:
            _refuse_more_than_a_login(connection, user, powerful=rows[0][0])
            if not rows[0][1]:
                connection.run(f"ALTER ROLE {role} LOGIN")
        if password is not None:
            connection.run(f"ALTER ROLE {role} PASSWORD {pg8000.native.literal(scram_verifier(password))}")
        _revoke_everything(connection, user)
        for grant in grants:
            _grant(connection, role, grant)
        connection.run("COMMIT")
    except BaseException:
        connection.run("ROLLBACK")
        raise


def _sqlstate(exc: pg8000.native.DatabaseError) -> str | None:
    detail = exc.args[0] if exc.args else None
    return detail.get("C") if isinstance(detail, dict) else None


def drop_user(connection: pg8000.native.Connection, user: str) -> None:
    """Take every privilege from `user` and drop it; a role that cannot be dropped (it still holds something
    in another database of the server) can no longer log in instead."""
    role = pg8000.native.identifier(user)
    connection.run("BEGIN")
    try:
        connection.run("SELECT pg_advisory_xact_lock(:key)", key=LOCK_KEY)
        if connection.run("SELECT 1 FROM pg_roles WHERE rolname = :user", user=user):
            _revoke_everything(connection, user)
            connection.run("SAVEPOINT drop_role")
            try:
                connection.run(f"DROP ROLE {role}")
            except pg8000.native.DatabaseError as exc:
                logger.warning("Database user kept without login", user=user, error=str(exc))
                connection.run("ROLLBACK TO SAVEPOINT drop_role")
                connection.run(f"ALTER ROLE {role} NOLOGIN")
        connection.run("COMMIT")
    except BaseException:
        connection.run("ROLLBACK")
        raise


def _refuse_more_than_a_login(connection: pg8000.native.Connection, user: str, *, powerful: bool) -> None:
    if powerful:
        raise DatabaseUserError(f"the role {user} exists with more than a login (superuser, CREATEDB, CREATEROLE, "
                                "REPLICATION or BYPASSRLS): drop it or take those away, then deploy again")
    member_of = [name for (name,) in connection.run(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :user ORDER BY 1", user=user)]
    if member_of:
        raise DatabaseUserError(f"the role {user} is a member of {', '.join(member_of)} and would hold their "
                                f"privileges: revoke that membership (REVOKE ... FROM {user}), then deploy again")
    owned = [name for (name,) in connection.run(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_roles u ON u.oid = c.relowner WHERE u.rolname = :user "
        "UNION ALL SELECT n.nspname FROM pg_namespace n JOIN pg_roles u ON u.oid = n.nspowner WHERE u.rolname = :user "
        "ORDER BY 1", user=user)]
    if owned:
        raise DatabaseUserError(f"the role {user} owns {', '.join(owned)}, and an owner may alter and drop: change "
                                "their owner (ALTER ... OWNER TO), then deploy again")


def _revoke_everything(connection: pg8000.native.Connection, user: str) -> None:
    """Revoke what `user` holds on relations (and, with them, their columns) and schemas of this database."""
    role = pg8000.native.identifier(user)
    held = connection.run(
        "SELECT DISTINCT c.oid::regclass::text, c.relkind = 'S' FROM pg_class c "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attacl IS NOT NULL "
        "CROSS JOIN LATERAL (SELECT grantee FROM aclexplode(c.relacl) "
        "                    UNION ALL SELECT grantee FROM aclexplode(a.attacl)) g "
        "WHERE g.grantee = (SELECT oid FROM pg_roles WHERE rolname = :user)", user=user)
    for relation, is_sequence in held:
        connection.run(f"REVOKE ALL ON {'SEQUENCE' if is_sequence else 'TABLE'} {relation} FROM {role}")
    schemas = connection.run(
        "SELECT DISTINCT n.nspname FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) g "
        "WHERE g.grantee = (SELECT oid FROM pg_roles WHERE rolname = :user)", user=user)
    for (schema,) in schemas:
        connection.run(f"REVOKE ALL ON SCHEMA {pg8000.native.identifier(schema)} FROM {role}")


def _grant(connection: pg8000.native.Connection, role: str, grant: TableGrant) -> None:
    found = connection.run(
        "SELECT c.oid::regclass::text, n.nspname, c.relkind::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:name)",
        name=_qualified(grant.table))
    if not found or found[0][2] not in _RELATION_KINDS:
        raise DatabaseUserError(f"{role} is to be granted {', '.join(grant.privileges)} on {grant.table}, which "
                                "is no table here: the migrations that create it must run first")
    (relation, schema, _), = found
    if schema != "public":
        connection.run(f"GRANT USAGE ON SCHEMA {pg8000.native.identifier(schema)} TO {role}")
    connection.run(f"GRANT {', '.join(grant.privileges)} ON TABLE {relation} TO {role}")
    if "INSERT" in grant.privileges:
        owned_sequences = connection.run(
            "SELECT d.objid::regclass::text FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
            "AND d.refobjid = to_regclass(:name) AND d.deptype IN ('a', 'i') ORDER BY 1", name=_qualified(grant.table))
        for (sequence,) in owned_sequences:
            connection.run(f"GRANT USAGE ON SEQUENCE {sequence} TO {role}")


def _qualified(table: str) -> str:
    return table if "." in table else f"public.{table}"


# -- the custom resource (served by the migration function, mcp_lambda.migrations.handler) --------------------


def grants_from_property(value: Mapping[str, Sequence[str]]) -> tuple[TableGrant, ...]:
    """The `Grants` property (`{"<table>": ["SELECT", ...]}`) as TableGrant values."""
    return tuple(TableGrant(table, tuple(privileges)) for table, privileges in sorted(value.items()))


def grants_property(grants: Sequence[TableGrant]) -> dict[str, list[str]]:
    """TableGrant values as the `Grants` property."""
    return {grant.table: list(grant.privileges) for grant in grants}


def read_password(secret_arn: str, user: str) -> str:
    """The password in the user's Secrets Manager secret (which must name that user)."""
    import boto3  # in the Lambda runtime; only the deployed migration function reads secrets

    secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
    if secret.get("username") != user:
        raise DatabaseUserError(f"the secret {secret_arn} is not {user}'s (its username is {secret.get('username')!r})")
    return str(secret["password"])


def on_event(event: Mapping[str, Any], connect: Any) -> dict[str, Any]:
    """`Custom::McpDatabaseUser`: make the user on Create and Update, drop it on Delete.

    The password is set from the secret when the user is created, when the secret is another one, and when the
    user is missing from the database; otherwise it is left alone, as rotation may have changed it since.
    Dropping is best effort: a database that cannot be reached must not hold up the stack's deletion, and the
    user left behind has no way in (its secret goes with the stack, and the proxy with it). `connect(retry)`
    opens the owner's connection, waiting for the database when `retry`.
    """
    properties = event.get("ResourceProperties") or {}
    request = event.get("RequestType")
    if request == "Delete":
        user = event.get("PhysicalResourceId") or properties.get(c.DATABASE_USER_PROPERTY)
        try:
            connection = connect(False)
            try:
                drop_user(connection, user)
            finally:
                connection.close()
        except Exception as exc:  # the driver's and the network's errors alike: reported, never blocking
            logger.warning("Database user not dropped", user=user, error=f"{type(exc).__name__}: {exc}")
        return {"PhysicalResourceId": user}
    user = properties[c.DATABASE_USER_PROPERTY]
    secret_arn = properties[c.DATABASE_USER_SECRET_PROPERTY]
    grants = grants_from_property(properties.get(c.DATABASE_USER_GRANTS_PROPERTY) or {})
    old_secret = (event.get("OldResourceProperties") or {}).get(c.DATABASE_USER_SECRET_PROPERTY)
    connection = connect(True)
    try:
        missing = not connection.run("SELECT 1 FROM pg_roles WHERE rolname = :user", user=user)
        new_password = request == "Create" or old_secret != secret_arn or missing
        ensure_user(connection, user, grants, password=read_password(secret_arn, user) if new_password else None)
    finally:
        connection.close()
    return {"PhysicalResourceId": user, "Data": {"User": user}}
