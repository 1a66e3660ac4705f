"""`python tests/proxy/serve_local.py NAME=module:handler ...`: a `LocalServer` in a process of its own.

The proxy tests run the local Lambda servers this way rather than in the pytest process: a Lambda
handler's runtime lives in its module, and `LocalServer.close()` closes it for the whole process, so a
second `LocalServer` of the same service in the same process (another test module's) would find it
closed. Prints `READY <base url>` once serving; stops when stdin closes. The messaging service uses
`DATABASE_URL` when set, else the embedded PostgreSQL (see devserver/database.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT)]

from devserver.http_server import LocalServer  # noqa: E402


def main(specs: list[str]) -> int:
    services = dict(spec.split("=", 1) for spec in specs)
    with LocalServer(port=0, services=services) as server:
        print(f"READY {server.base_url}", flush=True)
        sys.stdin.read()  # until the test closes our stdin (or exits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
