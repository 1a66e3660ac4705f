"""A server, declared once: what the CDK constructs deploy and what the local server serves.

A server is a folder: `server.py` exposing an `MCPServer` and the Lambda `handler` built from it,
optionally `migrations/` (numbered SQL files) and a `requirements.txt` of its own. A `ServerSpec` names
the folder and says what the folder cannot say without being imported: whether the server needs the
database and what its tools do to which tables (`grants`), signs callers in, runs tasks, and who may reach
its endpoint. The CDK constructs read it at synth
time (`McpLambdaService(server=...)`), the local server (`mcp-lambda serve`) when it starts; the local
server also imports the handler and refuses a declaration that contradicts it.

Standard library only: a CDK app imports this without the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: What a server's name may be: it is a URL path segment, a CloudWatch dimension and part of resource names.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
#: The module Lambda imports in a server's folder, and the attribute holding its handler.
SERVER_MODULE, HANDLER_ATTRIBUTE = "server", "handler"
MIGRATIONS_FOLDER = "migrations"
REQUIREMENTS_FILE = "requirements.txt"
#: What a server's database user may be granted on a table: its rows, read and written. Never ownership,
#: ALTER, DROP, TRUNCATE, REFERENCES or TRIGGER: the schema stays the migrations' (the owner's).
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: A table a grant names: ``table`` (in ``public``) or ``schema.table``, unquoted lower-case identifiers.
TABLE_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")
#: A server's database user is ``mcp_<name>`` (``secure-messaging`` -> ``mcp_secure_messaging``).
DATABASE_USER_PREFIX = "mcp_"
#: PostgreSQL's longest identifier, in bytes.
MAX_IDENTIFIER = 63
#: What a tool's name may be to be placed: a Python identifier (the SDK's tools are functions).
TOOL_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Lambda's bounds on a function's memory (MB) and timeout (seconds).
MEMORY_RANGE, TIMEOUT_RANGE = (128, 10240), (1, 900)


class SpecError(ValueError):
    """A declaration that cannot describe a server (bad name, missing folder, ...)."""


@dataclass(frozen=True)
class TableGrant:
    """What a server's database user may do to one table: some of ``TABLE_PRIVILEGES``.

    ``INSERT`` also gives ``USAGE`` on the sequences the table's columns own (``serial``, identity), which
    inserting a row needs; a table outside ``public`` also gives ``USAGE`` on its schema.

    :param table: ``table`` (in ``public``) or ``schema.table``.
    :param privileges: the privileges, in any order; stored in ``TABLE_PRIVILEGES`` order.
    """

    table: str
    privileges: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.table, str) or not TABLE_PATTERN.match(self.table):
            raise SpecError(f"a grant names a table as table or schema.table in lower case, got {self.table!r}")
        given = (self.privileges,) if isinstance(self.privileges, str) else tuple(self.privileges)
        wanted = {str(p).strip().upper() for p in given}
        unknown = sorted(wanted - set(TABLE_PRIVILEGES))
        if unknown or not wanted:
            raise SpecError(f"grants on {self.table} may be {', '.join(TABLE_PRIVILEGES)}; got {list(given)!r}")
        object.__setattr__(self, "privileges", tuple(p for p in TABLE_PRIVILEGES if p in wanted))


@dataclass(frozen=True)
class ToolPlacement:
    """A tool, or a group of tools, on a Lambda function of its own behind the server's one endpoint.

    The server's own function (the front) still serves the protocol (initialize, discovery, ``tools/list``,
    sign-in, argument validation) from the server's definition; each ``tools/call`` of a placed tool is
    forwarded to the tool's function by a synchronous invoke and runs there, the same SDK tool code in an
    execution environment of its own, with its own role, database user, memory and timeout
    (``mcp_lambda.placement``).

    :param tools: the tool's name, or the names of the tools sharing the function.
    :param name: the placement's name: part of its function's name and of its database user's. Lower-case
        letters, digits and ``-``. Default: the first tool's name with ``_`` as ``-``.
    :param grants: what the placed tools do to which tables, as ``ServerSpec.grants``; the function then
        connects as a database user of its own (``ServerSpec.placement_user``), which may do exactly that.
        Needs ``database=True`` on the server. Default: None, the server's own user (and grants).
    :param memory_size: the function's memory, MB. Default: the server's function's.
    :param timeout: the function's timeout, seconds. Default: the server's function's.
    :param provisioned_concurrency: environments kept initialized on its ``live`` alias. Default: 0 (none).
    :param snap_start: publish its versions with SnapStart (not with provisioned concurrency).
        Default: False.
    :param tasks: its tools include task tools (``mcp_lambda.tasks``), whose tasks the front makes and this
        function runs: on AWS it gets the server's task table (read and write) and the task settings, which a
        placement without task tools has no use for. Needs ``tasks=True`` on the server. Default: False.
    :param database: whether its tools use the server's database. False on a server with a database: the
        function has none (``MCP_NO_DATABASE``; a statement is refused with ``NoDatabase``) and on AWS runs outside
        the database's VPC, with no way to the proxy, no ``rds-db:connect`` and Lambda's own route to the internet:
        the place for a tool that calls a public API next to tools that write the database. Default: None, the
        server's (``ServerSpec.database``).
    """

    tools: str | Sequence[str]
    name: str | None = None
    grants: Mapping[str, Sequence[str]] | Sequence[TableGrant] | None = None
    memory_size: int | None = None
    timeout: int | None = None
    provisioned_concurrency: int = 0
    snap_start: bool = False
    tasks: bool = False
    database: bool | None = None

    def __post_init__(self) -> None:
        tools = (self.tools,) if isinstance(self.tools, str) else tuple(self.tools)
        if not tools or not all(isinstance(t, str) and TOOL_PATTERN.match(t) for t in tools):
            raise SpecError(f"a placement names one tool or several, by their names; got {self.tools!r}")
        if len(set(tools)) != len(tools):
            raise SpecError(f"a placement names a tool twice: {list(tools)!r}")
        object.__setattr__(self, "tools", tools)
        name = self.name if self.name is not None else tools[0].replace("_", "-").lower()
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise SpecError(f"a placement's name must be lower-case letters, digits and '-', got {name!r}")
        object.__setattr__(self, "name", name)
        if self.grants is not None:
            object.__setattr__(self, "grants", _table_grants(name, self.grants))
        for value, (low, high), what in ((self.memory_size, MEMORY_RANGE, "memory_size (MB)"),
                                         (self.timeout, TIMEOUT_RANGE, "timeout (seconds)")):
            if value is not None and not low <= value <= high:
                raise SpecError(f"placement {name}: {what} is between {low} and {high}, got {value!r}")
        if self.provisioned_concurrency < 0:
            raise SpecError(f"placement {name}: provisioned_concurrency cannot be negative")
        if self.snap_start and self.provisioned_concurrency:
            raise SpecError(f"placement {name}: SnapStart and provisioned concurrency do not go together")
        if self.database is False and self.grants is not None:
            raise SpecError(f"placement {name}: grants are on the database, which database=False says it has not")

    @property
    def table_grants(self) -> tuple[TableGrant, ...]:
        """The placement's own grants (none when it uses the server's)."""
        return tuple(self.grants or ())  # type: ignore[arg-type]  # normalised in __post_init__


@dataclass(frozen=True)
class ServerSpec:
    """One MCP server: its name, its folder and what it needs.

    :param name: the public name: the local path ``/<name>/mcp``, the metrics' ``service`` dimension, the
        Powertools service name and resource names. Lower-case letters, digits and ``-``.
    :param folder: the server's folder; its name is the package Lambda imports (``<folder>.server.handler``).
    :param database: its lifespan connects to PostgreSQL (``mcp_lambda.database``): ``DATABASE_URL`` or the
        embedded server locally, an ``McpDatabase`` behind RDS Proxy on AWS. Default: False.
    :param migrations: folders of numbered ``*.sql`` files applied before the server is served (locally at
        start, on AWS before the alias moves). Default: the folder's ``migrations/`` when it has one.
    :param sign_in: its handler has an access policy (``lambda_handler(..., access=...)``): callers sign in
        with OIDC bearer tokens. Default: False.
    :param scopes: the scopes (or groups) its access policy asks for; on AWS, Cognito groups of these names.
        Default: none.
    :param tasks: it has task tools (``mcp_lambda.tasks``): on AWS a task table and asynchronous
        self-invocation. Default: False.
    :param public: anyone may call its endpoint without signing requests (a Function URL with auth
        ``NONE``). A server with sign-in is public at the URL, as it checks bearer tokens itself.
        Default: False (callers sign requests with SigV4).
    :param deploy: part of the CDK app; False for a server served locally only (a test fixture).
        Default: True.
    :param grants: what its tools do to which tables, e.g. ``{"messages": ("SELECT", "INSERT")}`` (or
        ``TableGrant`` values); needs ``database=True``. The server then connects as a database user of its
        own, ``database_user`` (``mcp_<name>``), which the migrations' user creates after the migrations
        with exactly these privileges and nothing else: it owns no table, so it can neither ``DROP`` nor
        ``ALTER`` one, and it reads no table it is not granted. ``{}``: a user that may do nothing.
        Default: None, no user of its own: the server connects as the database's owner (the migrations'
        user), which may do anything to every table.
    :param placements: tools on functions of their own, behind this server's one endpoint (``ToolPlacement``);
        a tool is placed at most once. Default: none, every tool runs in the server's function.
    """

    name: str
    folder: Path
    database: bool = False
    migrations: tuple[Path, ...] | None = None
    sign_in: bool = False
    scopes: tuple[str, ...] = field(default=())
    tasks: bool = False
    public: bool = False
    deploy: bool = True
    grants: Mapping[str, Sequence[str]] | Sequence[TableGrant] | None = None
    placements: Sequence[ToolPlacement] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise SpecError(f"a server's name must be lower-case letters, digits and '-', got {self.name!r}")
        folder = Path(self.folder).resolve()
        if not folder.name.isidentifier():
            raise SpecError(f"the folder's name is the Python package Lambda imports: {folder.name!r} is not one")
        object.__setattr__(self, "folder", folder)
        object.__setattr__(self, "scopes", tuple(self.scopes))
        if self.migrations is not None:
            object.__setattr__(self, "migrations", tuple(Path(m).resolve() for m in self.migrations))
        if self.scopes and not self.sign_in:
            raise SpecError(f"{self.name}: scopes need sign_in=True")
        if self.grants is not None:
            object.__setattr__(self, "grants", _table_grants(self.name, self.grants))
            if not self.database:
                raise SpecError(f"{self.name}: grants need database=True")
            if len(self.database_user or "") > MAX_IDENTIFIER:
                raise SpecError(f"{self.name}: the name is too long for a database user (mcp_<name>, at most "
                                f"{MAX_IDENTIFIER} characters)")
        self._check_placements()

    def _check_placements(self) -> None:
        placements = tuple(self.placements)
        if not all(isinstance(p, ToolPlacement) for p in placements):
            raise SpecError(f"{self.name}: placements are ToolPlacement values")
        object.__setattr__(self, "placements", placements)
        names = [p.name for p in placements]
        tools = [tool for p in placements for tool in p.tools]
        for what, values in (("placements share a name", names), ("a tool is placed twice", tools)):
            if len(set(values)) != len(values):
                raise SpecError(f"{self.name}: {what}: {sorted({v for v in values if values.count(v) > 1})}")
        for placement in placements:
            if placement.grants is not None and not self.database:
                raise SpecError(f"{self.name}: placement {placement.name} has grants, which need database=True")
            if placement.database and not self.database:
                raise SpecError(f"{self.name}: placement {placement.name} says database=True, which needs "
                                "database=True on the server")
            if placement.tasks and not self.tasks:
                raise SpecError(f"{self.name}: placement {placement.name} runs tasks, which need tasks=True")
            if len(self.placement_user(placement) or "") > MAX_IDENTIFIER:
                raise SpecError(f"{self.name}: placement {placement.name}'s database user would be longer than "
                                f"{MAX_IDENTIFIER} characters: choose a shorter name")

    @property
    def signed_requests(self) -> bool:
        """Callers sign requests with SigV4 (an ``AWS_IAM`` Function URL): neither public nor signing callers in."""
        return not (self.public or self.sign_in)

    @property
    def database_user(self) -> str | None:
        """The database user the server connects as when it declares ``grants`` (``mcp_<name>``, ``-`` as
        ``_``), else None (the database's owner)."""
        return None if self.grants is None else DATABASE_USER_PREFIX + self.name.replace("-", "_")

    @property
    def table_grants(self) -> tuple[TableGrant, ...]:
        """The declared grants, one ``TableGrant`` per table in table order (none when not declared)."""
        return tuple(self.grants or ())  # type: ignore[arg-type]  # normalised in __post_init__

    def placement_user(self, placement: ToolPlacement) -> str | None:
        """The database user `placement`'s function connects as: its own, ``mcp_<name>_<placement>``, when it
        declares ``grants``; else the server's (``database_user``, None for the database's owner); None for a
        placement without the database."""
        if not self.placement_database(placement):
            return None
        if placement.grants is None:
            return self.database_user
        return f"{DATABASE_USER_PREFIX}{self.name}_{placement.name}".replace("-", "_")

    def placement_database(self, placement: ToolPlacement) -> bool:
        """Whether `placement`'s function uses the server's database: the server has one and the placement does not
        say ``database=False``."""
        return self.database and placement.database is not False

    def placement_for(self, tool: str) -> ToolPlacement | None:
        """The placement running `tool`, or None when it runs in the server's function."""
        return next((p for p in self.placements if tool in p.tools), None)

    @property
    def package(self) -> str:
        """The package Lambda imports: the folder's name."""
        return self.folder.name

    @property
    def handler(self) -> str:
        """Lambda's handler string: ``<package>.server.handler``."""
        return f"{self.package}.{SERVER_MODULE}.{HANDLER_ATTRIBUTE}"

    @property
    def migration_dirs(self) -> tuple[Path, ...]:
        """The folders of SQL migrations, in the order they are applied."""
        if self.migrations is not None:
            return self.migrations
        own = self.folder / MIGRATIONS_FOLDER
        return (own,) if own.is_dir() else ()

    @property
    def requirements(self) -> Path | None:
        """The folder's own ``requirements.txt``, installed next to the runtime, or None."""
        path = self.folder / REQUIREMENTS_FILE
        return path if path.is_file() else None

    def check_folder(self) -> None:
        """Raise SpecError unless the folder holds ``server.py``."""
        if not (self.folder / f"{SERVER_MODULE}.py").is_file():
            raise SpecError(f"{self.name}: {self.folder} has no {SERVER_MODULE}.py")


def _table_grants(server: str, given: object) -> tuple[TableGrant, ...]:
    """``grants`` as one ``TableGrant`` per table, in table order; a table named twice is refused."""
    if isinstance(given, Mapping):
        grants = [TableGrant(table, privileges) for table, privileges in given.items()]
    elif isinstance(given, (list, tuple)) and all(isinstance(g, TableGrant) for g in given):
        grants = list(given)
    else:
        raise SpecError(f"{server}: grants are a mapping of table to privileges, or TableGrant values")
    tables = [grant.table.removeprefix("public.") for grant in grants]
    if len(set(tables)) != len(tables):
        raise SpecError(f"{server}: grants name a table twice: {sorted(t for t in tables if tables.count(t) > 1)}")
    return tuple(sorted(grants, key=lambda grant: grant.table))
