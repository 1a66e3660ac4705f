"""Client ID Metadata Documents: what is fetched, from where, how long it may take, and what is accepted.

Every fetch here is real: an HTTPS server on 127.0.0.1 in a thread, with a certificate made for the test
session, serving whatever each test puts in its routes. The SSRF cases use the default policy with a fake
resolver, and prove the refusal came before any connection (the loopback cases point at the test server's
own port, so a connection would show up there).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import socket
import ssl
import threading
import time

import pytest

from tests.authorization.https_documents import certificate, serve_documents
from mcp_lambda.authorization.cimd import (
    ClientDocument,
    ClientMetadataError,
    MemoryCache,
    MetadataFetcher,
    is_metadata_url,
)

@pytest.fixture(scope="module")
def tls():
    return certificate()


@pytest.fixture(scope="module")
def server(tls, tmp_path_factory):
    with serve_documents(*tls, tmp_path_factory.mktemp("tls")) as httpd:
        yield httpd


@pytest.fixture
def trust(tls) -> ssl.SSLContext:
    """A client context trusting exactly the test certificate."""
    return ssl.create_default_context(cadata=tls[0])


_unique = itertools.count()


def _requests(server, path):
    return [headers for p, headers in server.requests if p == path]


def _document(url: str, **fields) -> dict:
    return {"client_id": url, "client_name": "Example", "redirect_uris": ["https://app.example/callback"], **fields}


def _json(body, status=200, headers=(), content_type="application/json") -> tuple[int, list, bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return status, [("Content-Type", content_type), ("Content-Length", str(len(raw))), *headers], raw


class _RecordingCache(MemoryCache):
    """A MemoryCache that remembers the lifetime of each put."""

    def __init__(self, clock=time.time) -> None:
        super().__init__(clock)
        self.ttls: list[int] = []

    def put(self, url, document_json, ttl_seconds):
        self.ttls.append(ttl_seconds)
        super().put(url, document_json, ttl_seconds)


def _fetcher(trust, **kwargs) -> MetadataFetcher:
    """The development policy: private addresses allowed, the test certificate trusted."""
    return MetadataFetcher(ssl_context=trust, allow_private_addresses=True, timeout=kwargs.pop("timeout", 3.0),
                           **kwargs)


def _resolver(mapping: dict[str, list[str]], calls: list | None = None):
    """A getaddrinfo for names in `mapping`, recording its calls."""
    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        if calls is not None:
            calls.append((host, port, type))
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        results = []
        for address in mapping[host]:
            if ":" in address:
                results.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                results.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return results
    return resolve


# OAuth error_description: %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2), so no quotes, backslashes, non-ASCII.
_DESCRIPTION_CHARACTERS = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


def _assert_safe(error: ClientMetadataError) -> None:
    assert error.error == "invalid_client"
    description = error.description
    assert set(description) <= _DESCRIPTION_CHARACTERS
    assert description.endswith(".") and description.count(". ") == 0, description
    assert "Traceback" not in description and "SECRET-BODY" not in description


# --- is_metadata_url ------------------------------------------------------------------------------------

URL_SHAPES = {
    "https://client.example/metadata.json": True,
    "https://client.example:8443/oauth/client": True,
    "https://client.example/client?version=2": True,
    "https://127.0.0.1/x": True,  # shaped like one; the fetch refuses the address
    "http://client.example/metadata.json": False,
    "HTTPS://client.example/metadata.json": False,
    "https://client.example": False,
    "https://client.example/": False,
    "https://client.example?x=1": False,
    "https://user@client.example/metadata.json": False,
    "https://user:pw@client.example/metadata.json": False,
    "https://client.example/metadata.json#frag": False,
    "https://client.example/metadata.json#": False,
    "https://client.example/./metadata.json": False,
    "https://client.example/a/../metadata.json": False,
    "https://client.example/a/%2e%2e/metadata.json": False,
    "https://client.example/a/.": False,
    "https:///metadata.json": False,
    "https://client.example:99999/metadata.json": False,
    "https://client.example:port/metadata.json": False,
    "https://[::1/metadata.json": False,
    "https://client.example/meta data.json": False,
    "https://client.exa\tmple/metadata.json": False,
    "https://client.example/metadata.json\n": False,
    "https://client.example/\u00e9": False,
    "https://client.example\\@evil.example/x": False,
    "3f2c9a7e-client-id": False,
    "": False,
}


@pytest.mark.parametrize("url", URL_SHAPES)
def test_is_metadata_url(url):
    assert is_metadata_url(url) is URL_SHAPES[url]


def test_is_metadata_url_refuses_non_strings():
    assert is_metadata_url(None) is False  # type: ignore[arg-type]
    assert is_metadata_url(b"https://client.example/x") is False  # type: ignore[arg-type]


def test_a_client_id_that_is_not_a_metadata_url_is_refused_before_any_lookup():
    calls: list = []
    fetcher = MetadataFetcher(resolver=_resolver({}, calls))
    with pytest.raises(ClientMetadataError) as raised:
        fetcher.fetch("http://client.example/metadata.json")
    _assert_safe(raised.value)
    assert calls == []


# --- a good document ------------------------------------------------------------------------------------


def test_a_good_document_is_accepted_and_cached(server, trust):
    path = "/good"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url, client_uri="https://app.example", logo_uri="https://app.example/l.png",
                                          scope="read write", extra_field={"ignored": True}))
    fetcher = _fetcher(trust)

    document = fetcher.fetch(url)
    assert document == ClientDocument(
        client_id=url, client_name="Example", redirect_uris=("https://app.example/callback",),
        client_uri="https://app.example", logo_uri="https://app.example/l.png",
        grant_types=("authorization_code",), response_types=("code",), token_endpoint_auth_method="none",
        scope="read write")
    assert fetcher.fetch(url) == document
    requests = _requests(server, path)
    assert len(requests) == 1, "the second fetch is served from the cache"
    headers = requests[0]
    assert headers["accept"] == "application/json"
    assert headers["host"] == f"localhost:{server.server_address[1]}"
    assert not {"cookie", "authorization"} & headers.keys()


def test_the_document_survives_the_cache_round_trip():
    document = ClientDocument(
        client_id="https://client.example/c", client_name=None, redirect_uris=("https://a.example/cb", "com.a.app:/cb"),
        client_uri=None, logo_uri=None, grant_types=("authorization_code", "refresh_token"),
        response_types=("code",), token_endpoint_auth_method="none", scope=None)
    assert ClientDocument.from_json(json.loads(json.dumps(document.to_json()))) == document


ACCEPTED = {
    "loopback http redirect URIs (RFC 8252 §7.3)": dict(
        redirect_uris=["http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/callback"]),
    "private-use scheme (RFC 8252 §7.1)": dict(redirect_uris=["com.example.app:/callback"]),
    "explicit none": dict(token_endpoint_auth_method="none"),
    "refresh tokens too": dict(grant_types=["authorization_code", "refresh_token"]),
    "response_types code": dict(response_types=["code"]),
    "null optional fields": dict(client_name=None, logo_uri=None, scope=None),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_accepted_documents(server, trust, case):
    path = f"/accepted/{next(_unique)}"
    url = f"https://127.0.0.1:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url, **ACCEPTED[case]))
    document = _fetcher(trust).fetch(url)
    assert document.client_id == url
    if "redirect_uris" in ACCEPTED[case]:
        assert document.redirect_uris == tuple(ACCEPTED[case]["redirect_uris"])


def test_content_type_parameters_are_allowed(server, trust):
    path = "/charset"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url), content_type="application/json; charset=utf-8")
    assert _fetcher(trust).fetch(url).client_id == url


def test_a_streamed_document_without_content_length_is_read(server, trust):
    path = "/streamed"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = (200, [("Content-Type", "application/json")], json.dumps(_document(url)).encode())
    assert _fetcher(trust).fetch(url).client_id == url


# --- caching --------------------------------------------------------------------------------------------

# Cache-Control header (None: absent) -> the lifetime given to the cache (None: not cached)
CACHE_CONTROL = {
    "absent": (None, 300),
    "max-age=3600": ("max-age=3600", 3600),
    "public, max-age=120": ("public, max-age=120", 120),
    "max-age below the floor": ("max-age=5", 60),
    "max-age=0": ("max-age=0", 60),
    "max-age above the ceiling": ("max-age=31536000", 86400),
    "unreadable max-age": ("max-age=soon", 300),
    "no-store": ("no-store", None),
    "no-cache": ("no-cache, max-age=600", None),
    "private": ("private, max-age=600", None),
}


@pytest.mark.parametrize("case", CACHE_CONTROL)
def test_cache_lifetime_follows_cache_control(server, trust, case):
    header, ttl = CACHE_CONTROL[case]
    path = f"/cache/{case.replace(' ', '-').replace(',', '').replace('=', '-')}"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url), headers=[("Cache-Control", header)] if header else [])
    cache = _RecordingCache()
    fetcher = _fetcher(trust, cache=cache)
    fetcher.fetch(url)
    fetcher.fetch(url)
    if ttl is None:
        assert cache.ttls == []
        assert len(_requests(server, path)) == 2, "an uncacheable document is fetched every time"
    else:
        assert cache.ttls == [ttl]
        assert len(_requests(server, path)) == 1


def test_a_cached_document_expires_on_the_injected_clock(server, trust):
    path = "/expiring"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url), headers=[("Cache-Control", "max-age=120")])
    now = [1_000_000.0]
    fetcher = _fetcher(trust, clock=lambda: now[0])
    fetcher.fetch(url)
    now[0] += 119
    fetcher.fetch(url)
    assert len(_requests(server, path)) == 1
    now[0] += 1
    fetcher.fetch(url)
    assert len(_requests(server, path)) == 2


def test_a_failed_fetch_is_not_cached(server, trust):
    path = "/fixed-later"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url, token_endpoint_auth_method="client_secret_basic"))
    fetcher = _fetcher(trust)
    with pytest.raises(ClientMetadataError):
        fetcher.fetch(url)
    server.routes[path] = _json(_document(url))
    assert fetcher.fetch(url).client_id == url
    assert len(_requests(server, path)) == 2


def test_an_unreadable_cache_entry_is_fetched_afresh(server, trust):
    path = "/stale-entry"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url))
    cache = MemoryCache()
    cache.put(url, {"client_id": url}, 300)
    assert _fetcher(trust, cache=cache).fetch(url).redirect_uris == ("https://app.example/callback",)
    assert len(_requests(server, path)) == 1


# --- refused documents and responses --------------------------------------------------------------------

# name -> (function of the URL giving the route, words the description must contain)
REFUSED = {
    "client_id mismatch": (lambda url: _json(_document(url + "-other")), "client_id"),
    "client_id missing": (lambda url: _json({k: v for k, v in _document(url).items() if k != "client_id"}),
                          "client_id"),
    "client_id with a trailing slash": (lambda url: _json(_document(url + "/")), "client_id"),
    "http redirect URI to a public host": (
        lambda url: _json(_document(url, redirect_uris=["http://app.example/cb"])), "plain http"),
    "http redirect URI to a loopback look-alike": (
        lambda url: _json(_document(url, redirect_uris=["http://127.0.0.1.app.example/cb"])), "plain http"),
    "redirect URI with a fragment": (
        lambda url: _json(_document(url, redirect_uris=["https://app.example/cb#x"])), "fragment"),
    "relative redirect URI": (lambda url: _json(_document(url, redirect_uris=["/callback"])), "absolute"),
    "javascript redirect URI": (
        lambda url: _json(_document(url, redirect_uris=["javascript:alert(1)"])), "scheme"),
    "second redirect URI bad": (
        lambda url: _json(_document(url, redirect_uris=["https://app.example/cb", "ftp://app.example/cb"])),
        "entry 2"),
    "redirect URI with userinfo": (
        lambda url: _json(_document(url, redirect_uris=["https://app.example@evil.example/cb"])), "user"),
    "redirect URI not a string": (lambda url: _json(_document(url, redirect_uris=[7])), "string"),
    "no redirect URIs": (lambda url: _json(_document(url, redirect_uris=[])), "redirect_uris"),
    "redirect_uris a string": (lambda url: _json(_document(url, redirect_uris="https://app.example/cb")),
                               "redirect_uris"),
    "client_secret": (lambda url: _json(_document(url, client_secret="s3cr3t")), "client_secret"),
    "client_secret_expires_at": (lambda url: _json(_document(url, client_secret_expires_at=0)),
                                 "client_secret_expires_at"),
    "client_secret_basic": (lambda url: _json(_document(url, token_endpoint_auth_method="client_secret_basic")),
                            "must be none"),
    "client_secret_post": (lambda url: _json(_document(url, token_endpoint_auth_method="client_secret_post")),
                           "must be none"),
    "private_key_jwt": (lambda url: _json(_document(url, token_endpoint_auth_method="private_key_jwt")),
                        "private_key_jwt is not supported"),
    "implicit grant": (lambda url: _json(_document(url, grant_types=["authorization_code", "implicit"])),
                       "grant_types"),
    "refresh_token alone": (lambda url: _json(_document(url, grant_types=["refresh_token"])), "grant_types"),
    "client_credentials": (lambda url: _json(_document(url, grant_types=["client_credentials"])), "grant_types"),
    "response_types token": (lambda url: _json(_document(url, response_types=["token"])), "response_types"),
    "client_name a number": (lambda url: _json(_document(url, client_name=7)), "client_name"),
    "scope a list": (lambda url: _json(_document(url, scope=["read"])), "scope"),
    "javascript client_uri": (lambda url: _json(_document(url, client_uri="javascript:alert(1)")), "client_uri"),
    "data logo_uri": (lambda url: _json(_document(url, logo_uri="data:image/png;base64,AAAA")), "logo_uri"),
    "not JSON": (lambda url: _json(b"<html>SECRET-BODY</html>"), "JSON"),
    "NaN": (lambda url: _json(b'{"client_id": NaN}'), "JSON"),
    "not UTF-8": (lambda url: _json(b'{"client_name": "\xff"}'), "UTF-8"),
    "deeply nested": (lambda url: _json(b"[" * 10000), "JSON"),
    "JSON array": (lambda url: _json([_document(url)]), "JSON object"),
    "404": (lambda url: _json({"error": "SECRET-BODY"}, status=404), "404"),
    "500": (lambda url: _json({"error": "SECRET-BODY"}, status=500), "500"),
    "204": (lambda url: (204, [], b""), "204"),
    "302 (not followed)": (lambda url: (302, [("Location", url.rsplit("/", 1)[0] + "/good")], b""), "redirect"),
    "301 (not followed)": (lambda url: (301, [("Location", url.rsplit("/", 1)[0] + "/good")], b""), "redirect"),
    "text/html": (lambda url: _json(_document(url), content_type="text/html"), "application/json"),
    "application/json-seq": (lambda url: _json(_document(url), content_type="application/json-seq"),
                             "application/json"),
    "no content type": (lambda url: (200, [], json.dumps(_document(url)).encode()), "application/json"),
    "oversized by Content-Length": (
        lambda url: (200, [("Content-Type", "application/json"), ("Content-Length", "1000000")], b"{}"),
        "larger than 16384 bytes"),
    "oversized while streaming": (
        lambda url: (200, [("Content-Type", "application/json")], b" " * 100_000 + json.dumps(_document(url)).encode()),
        "larger than 16384 bytes"),
    "invalid Content-Length": (
        lambda url: (200, [("Content-Type", "application/json"), ("Content-Length", "-1")], b"{}"), "Content-Length"),
    "shorter than Content-Length": (
        lambda url: (200, [("Content-Type", "application/json"), ("Content-Length", "900")], b"{}"), "ended"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_documents_and_responses(server, trust, case):
    route, words = REFUSED[case]
    path = f"/refused/{next(_unique)}"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = route(url)
    cache = _RecordingCache()
    with pytest.raises(ClientMetadataError) as raised:
        _fetcher(trust, cache=cache).fetch(url)
    _assert_safe(raised.value)
    assert words in raised.value.description
    assert cache.ttls == [], "a failure is never cached"
    assert len(_requests(server, path)) == 1
    if "not followed" in case:
        assert [p for p, _ in server.requests[-1:]] == [path], "the Location was not requested"


@pytest.mark.timeout(30)
def test_an_oversized_stream_is_not_read_to_the_end(server, trust):
    """The body stops being read past the limit: of a 256 MB stream, the server gets to send only what the
    socket buffers hold before the fetcher hangs up."""
    path = "/endless"
    sent = [0]
    done = threading.Event()

    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        try:
            for _ in range(4096):
                handler.wfile.write(b" " * 65536)
                sent[0] += 65536
        except OSError:
            pass  # the fetcher hung up, as it should
        finally:
            done.set()

    server.routes[path] = endless
    url = f"https://localhost:{server.server_address[1]}{path}"
    with pytest.raises(ClientMetadataError) as raised:
        _fetcher(trust, max_bytes=1000).fetch(url)
    assert "larger than 1000 bytes" in raised.value.description
    assert done.wait(10)
    assert sent[0] < 64 * 1024 * 1024


# --- the deadline ---------------------------------------------------------------------------------------


def _trickle(head: bytes, body: bytes):
    """A route that sends `head` at once, then `body` one byte every half second."""
    def route(handler):
        try:
            handler.wfile.write(head)
            for byte in body[:40]:
                handler.wfile.write(bytes([byte]))
                time.sleep(0.5)
        except OSError:
            pass
    return route


TRICKLES = {
    "body": (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", b" " * 1000),
    "headers": (b"", b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 1000),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("part", TRICKLES)
def test_the_deadline_covers_the_whole_exchange(server, trust, part):
    """A byte every half second never trips a per-read timeout; only the overall deadline stops it."""
    path = f"/trickle/{part}"
    server.routes[path] = _trickle(*TRICKLES[part])
    url = f"https://localhost:{server.server_address[1]}{path}"
    started = time.monotonic()
    with pytest.raises(ClientMetadataError) as raised:
        _fetcher(trust, timeout=1.0).fetch(url)
    _assert_safe(raised.value)
    assert "within 1 seconds" in raised.value.description
    assert time.monotonic() - started < 5, "failure guard: the deadline, not the server, ended the fetch"


# --- TLS and pinning ------------------------------------------------------------------------------------


def test_the_connection_goes_to_the_resolved_address_with_tls_for_the_host_name(server, trust):
    """client.example resolves (once) to the test server; TLS verifies client.example, and Host names it."""
    port = server.server_address[1]
    path = "/pinned"
    url = f"https://client.example:{port}{path}"
    server.routes[path] = _json(_document(url))
    calls: list = []
    document = _fetcher(trust, resolver=_resolver({"client.example": ["127.0.0.1"]}, calls)).fetch(url)
    assert document.client_id == url
    assert calls == [("client.example", port, socket.SOCK_STREAM)]
    assert _requests(server, path)[0]["host"] == f"client.example:{port}"


def test_every_resolved_address_is_tried_in_turn(server, trust):
    port = server.server_address[1]
    path = "/second-address"
    url = f"https://client.example:{port}{path}"
    server.routes[path] = _json(_document(url))
    # Nothing listens on ::1 at this port (the server is IPv4 only): refused, then 127.0.0.1 answers.
    resolver = _resolver({"client.example": ["::1", "127.0.0.1"]})
    assert _fetcher(trust, resolver=resolver).fetch(url).client_id == url


def test_the_certificate_must_match_the_client_id_host(server, trust):
    """Pinning the address does not weaken TLS: a name the certificate does not carry is refused."""
    port = server.server_address[1]
    path = "/wrong-name"
    url = f"https://other.example:{port}{path}"
    server.routes[path] = _json(_document(url))
    with pytest.raises(ClientMetadataError) as raised:
        _fetcher(trust, resolver=_resolver({"other.example": ["127.0.0.1"]})).fetch(url)
    _assert_safe(raised.value)
    assert "certificate" in raised.value.description
    assert _requests(server, path) == []


def test_an_untrusted_certificate_is_refused(server):
    path = "/untrusted"
    url = f"https://localhost:{server.server_address[1]}{path}"
    server.routes[path] = _json(_document(url))
    with pytest.raises(ClientMetadataError) as raised:
        MetadataFetcher(allow_private_addresses=True, timeout=3.0).fetch(url)
    assert "certificate" in raised.value.description
    assert _requests(server, path) == []


def test_an_unresolvable_host_is_refused(trust):
    with pytest.raises(ClientMetadataError) as raised:
        _fetcher(trust, resolver=_resolver({})).fetch("https://nowhere.example/client")
    _assert_safe(raised.value)
    assert "resolved" in raised.value.description


# --- SSRF -----------------------------------------------------------------------------------------------

# name -> the addresses client.example resolves to; every one refused by the default policy
PRIVATE_ADDRESSES = {
    "loopback": ["127.0.0.1"],
    "loopback elsewhere in 127/8": ["127.1.2.3"],
    "RFC 1918 10/8": ["10.0.0.5"],
    "RFC 1918 172.16/12": ["172.16.0.1"],
    "RFC 1918 192.168/16": ["192.168.1.1"],
    "instance metadata (link-local)": ["169.254.169.254"],
    "carrier-grade NAT": ["100.64.0.1"],
    "this host (0.0.0.0)": ["0.0.0.0"],
    "broadcast": ["255.255.255.255"],
    "IPv4 multicast": ["224.0.0.1"],
    "documentation range": ["192.0.2.1"],
    "IPv6 loopback": ["::1"],
    "IPv6 unspecified": ["::"],
    "IPv6 unique local": ["fc00::1"],
    "IPv6 link-local": ["fe80::1"],
    "IPv6 multicast": ["ff0e::1"],
    "IPv4-mapped loopback": ["::ffff:127.0.0.1"],
    "IPv4-mapped metadata": ["::ffff:169.254.169.254"],
    "NAT64 to a private address": ["64:ff9b::a00:5"],
    "IPv4-compatible loopback": ["::127.0.0.1"],
    "public then private": ["93.184.215.14", "10.0.0.5"],
    "private then public": ["192.168.1.1", "2606:4700::6810:84e5"],
}


@pytest.mark.parametrize("case", PRIVATE_ADDRESSES)
def test_private_addresses_are_refused_before_connecting(server, case):
    port = server.server_address[1]
    calls: list = []
    resolver = _resolver({"client.example": PRIVATE_ADDRESSES[case]}, calls)
    connections = server.connections
    with pytest.raises(ClientMetadataError) as raised:
        MetadataFetcher(resolver=resolver, timeout=1.0).fetch(f"https://client.example:{port}/client")
    _assert_safe(raised.value)
    assert raised.value.description == ("The client ID's host resolves to an address that is not publicly "
                                        "routable.")
    assert calls == [("client.example", port, socket.SOCK_STREAM)]
    assert server.connections == connections, "no connection reached the server"


PUBLIC_ADDRESSES = ["93.184.215.14", "8.8.8.8", "2606:4700::6810:84e5", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass_the_address_check(address):
    """The other side of the table above (checked directly: these tests reach no real public host)."""
    from mcp_lambda.authorization.cimd import _is_public

    assert _is_public(ipaddress.ip_address(address))


LITERAL_HOSTS = ["127.0.0.1", "[::1]", "0.0.0.0", "169.254.169.254", "10.0.0.5", "[::ffff:127.0.0.1]", "[fe80::1]"]


@pytest.mark.parametrize("host", LITERAL_HOSTS)
def test_literal_private_addresses_are_refused_without_a_lookup(server, host):
    calls: list = []
    connections = server.connections
    with pytest.raises(ClientMetadataError) as raised:
        MetadataFetcher(resolver=_resolver({}, calls), timeout=1.0).fetch(
            f"https://{host}:{server.server_address[1]}/client")
    _assert_safe(raised.value)
    assert "not publicly routable" in raised.value.description
    assert calls == []
    assert server.connections == connections


def test_a_literal_loopback_url_is_refused_with_the_real_resolver(server):
    connections = server.connections
    with pytest.raises(ClientMetadataError):
        MetadataFetcher(timeout=1.0).fetch("https://127.0.0.1/x")
    with pytest.raises(ClientMetadataError):
        MetadataFetcher(timeout=1.0).fetch(f"https://127.0.0.1:{server.server_address[1]}/x")
    assert server.connections == connections


def test_allowing_private_addresses_skips_only_the_address_check(server, trust):
    """The development policy reaches loopback, but still refuses what any policy refuses (here a redirect)."""
    path = "/dev-redirect"
    url = f"https://127.0.0.1:{server.server_address[1]}{path}"
    server.routes[path] = (302, [("Location", "https://127.0.0.1/elsewhere")], b"")
    with pytest.raises(ClientMetadataError) as raised:
        _fetcher(trust).fetch(url)
    assert "redirect" in raised.value.description
