"""2026-07-28 requestState sealed by one instance is accepted by another when the keys are configured."""

from __future__ import annotations

import pytest

from mcp.server.request_state import InvalidRequestState

from mcp_lambda.request_state import request_state_security
from mcp_lambda.settings import RuntimeSettings

KEY = "k" * 40


def test_configured_keys_are_shared_between_instances():
    one = request_state_security(RuntimeSettings.from_env({"MCP_REQUEST_STATE_KEYS": KEY}), audience="svc")
    two = request_state_security(RuntimeSettings.from_env({"MCP_REQUEST_STATE_KEYS": KEY}), audience="svc")
    assert two.codec.unseal(one.codec.seal(b"state")) == b"state"


def test_rotation_ring_unseals_with_the_old_key():
    old = request_state_security(RuntimeSettings.from_env({"MCP_REQUEST_STATE_KEYS": KEY}), audience="svc")
    ring = request_state_security(RuntimeSettings.from_env({"MCP_REQUEST_STATE_KEYS": f"{'n' * 40},{KEY}"}),
                                  audience="svc")
    assert ring.codec.unseal(old.codec.seal(b"s")) == b"s"


def test_without_configuration_each_process_has_its_own_key():
    assert request_state_security(RuntimeSettings.from_env({}), audience="svc") is None


def test_a_foreign_key_is_refused():
    one = request_state_security(RuntimeSettings.from_env({"MCP_REQUEST_STATE_KEYS": KEY}), audience="svc")
    other = request_state_security(RuntimeSettings.from_env({"MCP_REQUEST_STATE_KEYS": "z" * 40}), audience="svc")
    with pytest.raises(InvalidRequestState):
        other.codec.unseal(one.codec.seal(b"state"))


def test_short_keys_are_rejected_at_start():
    with pytest.raises(ValueError, match="32 bytes"):
        request_state_security(RuntimeSettings.from_env({"MCP_REQUEST_STATE_KEYS": "short"}), audience="svc")
