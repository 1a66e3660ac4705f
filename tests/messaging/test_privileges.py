"""Least privilege in the database: each server's own user does what its tools do, and nothing else.

Against the real PostgreSQL: the messaging server's user (exactly `mcp_servers.MESSAGING.grants`) posts and
reads through the real handler, and every other statement an attacker would want (DROP, DELETE, UPDATE,
ALTER, TRUNCATE, CREATE, another service's table, the migrations' bookkeeping) is refused by the server
with insufficient_privilege. The grants are exact and declarative (a privilege taken out of the declaration
is taken away), the password is stored as a SCRAM verifier that accepts it, and the deploy-time custom
resource makes, keeps and drops the user as the migration function runs it on AWS (Secrets Manager by moto).
"""

from __future__ import annotations

import base64
import json
import uuid

import pg8000.native
import pytest
from moto import mock_aws
from scramp import ScramClient, ScramMechanism

from mcp_lambda import contract as c
from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.database_users import DatabaseUserError, drop_user, ensure_user, local_password
from mcp_lambda.local.database import prepare_user
from mcp_lambda.spec import TableGrant
from mcp_servers import MESSAGING, REPORTS, SECURE_MESSAGING
from tests.messaging.helpers import call_tool, post

INSUFFICIENT_PRIVILEGE = "42501"


def sqlstate(exc: pg8000.native.DatabaseError) -> str:
    return exc.args[0]["C"]


@pytest.fixture
def users(admin):
    """Users of the test's own (unique names: roles are the whole server's), dropped afterwards."""
    made: list[str] = []

    def name(prefix: str) -> str:
        made.append(f"{prefix}_{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    for user in made:
        drop_user(admin, user)


@pytest.fixture
def other_service(database_url, admin, users):
    """Another service's table and its user: what the messaging user must not read."""
    admin.run("CREATE TABLE IF NOT EXISTS ledger (id bigserial PRIMARY KEY, entry text NOT NULL)")
    admin.run("INSERT INTO ledger (entry) SELECT 'private to the ledger service' WHERE NOT EXISTS (SELECT FROM ledger)")
    user = users("mcp_ledger")
    prepare_user(database_url, user, (TableGrant("ledger", ("SELECT", "INSERT")),))
    return user


@pytest.fixture
def as_messaging(messaging_url):
    connection = connect(DatabaseConfig.from_url(messaging_url))
    yield connection
    connection.close()


def test_the_repositorys_servers_declare_what_their_tools_do():
    # Posting inserts and reads the row back; reading selects; reports only read. No server updates or deletes.
    assert MESSAGING.grants == SECURE_MESSAGING.grants == (TableGrant("messages", ("SELECT", "INSERT")),)
    assert REPORTS.grants == (TableGrant("messages", ("SELECT",)),)
    assert (MESSAGING.database_user, SECURE_MESSAGING.database_user, REPORTS.database_user) == (
        "mcp_messaging", "mcp_secure_messaging", "mcp_reports")


def test_the_handler_posts_and_reads_as_its_own_user(messaging, messaging_user, admin):
    posted = post(messaging, "posted by the messaging user")["structuredContent"]
    again = post(messaging, "posted by the messaging user", idempotency_key=f"k-{posted['id']}")
    assert again["isError"] is False
    latest = call_tool(messaging, "get_messages", {"limit": 2})["structuredContent"]["result"]
    assert [m["text"] for m in latest] == ["posted by the messaging user"] * 2
    # The function's one connection is its own user's, not the owner's.
    assert admin.run("SELECT usename FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND backend_type = 'client backend'") == [[messaging_user]]


@pytest.mark.parametrize("statement", [
    "DROP TABLE messages",
    "DELETE FROM messages",
    "UPDATE messages SET content = 'rewritten'",
    "ALTER TABLE messages ADD COLUMN hijacked text",
    "ALTER TABLE messages OWNER TO CURRENT_USER",
    "TRUNCATE messages",
    "CREATE TABLE squatter (id int)",
    "CREATE INDEX squatter_idx ON messages (author)",
    "SELECT entry FROM ledger",
    "INSERT INTO ledger (entry) VALUES ('forged')",
    "SELECT name FROM schema_migrations",
    "GRANT SELECT ON ledger TO PUBLIC",
    "SELECT setval('messages_id_seq', 1)",
], ids=lambda s: s.split(" (")[0][:40])
def test_everything_else_is_refused(as_messaging, other_service, statement):
    with pytest.raises(pg8000.native.DatabaseError) as refused:
        as_messaging.run(statement)
    assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE, refused.value


def test_nothing_refused_was_done(as_messaging, other_service, admin):
    before = admin.run("SELECT count(*), max(id) FROM messages")
    for statement in ("DELETE FROM messages", "TRUNCATE messages", "DROP TABLE messages"):
        with pytest.raises(pg8000.native.DatabaseError):
            as_messaging.run(statement)
    assert admin.run("SELECT count(*), max(id) FROM messages") == before
    assert admin.run("SELECT entry FROM ledger") == [["private to the ledger service"]]


def test_a_read_only_user_cannot_write(database_url, users):
    user = users("mcp_reports")
    url = prepare_user(database_url, user, REPORTS.table_grants)
    reports = connect(DatabaseConfig.from_url(url))
    try:
        assert reports.run("SELECT count(*) >= 0 FROM messages") == [[True]]
        with pytest.raises(pg8000.native.DatabaseError) as refused:
            reports.run("INSERT INTO messages (content, idempotency_key) VALUES ('x', :k)", k=uuid.uuid4().hex)
        assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE
    finally:
        reports.close()


def test_grants_are_exactly_the_declaration_each_time(admin, users):
    user = users("mcp_changing")

    def holds(privilege: str, on: str = "messages") -> bool:
        return admin.run(f"SELECT has_table_privilege(:user, '{on}', :p)", user=user, p=privilege)[0][0]

    def sequence_usage() -> bool:
        return admin.run("SELECT has_sequence_privilege(:user, 'messages_id_seq', 'USAGE')", user=user)[0][0]

    ensure_user(admin, user, (TableGrant("messages", ("SELECT", "INSERT", "UPDATE")),))
    assert (holds("SELECT"), holds("INSERT"), holds("UPDATE"), holds("DELETE"), sequence_usage()) == (
        True, True, True, False, True)
    # Taken out of the declaration: taken away, and the sequence INSERT needed with it.
    ensure_user(admin, user, (TableGrant("messages", ("SELECT",)),))
    assert (holds("SELECT"), holds("INSERT"), holds("UPDATE"), sequence_usage()) == (True, False, False, False)
    # Privileges someone granted by hand go too.
    admin.run(f"GRANT DELETE ON messages TO {pg8000.native.identifier(user)}")
    admin.run(f"GRANT UPDATE (content) ON messages TO {pg8000.native.identifier(user)}")
    ensure_user(admin, user, (TableGrant("messages", ("SELECT",)),))
    assert (holds("DELETE"), admin.run("SELECT has_column_privilege(:user, 'messages', 'content', 'UPDATE')",
                                       user=user)[0][0]) == (False, False)
    ensure_user(admin, user, ())
    assert not holds("SELECT")
    assert admin.run("SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = :u",
                     u=user) == [[True, False, False, False]]


def test_a_table_the_migrations_did_not_create_is_refused(admin, users):
    with pytest.raises(DatabaseUserError, match="no_such_table"):
        ensure_user(admin, users("mcp_typo"), (TableGrant("no_such_table", ("SELECT",)),))


@pytest.mark.parametrize("power, message", [
    ("CREATEDB", "more than a login"),
    ("CREATEROLE", "more than a login"),
    ("MEMBER", "member of"),
    ("OWNER", "owns"),
])
def test_a_role_that_already_holds_more_is_refused_not_repaired(admin, users, power, message):
    user = users("mcp_powerful")
    role = pg8000.native.identifier(user)
    admin.run(f"CREATE ROLE {role} LOGIN {power if power.startswith('CREATE') else ''}")
    if power == "MEMBER":
        admin.run(f"GRANT pg_read_all_data TO {role}")
    if power == "OWNER":
        admin.run(f"CREATE TABLE {role} (id int)")
        admin.run(f"ALTER TABLE {role} OWNER TO {role}")
    try:
        with pytest.raises(DatabaseUserError, match=message):
            ensure_user(admin, user, MESSAGING.table_grants)
    finally:
        if power == "OWNER":
            admin.run(f"DROP TABLE {role}")


def stored_verifier(admin, user: str) -> str:
    return admin.run("SELECT rolpassword FROM pg_authid WHERE rolname = :u", u=user)[0][0]


def verifier_accepts(verifier: str, password: str) -> bool:
    """Run a SCRAM-SHA-256 exchange (scramp, pg8000's own library) of a client with `password` against a server
    holding `verifier` as PostgreSQL stores it."""
    iterations_salt, keys = verifier.removeprefix("SCRAM-SHA-256$").split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    server = ScramMechanism("SCRAM-SHA-256").make_server(
        lambda username: (base64.b64decode(salt), stored_key, server_key, int(iterations)))
    client = ScramClient(["SCRAM-SHA-256"], "user", password)
    server.set_client_first(client.get_client_first())
    client.set_server_first(server.get_server_first())
    try:
        server.set_client_final(client.get_client_final())
    except Exception:
        return False
    client.set_server_final(server.get_server_final())
    return True


def test_the_password_is_stored_as_a_scram_verifier_that_accepts_it(admin, users):
    user = users("mcp_password")
    ensure_user(admin, user, (), password="correct horse battery staple")
    verifier = stored_verifier(admin, user)
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert verifier_accepts(verifier, "correct horse battery staple")
    assert not verifier_accepts(verifier, "Tr0ub4dor&3")
    ensure_user(admin, user, ())  # no password given: the stored one is kept
    assert stored_verifier(admin, user) == verifier


def test_local_passwords_are_the_same_for_every_local_server_of_a_database(database_url):
    assert local_password(database_url, "mcp_messaging") == local_password(database_url, "mcp_messaging")
    assert local_password(database_url, "mcp_messaging") != local_password(database_url, "mcp_reports")
    assert local_password(database_url, "mcp_messaging") != local_password(database_url + "x", "mcp_messaging")


@pytest.fixture
def migration_function(database_url, monkeypatch):
    """The deployed migration function's handler, with the owner's DATABASE_URL and Secrets Manager (moto)."""
    from mcp_lambda.migrations import handler

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        yield handler


def user_event(request: str, user: str, secret_arn: str, grants: dict, **extra) -> dict:
    return {"RequestType": request, "ResourceType": c.DATABASE_USER_RESOURCE_TYPE, "ResourceProperties": {
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
        c.DATABASE_USER_PROPERTY: user, c.DATABASE_USER_SECRET_PROPERTY: secret_arn,
        c.DATABASE_USER_GRANTS_PROPERTY: grants}, **extra}


def test_the_migration_function_makes_keeps_and_drops_the_user(migration_function, admin, users):
    import boto3

    user = users("mcp_deployed")
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name=f"{user}-secret", SecretString=json.dumps(
        {"username": user, "password": "from-secrets-manager"}))["ARN"]
    grants = {"messages": ["SELECT", "INSERT"]}
    created = migration_function(user_event("Create", user, arn, grants), None)
    assert created["PhysicalResourceId"] == user
    assert verifier_accepts(stored_verifier(admin, user), "from-secrets-manager")
    assert admin.run("SELECT has_table_privilege(:u, 'messages', 'INSERT')", u=user) == [[True]]
    # Rotation changed the password since; an update of the grants leaves it alone.
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": user, "password": "rotated"}))
    ensure_user(admin, user, (TableGrant("messages", ("SELECT", "INSERT")),), password="rotated")
    migration_function(user_event("Update", user, arn, {"messages": ["SELECT"]}, PhysicalResourceId=user,
                                  OldResourceProperties={c.DATABASE_USER_SECRET_PROPERTY: arn}), None)
    assert verifier_accepts(stored_verifier(admin, user), "rotated")
    assert admin.run("SELECT has_table_privilege(:u, 'messages', 'INSERT')", u=user) == [[False]]
    # A secret that names another user is refused rather than given to this one.
    other = secrets.create_secret(Name=f"{user}-other", SecretString=json.dumps(
        {"username": "someone_else", "password": "x"}))["ARN"]
    with pytest.raises(DatabaseUserError, match="someone_else"):
        migration_function(user_event("Update", user, other, grants, PhysicalResourceId=user,
                                      OldResourceProperties={c.DATABASE_USER_SECRET_PROPERTY: arn}), None)
    migration_function(user_event("Delete", user, arn, grants, PhysicalResourceId=user), None)
    assert admin.run("SELECT count(*) FROM pg_roles WHERE rolname = :u", u=user) == [[0]]


def test_dropping_a_user_on_an_unreachable_database_does_not_hold_up_the_stack(migration_function, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    event = user_event("Delete", "mcp_gone", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", {},
                       PhysicalResourceId="mcp_gone")
    assert migration_function(event, None) == {"PhysicalResourceId": "mcp_gone"}
