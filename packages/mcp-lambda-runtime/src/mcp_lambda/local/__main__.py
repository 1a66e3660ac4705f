"""`python -m mcp_lambda.local ...`: the same command as the `mcp-lambda` console script."""

import sys

from mcp_lambda.local.cli import main

if __name__ == "__main__":
    sys.exit(main())
