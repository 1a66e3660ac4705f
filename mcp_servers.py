"""The MCP servers of this repository, each declared once: `app.py` deploys them, `make serve` serves them.

Adding a server: a folder under `servers/` (`server.py` with an `MCPServer` and its `handler`, optionally
`migrations/` and `requirements.txt`) and one `ServerSpec` here. Its stack is `Mcp<Name>Stack`. A server with
a database declares what its tools do to which tables (`grants`): it then connects as a database user of its
own that may do exactly that (`mcp_<name>`), never as the schema's owner.
"""

from __future__ import annotations

from pathlib import Path

from mcp_lambda.spec import ServerSpec, ToolPlacement

SERVERS_DIR = Path(__file__).resolve().parent / "servers"

WEATHER = ServerSpec("weather", SERVERS_DIR / "weather", public=True)
# Posting inserts a row (and reads it back); reading selects. Nothing updates, deletes or alters.
MESSAGING = ServerSpec("messaging", SERVERS_DIR / "messaging", database=True,
                       grants={"messages": ("SELECT", "INSERT")})
# The same channel behind sign-in: the messaging table (its migrations), posting needs messages:write.
SECURE_MESSAGING = ServerSpec(
    "secure-messaging",
    SERVERS_DIR / "secure_messaging",
    database=True,
    migrations=(SERVERS_DIR / "messaging" / "migrations",),
    grants={"messages": ("SELECT", "INSERT")},
    sign_in=True,
    scopes=("messages:write",),
)
# Reports over the messaging table, read-only, as MCP tasks.
REPORTS = ServerSpec(
    "reports", SERVERS_DIR / "reports", database=True, migrations=(SERVERS_DIR / "messaging" / "migrations",),
    grants={"messages": ("SELECT",)}, tasks=True,
)
# The messaging server with least privilege per tool (ServerSpec.placements): behind its one endpoint, post_message
# runs on a function of its own whose database user may only insert, get_messages on one whose user may only
# select, and the front (the protocol, validation) runs none of them and connects as a user that may do nothing.
# Served by make serve at /messaging-placed/mcp; McpMessagingPlacedStack, with a database of its own.
MESSAGING_PLACED = ServerSpec(
    "messaging-placed", SERVERS_DIR / "messaging", database=True, grants={},
    placements=(ToolPlacement("post_message", grants={"messages": ("INSERT",)}),
                ToolPlacement("get_messages", grants={"messages": ("SELECT",)})),
)
# The official conformance suite's server: served locally for tests/conformance, never deployed.
CONFORMANCE = ServerSpec("conformance", SERVERS_DIR / "conformance", tasks=True, deploy=False)

SERVERS = (WEATHER, MESSAGING, SECURE_MESSAGING, REPORTS, MESSAGING_PLACED, CONFORMANCE)
