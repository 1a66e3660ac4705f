"""Placements and the database: a tool placed without its server's database (`ToolPlacement(database=False)`) runs
with none, and a front that runs none of its tools does not connect.

Against the real PostgreSQL, through `mcp-lambda serve`'s local functions. On AWS the same declaration puts the
function outside the database's VPC (tests/cdk/test_placement.py).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from mcp_lambda.database import DatabaseConfig, connect
from mcp_lambda.local.http_server import LocalServer
from mcp_lambda.spec import ToolPlacement
from mcp_servers import MESSAGING, SECURE_MESSAGING
from tests.log_records import LogRecords
from tests.placement.conftest import call, placed, request

sdk_logger = logging.getLogger("mcp.server.mcpserver.server")


def sessions(admin_url: str, database_url: str, user: str) -> int:
    """How many connections `user` holds to the database of `database_url`."""
    admin = connect(DatabaseConfig.from_url(admin_url))
    try:
        database = urlsplit(database_url).path.lstrip("/")
        (count,), = admin.run("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND usename = :u",
                              d=database, u=user)
        return int(count)
    finally:
        admin.close()


def test_a_tool_placed_without_the_database_runs_and_one_that_needs_it_fails_saying_why_in_its_log(fresh_database):
    # Given secure messaging with whoami and, wrongly, get_messages placed without the database
    server = placed(SECURE_MESSAGING, ToolPlacement("whoami", database=False),
                    ToolPlacement("get_messages", database=False))
    fresh_database()
    with LocalServer(port=0, servers=[server]) as local:
        front = local.functions["secure-messaging"].invoke
        token = local.issuer.mint("writer@company.com", scopes=("openid", "messages:write"))
        headers = {"authorization": f"Bearer {token}"}
        # Then whoami answers from the forwarded claims
        status, body = call(front, "whoami", {}, headers)
        assert status == 200 and body["result"]["structuredContent"]["email"] == "writer@company.com", body
        # and get_messages fails as a crash does: a tool error naming the tool and nothing of the deployment, with
        # the reason in the function's log
        records = LogRecords()
        sdk_logger.addHandler(records)
        status, body = call(front, "get_messages", {"limit": 1}, headers)
        assert status == 200 and body["result"]["isError"] is True
        assert body["result"]["content"][0]["text"] == "Error executing tool get_messages"
        sdk_logger.removeHandler(records)
        [record] = [r for r in records.records if r.exc_info]
        assert "this tool's function has no database: its placement says database=False" in str(
            record.exc_info[1].__cause__)
        assert local.tool_functions["secure-messaging-get-messages"].handler.started
        # while post_message, in the front, writes as before
        status, body = call(front, "post_message", {"text": "still posting"}, headers)
        assert body["result"]["isError"] is False, body


def test_a_front_that_runs_none_of_its_tools_does_not_connect(fresh_database, admin_url):
    # Given messaging with both tools placed: the front's own user (mcp_messaging) is never needed
    every_tool = placed(MESSAGING, ToolPlacement("post_message", grants={"messages": ("INSERT",)}),
                        ToolPlacement("get_messages", grants={"messages": ("SELECT",)}))
    url = fresh_database()
    with LocalServer(port=0, servers=[every_tool]) as local:
        front = local.functions["messaging"].invoke
        assert request(front, "tools/list")[0] == 200
        status, body = call(front, "get_messages", {})
        assert status == 200 and body["result"]["isError"] is False, body
        # Then the front started (its lifespan entered) without a connection; the tool function has its own
        assert local.functions["messaging"].handler.started
        assert sessions(admin_url, url, "mcp_messaging_get_messages") == 1
        assert sessions(admin_url, url, "mcp_messaging") == 0


def test_a_front_that_runs_a_tool_connects_at_start(fresh_database, admin_url):
    """The opposite, so that the test above can fail: a tool left in the front warms its connection."""
    one_placed = placed(MESSAGING, ToolPlacement("get_messages", grants={"messages": ("SELECT",)}))
    url = fresh_database()
    with LocalServer(port=0, servers=[one_placed]) as local:
        assert request(local.functions["messaging"].invoke, "tools/list")[0] == 200
        assert sessions(admin_url, url, "mcp_messaging") == 1
