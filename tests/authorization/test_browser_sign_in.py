"""The sign-in a person does, in a real browser: Debian's Chromium driven by Playwright through `make serve`'s
pages (the development issuer's sign-in page, then the authorization server's consent page), for the official
SDK's OAuth client, which then posts a message with the token. Screenshots of both pages are written to
`$MCP_SCREENSHOTS` (default: the test's temporary directory) for a person to look at.

What the browser proves that a scripted HTTP client cannot: the pages render and their forms submit as
pages (the content security policy allows what they need, and nothing blocks the form posts or the final
redirect to the client's loopback URI), and the flow's cookie survives the trip through the upstream.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from mcp.shared.auth import AuthorizationCodeResult

from tests.proxy.conftest import LocalServers, secure_messaging_servers
from tests.proxy.sdk_oauth import REDIRECT_URI, MemoryStorage, direct_client, oauth_provider

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EMAIL = "grace@company.com"
# Flags for a closed network and a root user (see the machine notes): no background connections, no sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    return CHROMIUM


@pytest.fixture(scope="module")
def local(database_url) -> Iterator[LocalServers]:
    with secure_messaging_servers(database_url) as servers:
        yield servers


class ChromiumSignIn:
    """The SDK's redirect and callback handlers, played by a person in Chromium."""

    def __init__(self, executable: str, screenshots: Path) -> None:
        self.executable = executable
        self.screenshots = screenshots
        self.pages: dict[str, str] = {}
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, authorization_url: str) -> None:
        self._result = await anyio.to_thread.run_sync(self._browse, authorization_url)

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None
        return self._result

    def _browse(self, url: str) -> AuthorizationCodeResult:
        from playwright.sync_api import sync_playwright

        landed: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=self.executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                # The client's loopback redirect URI: the browser really navigates there; answer as the client would.
                page.route(f"{REDIRECT_URI}**", lambda route: (landed.append(route.request.url),
                                                              route.fulfill(status=200, body="Signed in")))
                page.goto(url)
                page.fill("input[name=email]", EMAIL)
                page.screenshot(path=str(self.screenshots / "sign-in.png"), full_page=True)
                self.pages["sign-in"] = page.content()
                page.click("button[value=sign-in]")
                page.wait_for_selector("button[value=allow]")
                page.screenshot(path=str(self.screenshots / "consent.png"), full_page=True)
                self.pages["consent"] = page.inner_text("main")
                page.click("button[value=allow]")
                page.wait_for_url(f"{REDIRECT_URI}**")
            finally:
                browser.close()
        query = {k: v[0] for k, v in parse_qs(urlsplit(landed[-1]).query).items()}
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


def test_a_person_signs_in_and_consents_in_chromium(chromium, local, tmp_path):
    screenshots = Path(os.environ.get("MCP_SCREENSHOTS") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    person = ChromiumSignIn(chromium, screenshots)
    url = local.url("secure-messaging")
    storage = MemoryStorage()

    async def run():
        provider = oauth_provider(url, person, storage=storage)  # type: ignore[arg-type]
        async with direct_client(url, provider) as client:
            return await client.call_tool("post_message", {"text": f"from Chromium {uuid.uuid4().hex[:6]}",
                                                           "idempotency_key": uuid.uuid4().hex})

    posted = anyio.run(run)

    assert posted.is_error is False and posted.structured_content["author"] == EMAIL
    consent = person.pages["consent"]
    for expected in ("Allow access to", "SDK test client", "secure-messaging/mcp", EMAIL, "messages:write",
                     "127.0.0.1:9", "registered itself"):
        assert expected in consent, f"the consent page names {expected!r}"
    for name in ("sign-in.png", "consent.png"):
        assert (screenshots / name).stat().st_size > 10_000, f"{name} was rendered"
