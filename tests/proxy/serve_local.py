"""`python tests/proxy/serve_local.py NAME ...`: a `LocalServer` of the named servers (of mcp_servers.py) in a
process of its own.

The proxy tests run the local Lambda servers this way rather than in the pytest process: a Lambda
handler's runtime lives in its module, and `LocalServer.close()` closes it for the whole process, so a
second `LocalServer` of the same service in the same process (another test module's) would find it
closed. Prints `READY <base url>` once serving; stops when stdin closes. The messaging services use
`DATABASE_URL` when set, else the embedded PostgreSQL (see mcp_lambda/local/database.py). With
`SERVE_LOCAL_AUTH_ISSUER` and `SERVE_LOCAL_AUTH_JWKS`, servers with sign-in trust that issuer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "servers"), str(ROOT)]

from mcp_lambda.local.http_server import LocalServer  # noqa: E402
from mcp_servers import SERVERS  # noqa: E402


def main(names: list[str]) -> int:
    issuer = os.environ.get("SERVE_LOCAL_AUTH_ISSUER")
    providers = [{"issuer": issuer, "audiences": [], "jwks_uri": os.environ["SERVE_LOCAL_AUTH_JWKS"]}] if issuer else None
    server = LocalServer(port=0, servers=[s for s in SERVERS if s.name in names], providers=providers)
    with server:
        print(f"READY {server.base_url}", flush=True)
        sys.stdin.read()  # until the test closes our stdin (or exits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
