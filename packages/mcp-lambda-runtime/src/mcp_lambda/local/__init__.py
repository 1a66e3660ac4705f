"""The local server: MCP servers served on this machine as Lambda runs them (`mcp-lambda serve`).

HTTP requests become Function URL events for each server's handler, each server in an execution environment
of its own; the database is `DATABASE_URL` or an embedded PostgreSQL; a development OIDC issuer signs people
in. For development and tests only: Lambda bundles leave this package out.
"""
