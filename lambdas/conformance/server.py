"""Fixtures for the official MCP conformance suite (placeholder: being completed)."""

from __future__ import annotations

from mcp_lambda import lambda_handler, new_server

mcp = new_server("conformance")


@mcp.tool()
def test_simple_text() -> str:
    """Returns a simple text result."""
    return "This is a simple text response for testing."


handler = lambda_handler(mcp)
