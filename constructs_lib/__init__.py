"""Reusable constructs: each one answers how one part of an MCP deployment is built on AWS."""

from constructs_lib.database import McpDatabase
from constructs_lib.lambda_service import McpLambdaService
from constructs_lib.oidc_auth import McpOidcAuth, OidcIssuer

__all__ = ["McpDatabase", "McpLambdaService", "McpOidcAuth", "OidcIssuer"]
