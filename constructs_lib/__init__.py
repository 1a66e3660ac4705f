"""Reusable constructs: each one answers how one part of an MCP deployment is built on AWS."""
