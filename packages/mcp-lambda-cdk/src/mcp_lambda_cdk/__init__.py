"""Reusable constructs: each one answers how one part of an MCP deployment is built on AWS."""

from mcp_lambda_cdk.authorization_server import McpAuthorizationServer, McpAuthorizationServerOptions, ScopeRule
from mcp_lambda_cdk.database import McpDatabase, McpDatabaseOptions
from mcp_lambda_cdk.database_users import McpDatabaseUser
from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from mcp_lambda_cdk.migrations import McpSchemaMigrations
from mcp_lambda_cdk.oidc_auth import McpOidcAuth, McpOidcAuthOptions, OidcIssuer
from mcp_lambda_cdk.server_stack import McpServerStack, stack_id
from mcp_lambda_cdk.tasks import TasksOptions
from mcp_lambda_cdk.tool_function import McpToolFunction
from mcp_lambda_cdk.tracing import McpTracing

__version__ = "0.2.0"
"""In step with mcp-lambda-runtime (the version every bundle installs) and mcp-lambda-proxy."""

__all__ = [
    "McpAuthorizationServer",
    "McpAuthorizationServerOptions",
    "McpDatabase",
    "McpDatabaseOptions",
    "McpDatabaseUser",
    "McpEndpoint",
    "McpLambdaService",
    "McpOidcAuth",
    "McpOidcAuthOptions",
    "McpSchemaMigrations",
    "McpServerStack",
    "McpToolFunction",
    "McpTracing",
    "OidcIssuer",
    "ScopeRule",
    "TasksOptions",
    "stack_id",
]
