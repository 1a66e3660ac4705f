"""Sign-in that desktop clients discover, against the local servers and their development issuer.

Two kinds of client, as desktop clients behave: one that signs in only when connecting is refused (401 at
`initialize`/`server/discover`) and never after, and one that calls only tools it has seen listed (signing
in on any 401). Each reaches `post_message`:

- on the secure server (the default policy: an anonymous connect is challenged), directly with the SDK's
  client and through the proxy;
- on the same server with anonymous browsing, the listed-only client directly (the tool is listed, marked,
  and its call answers the challenge) and a desktop client through the proxy, which signs in at the call
  and then sends `notifications/tools/list_changed`; the connect-only client cannot there, which is why
  challenging at connect is the default.

The pages are `make serve`'s own (the development issuer's sign-in, the authorization server's consent), filled
in as a person would: the direct clients drive them in-process, the proxy through `$BROWSER`
(form_browser.py, whose `walk` both use).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.shared.exceptions import MCPError

from mcp_lambda.auth.visibility import ACCESS_META_KEY
from tests.local.serving import serving
from tests.proxy.conftest import environ_without_sign_in_settings, secure_messaging_servers
from tests.proxy.sdk_oauth import SignInPage, direct_client, oauth_provider
from tests.proxy.helpers import ROOT, proxied_client, proxy_env, run_proxy

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

FORM_BROWSER = Path(__file__).resolve().parent / "form_browser.py"
EMAIL = "dana@company.com"


@pytest.fixture(scope="module")
def challenging(database_url) -> Iterator[str]:
    """secure-messaging as `make serve` serves it (anonymous connects challenged)."""
    with secure_messaging_servers(database_url) as servers:
        yield servers.url("secure-messaging")


@pytest.fixture(scope="module")
def browsing(database_url) -> Iterator[str]:
    """The same server with anonymous browsing, from its declaration module, by `mcp-lambda serve`."""
    env = {**environ_without_sign_in_settings(), "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT / "servers")}
    with serving("tests/proxy/browsing_servers.py", cwd=ROOT, env=env) as (_, urls):
        yield urls["browsing-messaging"]


# --- direct clients: the SDK's OAuth client, the sign-in page filled in-process ---------------------


class SignsInOnlyAtConnect(httpx2.Auth):
    """A client that runs sign-in while connecting and never again: once connected, a 401 is just an error."""

    def __init__(self, provider: OAuthClientProvider) -> None:
        self.provider = provider
        self.connected = False

    async def async_auth_flow(self, request: httpx2.Request):
        if self.connected:
            tokens = self.provider.context.current_tokens
            if tokens is not None:
                request.headers["Authorization"] = f"Bearer {tokens.access_token}"
            yield request
            return
        flow = self.provider.async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                break


async def post_through(client: Client, listed_only: bool) -> Any:
    """What the client does: list the tools, then post (a listed-only client only if post_message is listed)."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    if listed_only and "post_message" not in listed:
        return None
    return await client.call_tool("post_message", {"text": f"discovered {uuid.uuid4().hex[:8]}",
                                                   "idempotency_key": uuid.uuid4().hex})


def connect_only(url: str) -> tuple[Any, SignInPage]:
    page = SignInPage(EMAIL)
    auth = SignsInOnlyAtConnect(oauth_provider(url, page))

    async def run() -> Any:
        async with direct_client(url, auth) as client:
            auth.connected = True
            return await post_through(client, listed_only=False)

    return anyio.run(run), page


def listed_only(url: str) -> tuple[Any, SignInPage, list[Any]]:
    page = SignInPage(EMAIL)
    seen: list[Any] = []

    async def run() -> Any:
        async with direct_client(url, oauth_provider(url, page)) as client:
            seen.extend((await client.list_tools()).tools)
            return await post_through(client, listed_only=True)

    return anyio.run(run), page, seen


def test_a_client_that_signs_in_only_at_connect_posts_on_the_default_server(challenging):
    posted, page = connect_only(challenging)
    assert page.visits == 1
    assert posted.is_error is False and posted.structured_content["author"] == EMAIL


def test_a_client_that_calls_only_listed_tools_posts_on_the_default_server(challenging):
    posted, page, _ = listed_only(challenging)
    assert page.visits == 1
    assert posted.is_error is False and posted.structured_content["author"] == EMAIL


def test_a_client_that_calls_only_listed_tools_posts_on_a_browsing_server(browsing):
    posted, page, seen = listed_only(browsing)
    marked = {tool.name: (tool.meta or {}).get(ACCESS_META_KEY) for tool in seen}
    assert marked["post_message"] == {"signIn": True, "scopes": ["messages:write"]}, "listed before sign-in, marked"
    assert marked["get_messages"] is None
    assert page.visits == 1, "signed in at the call"
    assert posted.is_error is False and posted.structured_content["author"] == EMAIL


def test_a_client_that_signs_in_only_at_connect_cannot_post_on_a_browsing_server(browsing):
    """The trade-off anonymous browsing makes, and why it is not the default."""
    with pytest.raises(BaseException) as raised:
        connect_only(browsing)
    leaves = [raised.value]
    while isinstance(leaves[0], BaseExceptionGroup):
        leaves = list(leaves[0].exceptions)
    assert isinstance(leaves[0], MCPError) and "sign-in required" in leaves[0].message


# --- through the proxy ----------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    browser = tmp_path / "form-browser"
    browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FORM_BROWSER}" "$@"\n')
    browser.chmod(0o755)
    return proxy_env(tmp_path / "config", BROWSER=str(browser), FAKE_BROWSER_LOG=str(tmp_path / "browser.log"),
                     FAKE_BROWSER_EMAIL=EMAIL)


def visits(tmp_path: Path) -> int:
    log = tmp_path / "browser.log"
    return log.read_text().count('"visit"') if log.exists() else 0


@pytest.mark.parametrize("server", ["challenging", "browsing"])
def test_a_desktop_client_posts_through_the_proxy(request, server, env, tmp_path):
    url = request.getfixturevalue(server)
    notices: list[str] = []

    async def on_message(message: Any) -> None:
        method = getattr(getattr(message, "root", message), "method", None)
        if method:
            notices.append(method)

    async def run() -> tuple[Any, Any, Any]:
        async with proxied_client("discover", url, env=env, stderr=tmp_path / "stderr", message_handler=on_message) as client:
            before = {tool.name: tool for tool in (await client.list_tools()).tools}
            posted = await client.call_tool("post_message", {"text": "through the proxy", "idempotency_key": uuid.uuid4().hex})
            with anyio.move_on_after(5):
                while "notifications/tools/list_changed" not in notices and server == "browsing":
                    await anyio.sleep(0.05)
            after = {tool.name: tool for tool in (await client.list_tools()).tools}
            return before, posted, after

    before, posted, after = anyio.run(run)
    assert posted.is_error is False and posted.structured_content["author"] == EMAIL
    assert visits(tmp_path) == 1
    assert ACCESS_META_KEY not in (after["post_message"].meta or {})
    if server == "challenging":
        # The proxy met the challenge when it started (its ping): the desktop client only ever sees a signed-in server.
        assert ACCESS_META_KEY not in (before["post_message"].meta or {})
    else:
        assert before["post_message"].meta[ACCESS_META_KEY]["signIn"] is True
        assert "notifications/tools/list_changed" in notices, "told to list again after signing in"


def test_check_signs_in_on_a_browsing_server_whose_ping_is_public(browsing, env, tmp_path):
    """`--check` on a server that answers an anonymous ping: the published RFC 9728 metadata starts the sign-in."""
    done = run_proxy("discover", browsing, "--check", env=env)
    assert done.returncode == 0, done.stderr
    assert "signed in, ready" in done.stdout and visits(tmp_path) == 1
