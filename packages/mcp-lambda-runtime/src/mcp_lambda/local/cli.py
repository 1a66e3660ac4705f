"""`mcp-lambda`: serve a project's MCP servers locally, as Lambda would run them, and mint development tokens.

    mcp-lambda serve                      # every server of mcp_servers.py in this folder
    mcp-lambda serve hello [other ...]    # server folders (server.py with `handler`) or declaration modules
    mcp-lambda token --email alice@example.com --scope notes:write

`serve` listens on 127.0.0.1:8080 (`--port`, `$PORT`) with each server at `/<name>/mcp`, the database at
`DATABASE_URL` or an embedded PostgreSQL (the `local` extra), and a development OIDC issuer at `/dev-oidc`
for servers with sign-in. Ctrl-C or SIGTERM stops it, and the embedded PostgreSQL with it. While it runs,
`.local/serve.json` names its URL, so `token` run from the same folder mints for the issuer of the server
that is running, on whatever port, without being told the port again.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen

from mcp_lambda.spec import SpecError

PROG = "mcp-lambda"
DEFAULT_PORT = 8080


def local_dir() -> Path:
    """Where the local server keeps its state (embedded database, issuer keys): `.local/` in this folder."""
    return Path.cwd() / ".local"


def serve_record() -> Path:
    """Where a running `serve` writes its URL for `token` (and removes it when it stops)."""
    return local_dir() / "serve.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve MCP servers locally")
    serve.add_argument("targets", nargs="*", help="server folders or declaration modules (default: mcp_servers.py)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)),
                       help=f"default: $PORT or {DEFAULT_PORT}; 0 picks a free port")
    serve.add_argument("--sigv4", action="store_true",
                       help="servers deployed behind AWS_IAM Function URLs take only requests signed (SigV4) with your "
                       "AWS credentials, as on AWS (try `mcp-lambda-proxy proxy ... --sigv4` against them)")
    serve.add_argument("--profile", help="with --sigv4: the AWS profile whose credentials sign (default: $AWS_PROFILE)")

    token = commands.add_parser("token", help="a token from the development issuer of a running `serve`")
    token.add_argument("--email", default=os.environ.get("EMAIL") or "alice@company.com")
    token.add_argument("--scope", action="append",
                       help="granted scopes, space-separated (repeatable; default: the dev scopes)")
    token.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    token.add_argument("--issuer", help="the issuer URL (default: the one the running `serve` names)")
    token.add_argument("--port", type=int, default=int(os.environ["PORT"]) if os.environ.get("PORT") else None,
                       help=f"the port `serve` listens on (default: $PORT, else the `serve` running from this "
                       f"folder, else {DEFAULT_PORT})")

    args = parser.parse_args(argv)
    try:
        return _serve(args) if args.command == "serve" else _token(args)
    except (SpecError, LocalError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


class LocalError(RuntimeError):
    """A local problem a person can fix; printed as one line."""


def _serve(args: argparse.Namespace) -> int:
    from mcp_lambda.local.database import LocalDatabaseError
    from mcp_lambda.local.http_server import LocalServer
    from mcp_lambda.local.project import load

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    servers = load(args.targets)
    sigv4 = None
    if args.sigv4:
        from mcp_lambda.local.sigv4 import local_verifier

        try:
            sigv4 = local_verifier(args.profile)
        except Exception as exc:  # botocore: unknown profile, unreadable config, ...
            raise LocalError(str(exc)) from None
    elif args.profile:
        raise LocalError("--profile goes with --sigv4")
    # SIGTERM (an IDE's stop button, `kill`) ends the process as Ctrl-C does, through the `finally` below and
    # the interpreter's exit, where the embedded PostgreSQL is stopped.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server = LocalServer(args.host, args.port, servers=servers, key_dir=local_dir() / "dev-oidc", sigv4=sigv4)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise LocalError(f"{args.host}:{args.port} is in use (another local server?): stop it, or choose "
                             f"another port (--port, or make serve PORT={args.port + 1})") from None
        raise
    except LocalDatabaseError as exc:
        raise LocalError(str(exc)) from None
    record = serve_record()
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"url": server.base_url, "pid": os.getpid()}))
        for name in server.functions:
            signed = "  (SigV4-signed requests only)" if sigv4 and server.servers[name].signed_requests else ""
            print(f"  {name:<18} {server.url(name)}{signed}", flush=True)
        print(f"Serving on {server.base_url} (Ctrl-C to stop)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        _forget(record)
    return 0


def _forget(record: Path) -> None:
    """Remove this process's serve.json, and not one a later `serve` in the same folder wrote."""
    try:
        if json.loads(record.read_text()).get("pid") == os.getpid():
            record.unlink()
    except (OSError, ValueError):
        pass


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _token(args: argparse.Namespace) -> int:
    from mcp_lambda.local.oidc_issuer import DEV_AUDIENCE, DEV_SCOPES, DevIssuer

    issuer = args.issuer or _running_issuer(args.port)
    # A scope may be given as OAuth writes them, several in one value separated by spaces (make token SCOPE=...).
    scopes = tuple(scope for given in args.scope or () for scope in given.split()) or DEV_SCOPES
    minted = DevIssuer(issuer, local_dir() / "dev-oidc").mint(
        args.email, scopes=scopes, lifetime=args.lifetime, audience=DEV_AUDIENCE)
    print(minted)
    return 0


def _running_issuer(port: int | None) -> str:
    """The issuer a running server names in its discovery document, so the token is one it accepts.

    Asked of the server on `port` when one is given; else of the `serve` this folder's serve.json names, then
    of the default port.
    """
    from mcp_lambda.local.http_server import ISSUER_PATH

    if port is not None:
        candidates = [f"http://127.0.0.1:{port}"]
    else:
        candidates = []
        try:
            candidates.append(str(json.loads(serve_record().read_text())["url"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no `serve` running from this folder (or one that was killed before it could clean up)
        candidates.append(f"http://127.0.0.1:{DEFAULT_PORT}")
    for base in dict.fromkeys(candidates):
        try:
            with urlopen(f"{base}/{ISSUER_PATH}/.well-known/openid-configuration", timeout=5) as reply:  # noqa: S310 (loopback)
                return str(json.load(reply)["issuer"])
        except (OSError, ValueError, KeyError):
            continue
    tried = ", ".join(urlsplit(base).netloc for base in dict.fromkeys(candidates))
    raise LocalError(f"no local server answers at {tried}: start `{PROG} serve` (or make serve) in this folder "
                     "first, or give --port or --issuer")


if __name__ == "__main__":
    sys.exit(main())
