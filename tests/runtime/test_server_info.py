"""Every server reports the runtime distribution's version as `serverInfo.version`, unless it names its own."""

from __future__ import annotations

from importlib import metadata

import pytest

import mcp_lambda
from mcp_lambda import lambda_handler, new_server
from tests.runtime.lambda_events import FakeContext, response_json, v2_event

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


@pytest.mark.parametrize("declared, expected", [(None, mcp_lambda.__version__), ("7.1.0", "7.1.0")])
def test_server_info_carries_the_distributions_version(declared, expected):
    server = new_server("versioned", **({"version": declared} if declared else {}))
    handler = lambda_handler(server)
    try:
        reply = response_json(handler(v2_event(INITIALIZE, headers={"mcp-protocol-version": "2025-11-25"}),
                                      FakeContext()))
    finally:
        handler.close()
    assert reply["result"]["serverInfo"] == {"name": "versioned", "version": expected}
    assert mcp_lambda.__version__ == metadata.version("mcp-lambda-runtime")
