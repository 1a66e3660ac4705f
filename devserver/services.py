"""Which services the local server mounts: every server declared in `mcp_servers.py`.

A service is served at `/<name>/mcp`; the handler is imported from its folder exactly as Lambda would
import it (`<package>.server:handler`), so what runs here is what ships.
"""

from __future__ import annotations

from mcp_servers import SERVERS

SERVICES: dict[str, str] = {spec.name: f"{spec.package}.server:handler" for spec in SERVERS}

# Services that need the database, and the migrations that make their schema, each applied once.
DATABASE_SERVICES = {spec.name for spec in SERVERS if spec.database}
MIGRATIONS = tuple(dict.fromkeys(directory for spec in SERVERS for directory in spec.migration_dirs))

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
