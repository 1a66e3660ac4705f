"""Reusable constructs: each one answers how one part of an MCP deployment is built on AWS."""

from mcp_lambda_cdk.database import McpDatabase
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.oidc_auth import McpOidcAuth, OidcIssuer

__version__ = "0.2.0"
"""In step with mcp-lambda-runtime (the version every bundle installs) and mcp-lambda-proxy."""

__all__ = ["McpDatabase", "McpLambdaService", "McpOidcAuth", "OidcIssuer"]
