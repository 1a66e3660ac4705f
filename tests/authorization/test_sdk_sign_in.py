"""The official SDK's OAuth client signs in to `make serve`'s secure server through the local authorization
server (the deployed handler, mcp_lambda.authorization, in front of the development issuer), once with a
client ID metadata document and once with dynamic client registration, and posts a message.

The metadata document is served over HTTPS on loopback with a certificate made for the test; the server
process trusts it through `SSL_CERT_FILE` (its fetcher verifies certificates, as deployed; only the
private-address rule is relaxed locally). The pages are filled in as a person would (tests/proxy/form_browser.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import anyio
import jwt
import pytest

from tests.authorization.https_documents import certificate, serve_documents
from tests.proxy.conftest import LocalServers, secure_messaging_servers
from tests.proxy.sdk_oauth import REDIRECT_URI, MemoryStorage, SignInPage, direct_client, oauth_provider

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

EMAIL = "erin@company.com"


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cimd")
    pem, key = certificate()
    with serve_documents(pem, key, directory) as server:
        server.certificate_file = directory / "cert.pem"
        yield server


@pytest.fixture(scope="module")
def local(database_url, documents) -> Iterator[LocalServers]:
    with secure_messaging_servers(database_url, SSL_CERT_FILE=str(documents.certificate_file)) as servers:
        yield servers


def sign_in_and_post(url: str, *, client_metadata_url: str | None = None) -> tuple[object, dict, SignInPage]:
    page = SignInPage(EMAIL, groups="messages:write")
    storage = MemoryStorage()

    async def run() -> object:
        provider = oauth_provider(url, page, client_metadata_url=client_metadata_url, storage=storage)
        async with direct_client(url, provider) as client:
            return await client.call_tool("post_message", {"text": f"signed in by the SDK {uuid.uuid4().hex[:6]}",
                                                           "idempotency_key": uuid.uuid4().hex})

    posted = anyio.run(run)
    assert storage.tokens is not None
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    return posted, claims, page


def test_the_sdk_client_signs_in_with_a_client_id_metadata_document(local, documents):
    path = "/oauth/sdk-client.json"
    client_id = f"https://127.0.0.1:{documents.server_address[1]}{path}"
    documents.routes[path] = (200, [("Content-Type", "application/json"), ("Cache-Control", "max-age=600")],
                              json.dumps({"client_id": client_id, "client_name": "SDK test client",
                                          "redirect_uris": [REDIRECT_URI],
                                          "grant_types": ["authorization_code", "refresh_token"],
                                          "token_endpoint_auth_method": "none"}).encode())
    url = local.url("secure-messaging")

    posted, claims, page = sign_in_and_post(url, client_metadata_url=client_id)

    assert posted.is_error is False and posted.structured_content["author"] == EMAIL
    assert claims["client_id"] == client_id, "the metadata URL is the client id"
    assert claims["iss"] == f"{local.base_url}/oauth" and claims["aud"] == url
    assert claims["scope"] == "messages:write"
    assert page.visits == 1
    assert any(seen == path for seen, _ in documents.requests), "the authorization server fetched the document"


def test_the_sdk_client_signs_in_with_dynamic_registration(local):
    url = local.url("secure-messaging")

    posted, claims, page = sign_in_and_post(url)

    assert posted.is_error is False and posted.structured_content["author"] == EMAIL
    assert claims["client_id"].startswith("mcp-"), "registered itself"
    assert claims["aud"] == url and claims["scope"] == "messages:write"
    assert page.visits == 1
