"""The secure messaging server with anonymous browsing: discovery open to anonymous callers, protected tools
listed to them marked as needing sign-in (see mcp_lambda/auth/policy.py). Served by tests/proxy/browsing_servers.py."""

from __future__ import annotations

from dataclasses import replace

from mcp_lambda import lambda_handler
from secure_messaging.server import ACCESS, mcp

handler = lambda_handler(mcp, access=replace(ACCESS, anonymous_browsing=True))
