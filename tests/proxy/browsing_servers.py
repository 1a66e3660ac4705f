"""`mcp-lambda serve tests/proxy/browsing_servers.py`: the secure messaging server with anonymous browsing."""

from pathlib import Path

from mcp_lambda.spec import ServerSpec

ROOT = Path(__file__).resolve().parents[2]

SERVERS = (
    ServerSpec("browsing-messaging", Path(__file__).resolve().parent / "browsing_messaging", database=True,
               sign_in=True, scopes=("messages:write",), migrations=(ROOT / "servers" / "messaging" / "migrations",),
               deploy=False),
)
