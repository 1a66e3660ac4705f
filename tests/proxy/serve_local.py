"""`python tests/proxy/serve_local.py NAME=module:handler ...`: a `LocalServer` in a process of its own.

The proxy tests run the local Lambda servers this way rather than in the pytest process: a Lambda
handler's runtime lives in its module, and `LocalServer.close()` closes it for the whole process, so a
second `LocalServer` of the same service in the same process (another test module's) would find it
closed. Prints `READY <base url>` once serving; stops when stdin closes. The messaging services use
`DATABASE_URL` when set, else the embedded PostgreSQL (see devserver/database.py). With
`SERVE_LOCAL_AUTH_ISSUER` and `SERVE_LOCAL_AUTH_JWKS`, secure-messaging trusts that issuer.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "servers"), str(ROOT)]

from devserver.http_server import LocalServer  # noqa: E402


def main(specs: list[str]) -> int:
    services = dict(spec.split("=", 1) for spec in specs)
    server = LocalServer(port=0, services=services)
    issuer = os.environ.get("SERVE_LOCAL_AUTH_ISSUER")
    if issuer and "secure-messaging" in services:
        # Sign-in against a test issuer: the runtime reads this on the first request, so it can name
        # the URL the server has only now, with its port.
        os.environ["MCP_AUTH_CONFIG"] = json.dumps({
            "resource": server.url("secure-messaging"),
            "providers": [{"issuer": issuer, "audiences": [], "jwks_uri": os.environ["SERVE_LOCAL_AUTH_JWKS"]}],
        })
    with server:
        print(f"READY {server.base_url}", flush=True)
        sys.stdin.read()  # until the test closes our stdin (or exits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
