"""`mcp-lambda-proxy`: desktop clients that only speak stdio reach a deployed (Streamable HTTP) MCP server.

    python -m mcp_lambda_proxy proxy NAME URL [--claude] [--client-id ID --client-secret SECRET] ...

- `bridge.py`: the stdio <-> Streamable HTTP bridge, on the SDK's dispatchers and `ClientSession`.
- `auth.py`: browser sign-in (the SDK's `OAuthClientProvider`), shared by every proxy process.
- `store.py`: where tokens and client secrets live (OS keychain or a 0600 file) and the lock around them.
- `claude.py`: the `--claude` entry in Claude Desktop's configuration.
- `cli.py`: the command line.
"""

__version__ = "0.2.0"
PROG = "mcp-lambda-proxy"
