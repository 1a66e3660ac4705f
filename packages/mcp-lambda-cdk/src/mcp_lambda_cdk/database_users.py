"""McpDatabaseUser: a server's own database user, holding exactly the grants the server declares.

Why: a function that connects as the master user can drop, alter and read every table; one injected
statement or buggy tool reaches everything. A server declares what its tools do (``ServerSpec.grants``), and
its function connects as a user that may do exactly that (``mcp_lambda.database_users`` says what the user
is, and is not, allowed).

How the pieces fit, as RDS Proxy requires (AWS: "a separate Secrets Manager secret for each database user
account that the proxy connects to"):

- the user's **secret** (``username``, a generated ``password``, the instance's host; under the database's
  key) is registered with the **proxy** (another ``Auth`` entry, IAM authentication required, and the proxy's
  role may read it): the function signs in to the proxy as that user with an IAM token (``rds-db:connect`` on
  that user only) and the proxy signs in to PostgreSQL with the secret's password;
- the **migration function** of the server's migrations (the master user, through the proxy) makes the user
  after the migrations ran (custom resource ``Custom::McpDatabaseUser``): the login role, exactly the grants,
  and the secret's password (read with its own grant on the secret, on creation or when the secret changes);
- the password **rotates** with the master password's single-user rotation function (which may rotate any
  secret pointing at it, and decrypt with the database's key), first once the user exists;
- the function's ``live`` alias moves only once its user exists with its grants.

The master credentials are then used by the migration function and the rotation only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_cdk import CustomResource
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from mcp_lambda import contract as c
from mcp_lambda.spec import TableGrant

if TYPE_CHECKING:
    from mcp_lambda_cdk.database import McpDatabase
    from mcp_lambda_cdk.migrations import McpSchemaMigrations


class McpDatabaseUser(Construct):
    """A login role of its own on ``database``, with exactly ``grants``, signing in through the proxy.

    Usually made by ``McpDatabase.add_user`` (which ``McpLambdaService`` calls for a server with ``grants``).

    :param scope: the parent construct.
    :param id: the construct id.
    :param database: the database.
    :param username: the role's name (``ServerSpec.database_user``: ``mcp_<server>``).
    :param grants: what it may do to which tables (``ServerSpec.table_grants``).
    :param migrations: the migrations that create those tables; the last one's function makes the user, after
        all of them.

    Attributes: ``username``, ``grants``, ``secret`` (the user's credentials, rotated with the master's),
    ``resource`` (the custom resource: what needs the user depends on it), ``rotation_schedule``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        database: McpDatabase,
        username: str,
        grants: Sequence[TableGrant],
        migrations: Sequence[McpSchemaMigrations],
    ) -> None:
        super().__init__(scope, id)
        if not migrations:
            raise ValueError(f"the database user {username} needs the migrations that create its tables")
        self.username = username
        """The role's name."""
        self.grants = tuple(grants)
        """What it may do to which tables."""
        # The characters a generated password leaves out are those of the master's and of its rotation; the
        # database's name and (attached) the instance's host are where the rotation signs in as the user.
        generated = rds.DatabaseSecret(self, "Secret", username=username, dbname=database.database_name,
                                       encryption_key=database.encryption_key)
        self.secret: secretsmanager.ISecret = generated.attach(database.instance)
        """The user's credentials with the instance's host (what the proxy and the rotation read)."""
        database.add_proxy_secret(self.secret)
        maker = migrations[-1]
        self.secret.grant_read(maker.function)
        database.allow_secrets_manager(maker.function, f"the password of {username}")
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=maker.provider.service_token,
            resource_type=c.DATABASE_USER_RESOURCE_TYPE,
            properties={
                c.DATABASE_USER_PROPERTY: username,
                c.DATABASE_USER_GRANTS_PROPERTY: {grant.table: list(grant.privileges) for grant in self.grants},
                c.DATABASE_USER_SECRET_PROPERTY: self.secret.secret_arn,
            },
        )
        """The custom resource: complete once the user exists with its grants and password."""
        self.resource.node.add_dependency(*(m.resource for m in migrations))
        if database.secrets_manager_endpoint is not None:  # its rule letting the function in, for the password
            self.resource.node.add_dependency(*database.secrets_manager_endpoint.connections.security_groups)
        self.rotation_schedule = self.secret.add_rotation_schedule(
            "RotationSchedule",
            rotation_lambda=database.rotation_function,
            automatically_after=database.secret_rotation,
        )
        """The password's rotation, by the master password's rotation function, once the user exists."""
        self.rotation_schedule.node.add_dependency(self.resource)
