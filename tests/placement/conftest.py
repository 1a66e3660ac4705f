"""Servers with placed tools, served as `mcp-lambda serve` serves them: the front and each tool function an
execution environment of its own, the tool functions invoked through Lambda's `invoke` (`mcp_lambda.placement`)."""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pg8000.native
import pytest

from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.local.database import ensure_database
from mcp_lambda.spec import ServerSpec, ToolPlacement
from tests.runtime.lambda_events import v2_event

LEGACY = {"mcp-protocol-version": "2025-11-25"}


def placed(spec: ServerSpec, *placements: ToolPlacement) -> ServerSpec:
    """`spec`, the same server, with `placements`."""
    return dataclasses.replace(spec, placements=placements)


def request(invoke: Callable[[dict[str, Any]], dict[str, Any]], method: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None, request_id: int | str = 1) -> tuple[int, Any]:
    """One JSON-RPC request through a local function's `invoke`, as its Function URL would send it: the status
    and the parsed body."""
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params is not None else {})}
    response = invoke(v2_event(body, headers={**LEGACY, **(headers or {})}))
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def call(invoke: Callable[[dict[str, Any]], dict[str, Any]], name: str, arguments: dict[str, Any],
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return request(invoke, "tools/call", {"name": name, "arguments": arguments}, headers)


@pytest.fixture
def fresh_database(admin_url, monkeypatch) -> Iterator[Callable[[], str]]:
    """Make a new empty database and point `DATABASE_URL` at it (a local server migrates it), so servers run one
    after the other start from the same state; dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(f"mcp_placement_{os.getpid()}_{uuid.uuid4().hex[:8]}")
        url = ensure_database(admin_url, made[-1])
        monkeypatch.setenv("DATABASE_URL", url)
        return url

    yield make
    admin = connect(DatabaseConfig.from_url(admin_url))
    try:
        for name in made:
            admin.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(name)} WITH (FORCE)")
    finally:
        admin.close()
