"""One stack per deployment case; each composes the constructs in ``mcp_lambda_cdk``."""
