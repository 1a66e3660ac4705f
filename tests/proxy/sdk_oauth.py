"""The official SDK's OAuth client as a person uses it: tokens kept in memory, and a browser that goes through
`make serve`'s pages (the development issuer's sign-in, the authorization server's consent) in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tests.proxy.form_browser import walk

REDIRECT_URI = "http://127.0.0.1:9/callback"


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class SignInPage:
    """A person at the development issuer's sign-in page: types the email, presses Sign in."""

    def __init__(self, email: str, groups: str | None = None) -> None:
        self.email = email
        self.groups = groups
        self.visits = 0
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, authorization_url: str) -> None:
        self.visits += 1

        def browse() -> str | None:
            with httpx.Client(timeout=30) as http:
                typed = {"email": self.email, **({"groups": self.groups} if self.groups is not None else {})}
                return walk(http, authorization_url, typed=typed)

        target = await anyio.to_thread.run_sync(browse)
        assert target is not None, "the sign-in pages could not be answered"
        query = parse_qs(urlsplit(target).query)
        self._result = AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0],
                                               iss=query.get("iss", [None])[0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None
        return self._result


def oauth_provider(url: str, page: SignInPage, *, client_metadata_url: str | None = None,
                   storage: MemoryStorage | None = None) -> OAuthClientProvider:
    """The SDK's provider: it registers (DCR), or uses `client_metadata_url` as its client id (CIMD) where the
    authorization server supports that."""
    metadata = OAuthClientMetadata(client_name="SDK test client", redirect_uris=[AnyUrl(REDIRECT_URI)],
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                   token_endpoint_auth_method="none")
    return OAuthClientProvider(server_url=url, client_metadata=metadata, storage=storage or MemoryStorage(),
                               redirect_handler=page.redirect, callback_handler=page.callback,
                               client_metadata_url=client_metadata_url)


@asynccontextmanager
async def direct_client(url: str, auth: httpx2.Auth) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(auth=auth, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


