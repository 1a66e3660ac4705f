"""`python -m mcp_lambda_proxy ...`: the same command as the `mcp-lambda-proxy` console script."""

import sys

from mcp_lambda_proxy.cli import main

if __name__ == "__main__":
    sys.exit(main())
