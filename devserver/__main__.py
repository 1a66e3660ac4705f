"""`python -m devserver [--port N]`: serve every service locally (what `make serve` runs)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# The handlers are imported as Lambda imports them: with servers/ as the code root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "servers"))

from devserver.http_server import LocalServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(prog="devserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)), help="default: $PORT or 8080")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = LocalServer(args.host, args.port)
    for name in server.functions:
        print(f"  {name:<18} {server.url(name)}", flush=True)
    print(f"Serving on {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
