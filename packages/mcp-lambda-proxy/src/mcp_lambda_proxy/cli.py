"""The command line: `mcp-lambda-proxy proxy NAME URL [options]` (also `python -m mcp_lambda_proxy ...`)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2

from mcp_lambda_proxy import PROG, __version__
from mcp_lambda_proxy.auth import BEARER_CHOICES, LoopbackCallback, ProxyAuth, SignInOptions
from mcp_lambda_proxy.bridge import PROTOCOL_CHOICES, Bridge
from mcp_lambda_proxy.claude import CLAUDE_CONFIG_ENV, ClaudeConfigError, config_path, install_entry, launcher_environment, proxy_entry
from mcp_lambda_proxy.store import CONFIG_DIR_ENV, STORE_ENV, CredentialStore, StoreError, config_dir
from mcp_lambda_proxy.sigv4 import CredentialsError, SigV4Auth, credential_source, infer_target
from mcp_lambda_proxy.upstream import ProxyHttpClient, display_url, parse_header, preflight, protected_resource_metadata

log = logging.getLogger("mcp_lambda_proxy")

DEFAULT_SIGN_IN_TIMEOUT = 300.0
READ_TIMEOUT_SECONDS = 900.0  # a Lambda function runs for 15 minutes at most
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")
CLIENT_SECRET_ENV = "MCP_LAMBDA_PROXY_CLIENT_SECRET"

DESCRIPTION = """\
Lets a desktop MCP client that only speaks stdio (Claude Desktop, ...) use an MCP server deployed
behind Streamable HTTP (a Lambda Function URL, API Gateway, any HTTP endpoint). The client launches
the proxy; the proxy forwards every message both ways and signs the user in with a browser when the
server asks for it (OAuth 2.1 authorization code with PKCE), keeping the tokens for the next time.
"""

PROXY_EPILOG = f"""\
examples:
  {PROG} proxy weather https://abc123.lambda-url.us-east-1.on.aws/mcp --mode http --claude
  {PROG} proxy chat https://chat.example.com/mcp --client-id ID.apps.googleusercontent.com \\
      --client-secret SECRET --claude
  {PROG} proxy messaging https://abc123.lambda-url.eu-west-1.on.aws/mcp --sigv4 --profile dev --claude

Sign-in: on a 401 the proxy discovers the server's authorization server (RFC 9728 / RFC 8414 / OpenID
Connect), registers itself when the server allows it (or uses --client-id), opens the browser on the
sign-in page (the URL is printed on stderr too) and receives the answer on http://127.0.0.1:<port>/callback.
Tokens are refreshed before the browser is asked again, and several proxies share them.

AWS_IAM endpoints: with --sigv4 every request is signed (SigV4) with credentials from the standard AWS
chain (environment, --profile or $AWS_PROFILE, SSO, container and instance roles), refreshed as they
expire; the caller needs lambda:InvokeFunctionUrl on the function (execute-api:Invoke behind API Gateway).

Stored sign-ins: the OS keychain (with the optional `keyring` package), else a file readable only by
you in {config_dir()} (${CONFIG_DIR_ENV} or --config-dir to change it).
Forget one with `{PROG} logout NAME`.

Environment: ${CONFIG_DIR_ENV}, ${STORE_ENV}, ${CLAUDE_CONFIG_ENV}, $BROWSER (the browser command
Python's webbrowser module uses).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    proxy = commands.add_parser(
        "proxy",
        help="serve one HTTP MCP server to a stdio client (or, with --claude, register it in Claude Desktop)",
        description="Serve the MCP server at URL over stdio, signing in when it asks.",
        epilog=PROXY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    proxy.add_argument(
        "name", metavar="NAME",
        help="a short name for the server: the key of its Claude Desktop entry and of its stored sign-in",
    )
    proxy.add_argument(
        "url", metavar="URL",
        help="the server's MCP endpoint, e.g. https://abc123.lambda-url.us-east-1.on.aws/mcp",
    )
    proxy.add_argument(
        "--mode", choices=["http"], default="http",
        help="how to reach the server: Streamable HTTP, the only mode (accepted for compatibility with "
        "`mcpengine proxy ... --mode http`)",
    )
    proxy.add_argument(
        "--claude", action="store_true",
        help="instead of serving, add or update the NAME entry in Claude Desktop's configuration so Claude "
        "launches this proxy with these options (other entries are kept, a timestamped backup is written "
        "first, a client secret goes to the credential store, not the file), then exit",
    )
    proxy.add_argument(
        "--claude-config", metavar="PATH",
        help=f"the Claude Desktop configuration file --claude edits (default: ${CLAUDE_CONFIG_ENV}, else "
        "the per-OS location of claude_desktop_config.json)",
    )
    proxy.add_argument(
        "--client-id", metavar="ID",
        help="an OAuth client registered beforehand with the authorization server (needed for providers "
        "without dynamic registration, such as Google); without it the proxy registers itself, or uses "
        "--client-metadata-url where supported",
    )
    proxy.add_argument(
        "--client-secret", metavar="SECRET", default=os.environ.get(CLIENT_SECRET_ENV) or None,
        help=f"the secret of --client-id, if it has one (or ${CLIENT_SECRET_ENV}, which keeps it out of "
        "process listings); kept in the credential store, so later runs (and the --claude entry) need "
        "only --client-id",
    )
    proxy.add_argument(
        "--scope", metavar="SCOPES",
        help='scopes to ask for, space-separated in one argument (e.g. "openid email"); default: what the '
        "server asks for, else what its metadata lists",
    )
    proxy.add_argument(
        "--protocol", choices=PROTOCOL_CHOICES, default="auto",
        help="protocol revision with the server: auto (default) tries 2026-07-28 and falls back to the "
        "initialize handshake; legacy always uses the handshake (the client's own offer is passed on); "
        "2026-07-28 requires that revision",
    )
    proxy.add_argument(
        "--bearer", choices=BEARER_CHOICES, default="auto",
        help="which token authorizes requests: auto (default) sends the OpenID Connect ID token to servers "
        "whose users sign in with Google, the access token otherwise",
    )
    proxy.add_argument(
        "--client-metadata-url", metavar="URL",
        help="an HTTPS URL where this client's OAuth metadata document is published; used as the client ID "
        "when the authorization server supports client ID metadata documents",
    )
    proxy.add_argument(
        "--check", action="store_true",
        help="instead of serving, reach the server once (signing in if it asks or publishes RFC 9728 sign-in "
        "metadata, and keeping the tokens), report, and exit: sign in from a terminal before Claude Desktop "
        "starts the proxy",
    )
    proxy.add_argument(
        "--callback-port", metavar="PORT", type=int, default=0,
        help="listen for the sign-in redirect on this loopback port instead of one chosen at run time; for "
        "authorization servers that only accept registered redirect URIs exactly (Cognito: the stack registers "
        "http://127.0.0.1:8976/callback to :8980)",
    )
    proxy.add_argument(
        "--no-browser", action="store_true",
        help="do not open a browser for sign-in; only print the sign-in URL on stderr",
    )
    proxy.add_argument(
        "--sign-in-timeout", metavar="SECONDS", type=float, default=DEFAULT_SIGN_IN_TIMEOUT,
        help=f"how long to wait for the browser sign-in to complete (default {DEFAULT_SIGN_IN_TIMEOUT:.0f})",
    )
    aws = proxy.add_argument_group("AWS_IAM endpoints (SigV4)")
    aws.add_argument(
        "--sigv4", action="store_true",
        help="sign every request with AWS Signature Version 4 (for Function URLs with auth type AWS_IAM and "
        "IAM-authorized API Gateway methods) instead of signing in with OAuth",
    )
    aws.add_argument("--profile", metavar="NAME", help="the AWS profile whose credentials sign (default: $AWS_PROFILE, "
                     "else the default chain)")
    aws.add_argument("--region", metavar="REGION", help="the region to sign for (default: read from a Function URL or "
                     "API Gateway host, else the profile's region)")
    aws.add_argument("--sigv4-service", metavar="SERVICE", help="the service to sign for (default: lambda for Function "
                     "URLs and loopback, execute-api otherwise)")
    proxy.add_argument(
        "--header", metavar="NAME=VALUE", action="append", default=[], type=_header,
        help="send this header with every request to the server (repeatable; 'NAME: VALUE' works too); never sent "
        "to the authorization server. Kept in the Claude Desktop entry in clear with --claude",
    )
    _store_options(proxy)
    _log_option(proxy)

    logout = commands.add_parser(
        "logout", help="forget the stored sign-in (tokens, registered client, secret) of NAME",
        description="Forget the stored sign-in of NAME: its tokens, registered client and client secret.",
    )
    logout.add_argument("name", metavar="NAME", help="the name given to `proxy`")
    _store_options(logout)
    _log_option(logout)
    return parser


def _header(argument: str) -> tuple[str, str]:
    try:
        return parse_header(argument)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", choices=["auto", "keyring", "file"], default=None,
        help=f"where tokens and secrets are kept: auto (default, or ${STORE_ENV}) uses the OS keychain when "
        "the `keyring` package finds one, else the credential file, readable only by you",
    )
    parser.add_argument(
        "--config-dir", metavar="DIR",
        help=f"directory of the credential file and its lock (default: ${CONFIG_DIR_ENV}, else {config_dir()})",
    )


def _log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default="warning",
        help="what the proxy reports on stderr (default warning); debug includes HTTP and protocol traces",
    )


class _OneLine(logging.Formatter):
    """No tracebacks on stderr unless debugging: a desktop client shows stderr to its user."""

    def __init__(self, debug: bool) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s" if debug else f"{PROG}: %(message)s")
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        if self.debug:
            return super().format(record)
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return " ".join(super().format(record).split())
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def configure_logging(level: str) -> None:
    debug = level == "debug"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(debug))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("mcp_lambda_proxy").setLevel(getattr(logging, level.upper()))
    if not debug:
        # The SDK logs what it raises (with tracebacks); the proxy reports those failures itself.
        for noisy in ("mcp", "client", "httpx2", "httpcore2", "httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
        warnings.simplefilter("ignore")


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not NAME_PATTERN.match(args.name):
        parser.error("NAME must be 1-64 letters, digits, '.', '_', '-' or spaces, starting with a letter or digit")
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        parser.error(f"URL must be an http:// or https:// URL, not {args.url!r}")
    if url.scheme == "http" and url.hostname not in ("127.0.0.1", "localhost", "::1"):
        print(f"{PROG}: warning: {display_url(args.url)} is plain HTTP; tokens would cross the network unencrypted",
              file=sys.stderr)
    if args.client_secret and not args.client_id:
        parser.error("--client-secret needs --client-id")
    if args.sign_in_timeout <= 0:
        parser.error("--sign-in-timeout must be positive")
    if args.client_metadata_url and not args.client_metadata_url.startswith("https://"):
        parser.error("--client-metadata-url must be an https:// URL")
    if args.sigv4:
        oauth = [flag for flag, given in (("--client-id", args.client_id), ("--client-secret", args.client_secret),
                                           ("--client-metadata-url", args.client_metadata_url),
                                           ("--scope", args.scope), ("--bearer", args.bearer != "auto")) if given]
        if oauth:
            parser.error(f"--sigv4 signs requests with AWS credentials: {', '.join(oauth)} (OAuth sign-in) cannot apply")
        taken = [name for name, _ in args.header if name == "authorization" or name.startswith("x-amz-")]
        if taken:
            parser.error(f"--sigv4 sets {', '.join(taken)} itself")
    else:
        aws_only = [flag for flag, given in (("--profile", args.profile), ("--region", args.region),
                                              ("--sigv4-service", args.sigv4_service)) if given]
        if aws_only:
            parser.error(f"{', '.join(aws_only)} {'needs' if len(aws_only) == 1 else 'need'} --sigv4")


def _store(args: argparse.Namespace, lock_timeout: float = 600.0) -> CredentialStore:
    directory = Path(args.config_dir).expanduser() if args.config_dir else None
    return CredentialStore(directory, backend=args.store, lock_timeout=lock_timeout)


# --- proxy ------------------------------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> int:
    """Check the server (signing in if asked), then bridge stdin/stdout to it until stdin closes."""
    if args.sigv4:
        try:
            credentials, profile_region = credential_source(args.profile)
            target = infer_target(args.url, region=args.region, service=args.sigv4_service,
                                  default_region=lambda: profile_region)
        except (CredentialsError, ValueError) as exc:
            print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
            return 1
        description = f"AWS credentials of profile {args.profile!r}" if args.profile else "AWS credentials"
        log.info("signing requests for %s in %s", target.service, target.region)
        return await _proxy(args, SigV4Auth(args.url, target, credentials, description=description), None)

    store = _store(args, lock_timeout=args.sign_in_timeout + 120)
    callback = await LoopbackCallback.open(args.callback_port)
    try:
        options = SignInOptions(
            name=args.name,
            server_url=args.url,
            client_id=args.client_id,
            client_secret=args.client_secret,
            scope=args.scope,
            bearer=args.bearer,
            client_metadata_url=args.client_metadata_url,
            sign_in_timeout=args.sign_in_timeout,
            open_browser=not args.no_browser,
        )
        auth = ProxyAuth(options, store, callback)
        await auth.load()
        return await _proxy(args, auth, auth)
    finally:
        await callback.aclose()


async def _proxy(args: argparse.Namespace, auth: httpx2.Auth, oauth: ProxyAuth | None) -> int:
    """Reach the server once (`--check` stops there), then serve stdio. `oauth` is the OAuth sign-in, if used."""
    from mcp.server.stdio import stdio_server
    from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

    timeout = httpx2.Timeout(30.0, read=READ_TIMEOUT_SECONDS)
    headers = {"user-agent": f"{PROG}/{__version__}"}
    async with ProxyHttpClient(auth=auth, timeout=timeout, headers=headers,
                               server_url=args.url, server_headers=args.header) as http_client:
        problem = await preflight(http_client, args.url, sigv4=oauth is None)
        if problem:
            print(f"{PROG}: {problem}", file=sys.stderr, flush=True)
            return 1
        if args.check and oauth is not None and oauth.context.current_tokens is None:
            # A server whose ping is public never challenged it: sign in now if it offers sign-in.
            metadata_url = await protected_resource_metadata(http_client, args.url)
            if metadata_url is not None:
                oauth.sign_in_before_next_request(metadata_url)
                problem = await preflight(http_client, args.url, sigv4=oauth is None)
                if problem:
                    print(f"{PROG}: {problem}", file=sys.stderr, flush=True)
                    return 1
        if args.check:
            if oauth is None:
                how = "requests signed, "
            else:
                how = "signed in, " if oauth.context.current_tokens is not None else ""
            print(f"{PROG}: {args.name} ({display_url(args.url)}) answers: {how}ready", flush=True)
            return 0
        log.info("serving %s (%s) on stdio", args.name, display_url(args.url))
        async with stdio_server() as (read_stream, write_stream):
            downstream: JSONRPCDispatcher[Any] = JSONRPCDispatcher(read_stream, write_stream)
            async with anyio.create_task_group() as tg:
                bridge = Bridge(
                    name=args.name,
                    url=args.url,
                    protocol=args.protocol,
                    http_client=http_client,
                    downstream=downstream,
                    task_group=tg,
                )
                if oauth is not None:
                    oauth.on_sign_in = bridge.signed_in
                await downstream.run(bridge.on_request, bridge.on_notify)
                await bridge.aclose()  # the desktop client closed stdin: end the server's session too
                tg.cancel_scope.cancel()
    return 0


def register_with_claude(args: argparse.Namespace) -> int:
    """--claude: store the client secret, then write the NAME entry that launches this proxy."""
    forwarded = [args.name, args.url, "--mode", "http"]
    for flag, value, default in (
        ("--protocol", args.protocol, "auto"),
        ("--client-id", args.client_id, None),
        ("--scope", args.scope, None),
        ("--bearer", args.bearer, "auto"),
        ("--client-metadata-url", args.client_metadata_url, None),
        ("--store", args.store, None),
        ("--config-dir", str(Path(args.config_dir).expanduser().absolute()) if args.config_dir else None, None),
        ("--log-level", args.log_level, "warning"),
        # Claude Desktop does not start the proxy in this shell: a profile chosen by $AWS_PROFILE is written down.
        ("--profile", args.profile or (os.environ.get("AWS_PROFILE") if args.sigv4 else None), None),
        ("--region", args.region, None),
        ("--sigv4-service", args.sigv4_service, None),
    ):
        if value is not None and value != default:
            forwarded += [flag, value]
    if args.sign_in_timeout != DEFAULT_SIGN_IN_TIMEOUT:
        forwarded += ["--sign-in-timeout", f"{args.sign_in_timeout:g}"]
    if args.callback_port:
        forwarded += ["--callback-port", str(args.callback_port)]
    if args.no_browser:
        forwarded.append("--no-browser")
    if args.sigv4:
        forwarded.append("--sigv4")
    for name, value in args.header:
        forwarded += ["--header", f"{name}={value}"]
    env = launcher_environment()
    for variable in (CONFIG_DIR_ENV, STORE_ENV):
        if os.environ.get(variable) and variable not in env:
            env[variable] = os.environ[variable]

    if args.client_secret:
        anyio.run(_store_client_secret, args)
        print(f"{PROG}: stored the client secret for {args.name} in {_store(args).describe()}", file=sys.stderr)

    path = config_path(args.claude_config)
    entry = proxy_entry(["proxy", *forwarded], env)
    update = install_entry(path, args.name, entry)
    if not update.changed:
        print(f"{PROG}: {path}: {args.name} is already up to date")
    else:
        verb = "created" if update.created else "updated"
        backup = f" (previous version saved as {update.backup.name})" if update.backup else ""
        print(f"{PROG}: {verb} {path}: entry {args.name} launches the proxy for {display_url(args.url)}{backup}")
        print(f"{PROG}: restart Claude Desktop to use it")
    # The entry's own command line (its interpreter by absolute path, its environment), so that it works in any
    # shell, in or out of this virtual environment, and signs in where the desktop client will look.
    check = " ".join(_quote(a) for a in [*(f"{name}={value}" for name, value in entry.get("env", {}).items()),
                                         entry["command"], *entry["args"], "--check"])
    print(f"{PROG}: if the server asks for sign-in, the browser opens when Claude Desktop starts the proxy; "
          f"to sign in now instead: {check}")
    return 0


def _quote(argument: str) -> str:
    return argument if re.fullmatch(r"[A-Za-z0-9_./:=@%+-]+", argument) else "'" + argument.replace("'", "'\\''") + "'"


async def _store_client_secret(args: argparse.Namespace) -> None:
    store = _store(args)
    async with store.lock:
        record = await store.read(args.name)
        secrets = dict(record.get("secrets") or {})
        client = dict(record.get("client") or {})
        if record.get("url") != args.url or client.get("client_id") != args.client_id:
            # A new server or client: what was stored for the old one no longer applies.
            record, secrets = {}, {}
        record["url"] = args.url
        record["client"] = {
            "client_id": args.client_id,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
        }
        secrets["client_secret"] = args.client_secret
        record["secrets"] = secrets
        await store.write(args.name, record)


async def _logout(args: argparse.Namespace) -> bool:
    return await _store(args).delete(args.name)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        if args.command == "logout":
            forgotten = anyio.run(_logout, args)
            print(f"{PROG}: {'forgot' if forgotten else 'nothing stored for'} {args.name}")
            return 0
        _check_arguments(parser, args)
        if args.claude:
            return register_with_claude(args)
        return anyio.run(serve, args)
    except (StoreError, ClaudeConfigError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a defect: one line for the desktop client's log, the trace with --log-level debug
        log.debug("unexpected failure", exc_info=True)
        leaf = _first_leaf(exc)
        print(f"{PROG}: unexpected error: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        return 1


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
