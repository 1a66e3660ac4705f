"""Which services the local server mounts, and where their Lambda handlers live.

A service is served at `/<name>/mcp`; the handler is imported from `lambdas/` exactly as Lambda would
import it (`module:attribute`), so what runs here is what ships.
"""

from __future__ import annotations

SERVICES: dict[str, str] = {
    "weather": "weather.server:handler",
    "messaging": "messaging.server:handler",
    "secure-messaging": "secure_messaging.server:handler",
    "conformance": "conformance.server:handler",
    "reports": "reports.server:handler",
}

# Services that need the database, and the migrations that make their schema (secure-messaging shares the
# messaging channel's table; reports reads it).
DATABASE_SERVICES = {"messaging", "secure-messaging", "reports"}
MIGRATIONS = ("messaging/migrations",)

# What a local server trusts by default: loopback hosts on any port, and pages served from loopback
# (MCP Inspector runs on localhost). Read by the runtime as MCP_ALLOWED_HOSTS / MCP_ALLOWED_ORIGINS.
LOCAL_ENVIRONMENT: dict[str, str] = {
    "MCP_ALLOWED_HOSTS": "127.0.0.1:*,localhost:*,[::1]:*,127.0.0.1,localhost",
    "MCP_ALLOWED_ORIGINS": "http://127.0.0.1:*,http://localhost:*,http://[::1]:*",
    # EMF lines are for CloudWatch; locally they would only bury the logs.
    "POWERTOOLS_METRICS_DISABLED": "true",
    # Task workers notice cancellation at each heartbeat; with the in-memory store a beat costs nothing.
    "MCP_TASKS_HEARTBEAT_SECONDS": "1",
}
