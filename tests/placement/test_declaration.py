"""What a placement may declare (`ToolPlacement`, `ServerSpec.placements`): each refusal, and what a valid declaration
means for the database, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_lambda.spec import ServerSpec, SpecError, ToolPlacement
from mcp_servers import SERVERS_DIR

MESSAGING_DIR = SERVERS_DIR / "messaging"

REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # (case, server's declaration, placement's, what the error says)
    ("no tool", {}, {"tools": ()}, "names one tool or several"),
    ("a tool named twice", {}, {"tools": ("post_message", "post_message")}, "names a tool twice"),
    ("a tool that is no identifier", {}, {"tools": "get-messages"}, "names one tool or several"),
    ("a name with upper case", {}, {"tools": "post_message", "name": "Tools"}, "lower-case letters"),
    ("too little memory", {}, {"tools": "post_message", "memory_size": 64}, "memory_size"),
    ("too long a timeout", {}, {"tools": "post_message", "timeout": 901}, "timeout"),
    ("negative provisioned concurrency", {}, {"tools": "post_message", "provisioned_concurrency": -1}, "negative"),
    ("SnapStart with provisioned concurrency", {}, {"tools": "post_message", "snap_start": True, "provisioned_concurrency": 1},
     "do not go together"),
    ("grants without a database", {}, {"tools": "post_message", "grants": {"messages": ("SELECT",)}}, "need database=True"),
    ("grants on a placement without the database", {"database": True},
     {"tools": "post_message", "grants": {"messages": ("SELECT",)}, "database": False}, "database=False says it has not"),
    ("the database on a server without one", {}, {"tools": "post_message", "database": True}, "needs database=True on the server"),
    ("tasks on a server without tasks", {}, {"tools": "post_message", "tasks": True}, "need tasks=True"),
]


@pytest.mark.parametrize(("server", "placement", "message"), [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_a_placement_that_cannot_be_is_refused_saying_why(server: dict[str, Any], placement: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ServerSpec("messaging", MESSAGING_DIR, placements=(ToolPlacement(**placement),), **server)


@pytest.mark.parametrize(("placements", "message"), [
    ((ToolPlacement("post_message"), ToolPlacement("post_message", name="again")), "a tool is placed twice"),
    ((ToolPlacement("post_message", name="pm"), ToolPlacement("get_messages", name="pm")), "placements share a name"),
], ids=["a tool placed twice", "two placements of one name"])
def test_placements_that_collide_are_refused(placements: tuple[ToolPlacement, ...], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ServerSpec("messaging", MESSAGING_DIR, placements=placements)


@pytest.mark.parametrize(("server", "placement", "uses_database", "user"), [
    ({"database": True}, {}, True, None),
    ({"database": True, "grants": {"messages": ("SELECT",)}}, {}, True, "mcp_messaging"),
    ({"database": True}, {"grants": {"messages": ("INSERT",)}}, True, "mcp_messaging_post_message"),
    ({"database": True, "grants": {}}, {"database": False}, False, None),
    ({}, {}, False, None),
], ids=["the server's owner", "the server's user", "its own user", "none by declaration", "a server without one"])
def test_a_placement_uses_the_servers_database_unless_it_says_otherwise(server: dict[str, Any],
                                                                        placement: dict[str, Any],
                                                                        uses_database: bool, user: str | None) -> None:
    spec = ServerSpec("messaging", MESSAGING_DIR, placements=(ToolPlacement("post_message", **placement),), **server)
    assert spec.placement_database(spec.placements[0]) is uses_database
    assert spec.placement_user(spec.placements[0]) == user
