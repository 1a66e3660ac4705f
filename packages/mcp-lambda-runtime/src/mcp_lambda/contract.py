"""What the CDK constructs and the runtime agree on, each name defined once.

The constructs (mcp-lambda-cdk) set these environment variables, graph and alarm on these metrics, filter
logs on this marker, route these paths and shape the task table so; the runtime reads, emits, logs, serves
and stores them. Both sides import the names from here, and tests/cdk/test_contract.py synthesizes every
stack and reads each function's environment with the runtime's own configuration readers. Standard library
only (nothing at all, in fact): a CDK app imports it at synth time without the SDK.
"""

from __future__ import annotations

# -- environment variables: serving (mcp_lambda.settings.RuntimeSettings) -----------------------------------
MCP_PATH = "MCP_PATH"
MCP_ALLOWED_HOSTS = "MCP_ALLOWED_HOSTS"
MCP_ALLOWED_ORIGINS = "MCP_ALLOWED_ORIGINS"
MCP_MAX_REQUEST_BYTES = "MCP_MAX_REQUEST_BYTES"
MCP_MAX_RESPONSE_BYTES = "MCP_MAX_RESPONSE_BYTES"
MCP_MAX_BATCH_ITEMS = "MCP_MAX_BATCH_ITEMS"
MCP_BATCH_TIME_RESERVE_MS = "MCP_BATCH_TIME_RESERVE_MS"
MCP_REQUEST_STATE_KEYS = "MCP_REQUEST_STATE_KEYS"
MCP_REQUEST_STATE_SECRET_ARN = "MCP_REQUEST_STATE_SECRET_ARN"
MCP_DIRECT_DISPATCH = "MCP_DIRECT_DISPATCH"

# -- environment variables: traces (mcp_lambda.tracing; McpLambdaService(tracing=...)) ---------------------
MCP_TRACING = "MCP_TRACING"
"""`otlp`: a trace per invocation, exported over OTLP/HTTP (the OpenTelemetry exporter's `OTEL_EXPORTER_OTLP_*`
variables; on Lambda the ADOT collector extension at localhost:4318). Unset or `off`: no tracing."""
TRACING_OTLP = "otlp"
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_VARIABLES = (OTEL_EXPORTER_OTLP_ENDPOINT,)
"""What the constructs set for OpenTelemetry's exporter, which reads them itself."""

# -- environment variables: sign-in (mcp_lambda.auth.config.AuthConfig) ------------------------------------
MCP_AUTH_CONFIG = "MCP_AUTH_CONFIG"

# -- environment variables: the database (mcp_lambda.database.DatabaseConfig) ------------------------------
DATABASE_URL = "DATABASE_URL"
MCP_DB_HOST = "MCP_DB_HOST"
MCP_DB_PORT = "MCP_DB_PORT"
MCP_DB_NAME = "MCP_DB_NAME"
MCP_DB_USER = "MCP_DB_USER"
MCP_DB_IAM_AUTH = "MCP_DB_IAM_AUTH"
MCP_DB_SECRET_ARN = "MCP_DB_SECRET_ARN"
MCP_DB_TLS = "MCP_DB_TLS"
MCP_DB_STATEMENT_TIMEOUT_MS = "MCP_DB_STATEMENT_TIMEOUT_MS"
MCP_NO_DATABASE = "MCP_NO_DATABASE"
"""``true``: this function has no database by declaration (a tool function placed with ``database=False``): the
database lifespan hands its tools a database that refuses every statement, saying so, instead of failing to start
for want of a configuration (or, locally, connecting through the process's ``DATABASE_URL``)."""

# -- environment variables: schema migrations (mcp_lambda.migrations) --------------------------------------
MCP_MIGRATIONS_DIR = "MCP_MIGRATIONS_DIR"

# -- environment variables: tasks (mcp_lambda.tasks.config.TaskConfig) -------------------------------------
MCP_TASKS_TABLE = "MCP_TASKS_TABLE"
MCP_TASKS_WORKER_ARN = "MCP_TASKS_WORKER_ARN"
MCP_TASKS_TTL_SECONDS = "MCP_TASKS_TTL_SECONDS"
MCP_TASKS_POLL_INTERVAL_MS = "MCP_TASKS_POLL_INTERVAL_MS"
MCP_TASKS_HEARTBEAT_SECONDS = "MCP_TASKS_HEARTBEAT_SECONDS"
MCP_TASKS_START_TIMEOUT_SECONDS = "MCP_TASKS_START_TIMEOUT_SECONDS"

# -- environment variables: tools placed on functions of their own (mcp_lambda.placement; ServerSpec.placements) --
MCP_TOOL_FUNCTIONS = "MCP_TOOL_FUNCTIONS"
"""On the front function: JSON ``{"<tool>": "<function name or ARN, with its alias>"}``, the functions that run
its placed tools; each `tools/call` of such a tool is forwarded there by a synchronous Invoke."""
MCP_TOOL_FUNCTION_TOOLS = "MCP_TOOL_FUNCTION_TOOLS"
"""On a tool function: the tools it runs, comma-separated. It serves tool-call events for those only, and
refuses every other event (HTTP requests included)."""

# -- environment variables: the authorization server (mcp_lambda.authorization.config.AuthorizationConfig) -----
MCP_AS_CONFIG = "MCP_AS_CONFIG"
"""JSON: issuer, the resources (MCP servers) it issues tokens for, the upstream identity provider, scope rules."""
MCP_AS_CONFIG_PARAMETER = "MCP_AS_CONFIG_PARAMETER"
"""The name of an SSM parameter holding that JSON, read at the first request: deployed, the configuration names
the function's own URL and the MCP servers' URLs, which its environment cannot (CloudFormation cycles)."""
MCP_AS_TABLE = "MCP_AS_TABLE"
"""The DynamoDB table of clients, pending sign-ins, codes, refresh-token families and fetched client metadata."""
MCP_AS_KMS_KEY_ID = "MCP_AS_KMS_KEY_ID"
"""The asymmetric KMS key (SIGN_VERIFY) that signs access tokens."""
MCP_AS_UPSTREAM_SECRET = "MCP_AS_UPSTREAM_SECRET"
"""The name (or ARN) of the Secrets Manager secret holding the upstream client's secret: the string, or JSON
with a `client_secret` field."""

# -- environment variables read by Powertools itself (the logger's service, the metrics' namespace) --------
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_VARIABLES = (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE)

# -- metrics (EMF; the AuthFailures metric comes from a metric filter on the AUTH_FAILURE log line) --------
METRICS_NAMESPACE = "McpServers"
SERVICE_DIMENSION = "service"
TOOL_DIMENSION = "tool"
TOOL_CALLS = "ToolCalls"
TOOL_ERRORS = "ToolErrors"
TOOL_LATENCY = "ToolLatency"
AUTH_FAILURES = "AuthFailures"
TASKS_STARTED = "TasksStarted"
TASKS_COMPLETED = "TasksCompleted"
TASKS_FAILED = "TasksFailed"
TASKS_CANCELLED = "TasksCancelled"
TASK_RUNNING_AGE = "TaskRunningAge"

# -- log markers ---------------------------------------------------------------------------------------------
AUTH_FAILURE = "AUTH_FAILURE"
"""The `message` of the one JSON log line written for every request sign-in refuses."""

# -- paths ---------------------------------------------------------------------------------------------------
DEFAULT_MCP_PATH = "/mcp"
PROTECTED_RESOURCE_WELL_KNOWN = "/.well-known/oauth-protected-resource"
"""RFC 9728's well-known prefix, before the resource's path: `/.well-known/oauth-protected-resource/mcp`."""

# -- handlers ------------------------------------------------------------------------------------------------
MIGRATIONS_HANDLER = "mcp_lambda.migrations.handler"

# -- a service's database user: the custom resource the migration function also serves ---------------------
DATABASE_USER_RESOURCE_TYPE = "Custom::McpDatabaseUser"
DATABASE_USER_PROPERTY = "User"
"""The user's name (``ServerSpec.database_user``)."""
DATABASE_USER_GRANTS_PROPERTY = "Grants"
"""``{"<table>": ["SELECT", ...]}``: the privileges, exactly (``ServerSpec.grants``)."""
DATABASE_USER_SECRET_PROPERTY = "SecretArn"
"""The user's Secrets Manager secret (``username``, ``password``): the password the proxy signs in with."""

# -- the authorization server's table ------------------------------------------------------------------------
AS_TABLE_PARTITION_KEY = "pk"
AS_TABLE_TTL_ATTRIBUTE = "expires_at"

# -- a placed tool's call: the synchronous event the front function sends its tool function --------------
TOOL_CALL_EVENT_KEY = "mcp_tool_call"
TOOL_FUNCTION_ALIAS = "live"
"""The alias of a tool function the front invokes (and may invoke: its role names exactly these)."""

# -- tasks: the asynchronous event that runs one, and the table that keeps them -----------------------------
TASK_EVENT_KEY = "mcp_task"
TASK_TABLE_PARTITION_KEY = "task_id"
TASK_TABLE_TTL_ATTRIBUTE = "expires_at"
