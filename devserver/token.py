"""`make token EMAIL=alice@company.com`: a token from the development issuer of `make serve`."""

from __future__ import annotations

import argparse
import os

from devserver.oidc_issuer import DEV_AUDIENCE, DEV_SCOPES, DevIssuer


def main() -> None:
    parser = argparse.ArgumentParser(prog="devserver.token", description=__doc__)
    parser.add_argument("--email", default=os.environ.get("EMAIL") or "alice@company.com")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)),
                        help="the port `make serve` listens on (the issuer URL includes it)")
    parser.add_argument("--scope", action="append", help=f"granted scope (repeatable; default {' '.join(DEV_SCOPES)})")
    parser.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    args = parser.parse_args()
    issuer = DevIssuer(f"http://127.0.0.1:{args.port}/dev-oidc")
    print(issuer.mint(args.email, scopes=tuple(args.scope or DEV_SCOPES), lifetime=args.lifetime,
                      audience=DEV_AUDIENCE))


if __name__ == "__main__":
    main()
