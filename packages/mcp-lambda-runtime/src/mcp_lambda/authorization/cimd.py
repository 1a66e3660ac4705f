"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP authorization 2026-07-28):
a client's `client_id` is an HTTPS URL, and its registration is the JSON document at that URL.

Fetching a URL that anyone can choose, from inside AWS, is a server-side request forgery (SSRF) risk: the
Lambda can reach what the internet cannot (the instance metadata service at 169.254.169.254, the VPC's
private addresses, services on loopback), and an attacker who names such a URL as a `client_id` would make
the authorization server request it on their behalf. So the fetch here is deliberately narrow:

- Only URLs shaped like a client ID (`is_metadata_url`: https, a host, a real path, nothing ambiguous).
- The host name is resolved once, and refused unless every address it resolves to is publicly routable (one
  private address among public ones is enough to refuse: the attacker controls the order).
- The connection goes to an address from that same resolution. Letting a library resolve the name again
  would open a DNS rebinding window (public answer for the check, private answer for the connect); TLS still
  verifies the certificate against the original host name, so pinning costs nothing in authenticity.
- One GET, no cookies or credentials, no redirects (a redirect would be a second, unchecked URL), only 200.
- One deadline for the whole exchange, not a timeout per socket operation: a server that trickles a byte
  every second would otherwise hold the Lambda (and its bill) for as long as it likes.
- A small size limit, enforced while reading, and a strict check of the document itself.

The fetcher raises `ClientMetadataError`, whose `description` is one sentence fit for an OAuth
`error_description` (printable ASCII, no quotes or backslashes, nothing copied from the response).
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import socket
import ssl
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

DEFAULT_TTL = 300
MIN_TTL = 60
MAX_TTL = 86400

# RFC 3986's unreserved and reserved characters, and "%" for percent-encoding. Anything else (spaces,
# control characters, quotes, backslashes, non-ASCII) is refused outright rather than interpreted:
# urlsplit silently drops tabs and newlines, and a lenient parser is where URL confusion attacks live.
_URL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_LOOPBACK_REDIRECT_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})
_OPTIONAL_STRINGS = ("client_name", "client_uri", "logo_uri", "scope")
# IPv6 prefixes that carry an IPv4 address in their last 32 bits and lead to it: NAT64 (RFC 6052; a VPC's
# NAT gateway translates 64:ff9b::a00:5 to 10.0.0.5) and the deprecated IPv4-compatible form.
_EMBEDDING_IPV4 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))


class ClientMetadataError(Exception):
    """Why a client ID metadata document cannot be used; `description` is safe to show to the client."""

    error = "invalid_client"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class ClientDocument:
    """A validated client ID metadata document: the registration of a public client."""

    client_id: str
    client_name: str | None
    redirect_uris: tuple[str, ...]
    client_uri: str | None
    logo_uri: str | None
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    token_endpoint_auth_method: str
    scope: str | None

    def to_json(self) -> dict[str, Any]:
        """The document as JSON values, for a cache."""
        return {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "redirect_uris": list(self.redirect_uris),
            "client_uri": self.client_uri,
            "logo_uri": self.logo_uri,
            "grant_types": list(self.grant_types),
            "response_types": list(self.response_types),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientDocument:
        """The document `to_json` produced (it was validated before it was cached)."""
        return cls(
            client_id=data["client_id"],
            client_name=data["client_name"],
            redirect_uris=tuple(data["redirect_uris"]),
            client_uri=data["client_uri"],
            logo_uri=data["logo_uri"],
            grant_types=tuple(data["grant_types"]),
            response_types=tuple(data["response_types"]),
            token_endpoint_auth_method=data["token_endpoint_auth_method"],
            scope=data["scope"],
        )


class Cache(Protocol):
    """Where validated documents are kept between fetches (the authorization server adapts its store)."""

    def get(self, url: str) -> dict[str, Any] | None: ...

    def put(self, url: str, document_json: dict[str, Any], ttl_seconds: int) -> None: ...


class MemoryCache:
    """A `Cache` in this process's memory: per execution environment on Lambda, for local use and tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return None
            expires_at, document_json = entry
            if self._clock() >= expires_at:
                del self._entries[url]
                return None
            return document_json

    def put(self, url: str, document_json: dict[str, Any], ttl_seconds: int) -> None:
        with self._lock:
            if ttl_seconds <= 0:
                self._entries.pop(url, None)
            else:
                self._entries[url] = (self._clock() + ttl_seconds, document_json)


def is_metadata_url(client_id: str) -> bool:
    """True when client_id is shaped like a CIMD URL: https scheme, a host, a path other than "/" or empty,
    no userinfo, no fragment, no "." or ".." path segments. (A DCR-issued id is never a URL.)

    The draft requires these so that one document has one URL: the `client_id` is compared as a string, and
    a URL that normalizes to another (dot segments, userinfo) would let two ids name the same document.
    Dot segments are refused percent-encoded too (`%2e%2e`), since servers decode them.
    """
    if not isinstance(client_id, str) or not client_id.startswith("https://"):
        return False
    if any(c not in _URL_CHARACTERS for c in client_id) or "#" in client_id:
        return False
    try:
        parts = urlsplit(client_id)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number from 0 to 65535)
    except ValueError:
        return False
    if "@" in parts.netloc or not parts.hostname:
        return False
    if parts.path in ("", "/"):
        return False
    return not any(unquote(segment) in (".", "..") for segment in parts.path.split("/"))


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the internet at large could reach this address, so fetching it grants an attacker nothing.

    An IPv6 address that embeds an IPv4 one (::ffff:127.0.0.1, 64:ff9b::a9fe:a9fe) is judged by the IPv4
    address, which is where the packets end up.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in network for network in _EMBEDDING_IPV4):
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.is_global and not address.is_multicast


class _Deadline:
    """The moment the whole exchange must be over. Each socket operation gets only the time left, so the
    sum of all of them cannot exceed the budget, however slowly the server sends."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


class _DeadlineReader(io.RawIOBase):
    """The socket as http.client reads it (status line, headers, body): every receive is armed with the time
    left until the deadline. http.client's own reads loop until a line or a length is complete, so a
    per-operation socket timeout alone would let a trickling server extend the exchange forever."""

    def __init__(self, sock: ssl.SSLSocket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


class _ResponseSocket:
    """What `http.client.HTTPResponse` needs of a socket: a reader bound to the deadline."""

    def __init__(self, sock: ssl.SSLSocket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


def _cache_ttl(cache_control: str | None) -> int:
    """Seconds to keep a document: the response's max-age bounded to [MIN_TTL, MAX_TTL], DEFAULT_TTL without
    one, 0 (do not keep) when the server says the response must not be reused or shared."""
    max_age = None
    for directive in (cache_control or "").split(","):
        name, _, value = directive.partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache", "private"):
            return 0
        if name == "max-age" and max_age is None:
            try:
                max_age = int(value.strip().strip('"'))
            except ValueError:
                pass
    if max_age is None:
        return DEFAULT_TTL
    return min(max(max_age, MIN_TTL), MAX_TTL)


def redirect_uri_problem(uri: Any) -> str | None:
    """What is wrong with one redirect URI, or None (RFC 9700 §4.1: exact, absolute, no fragment; RFC 8252:
    loopback http and private-use schemes for native clients)."""
    if not isinstance(uri, str) or not uri:
        return "is not a non-empty string"
    if any(c not in _URL_CHARACTERS for c in uri):
        return "contains characters a URI cannot contain"
    if "#" in uri:
        return "has a fragment"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return "is not a valid URI"
    if not parts.scheme:
        return "is not an absolute URI"
    if parts.scheme in ("https", "http"):
        if not parts.hostname or "@" in parts.netloc:
            return "has no host or has user information"
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_REDIRECT_HOSTS:
            return "uses plain http for a host other than 127.0.0.1, [::1] or localhost"
        return None
    if "." in parts.scheme and (parts.netloc or parts.path):
        return None  # RFC 8252 §7.1: a private-use scheme is a reversed domain name, like com.example.app
    return "uses a scheme that is neither https, loopback http, nor a private-use scheme with a dot"


def _is_https_url(value: str) -> bool:
    # client_uri and logo_uri end up in a consent page's links and images: a javascript: or data: URI there
    # would run in the authorization server's origin.
    if not value.startswith("https://") or any(c not in _URL_CHARACTERS for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018
    except ValueError:
        return False
    return bool(parts.hostname) and "@" not in parts.netloc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_document(client_id: str, body: bytes) -> ClientDocument:
    """The document in `body`, fetched from `client_id`, checked field by field."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ClientMetadataError("The client ID metadata document is not valid UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise ClientMetadataError("The client ID metadata document is not a JSON object.")
    if data.get("client_id") != client_id:
        raise ClientMetadataError("The document's client_id is not exactly the URL it was fetched from.")
    for secret in ("client_secret", "client_secret_expires_at"):
        if secret in data:
            raise ClientMetadataError(f"The document contains {secret}, but a client ID metadata document is "
                                      "public and cannot carry a secret.")

    method = data.get("token_endpoint_auth_method", "none")
    if method == "private_key_jwt":
        raise ClientMetadataError("token_endpoint_auth_method private_key_jwt is not supported, only none "
                                  "(a public client).")
    if method != "none":
        raise ClientMetadataError("token_endpoint_auth_method must be none, since a client ID metadata "
                                  "document cannot carry a client secret.")

    redirect_uris = data.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris:
        raise ClientMetadataError("redirect_uris must be a non-empty list of URIs.")
    for index, uri in enumerate(redirect_uris, start=1):
        problem = redirect_uri_problem(uri)
        if problem:
            raise ClientMetadataError(f"redirect_uris entry {index} {problem}.")

    grant_types = data.get("grant_types", ["authorization_code"])
    if (not isinstance(grant_types, list) or not all(isinstance(g, str) for g in grant_types)
            or not set(grant_types) <= _GRANT_TYPES or "authorization_code" not in grant_types):
        raise ClientMetadataError("grant_types must include authorization_code and may add only refresh_token.")
    response_types = data.get("response_types", ["code"])
    if response_types != ["code"]:
        raise ClientMetadataError("response_types must be exactly code.")

    # JSON null is taken as absent: some generators write every optional field.
    strings = {name: data.get(name) for name in _OPTIONAL_STRINGS}
    for name, value in strings.items():
        if value is not None and not isinstance(value, str):
            raise ClientMetadataError(f"{name} must be a string.")
    for name in ("client_uri", "logo_uri"):
        if strings[name] is not None and not _is_https_url(strings[name]):
            raise ClientMetadataError(f"{name} must be an https URL.")

    return ClientDocument(
        client_id=client_id,
        client_name=strings["client_name"],
        redirect_uris=tuple(redirect_uris),
        client_uri=strings["client_uri"],
        logo_uri=strings["logo_uri"],
        grant_types=tuple(grant_types),
        response_types=tuple(response_types),
        token_endpoint_auth_method="none",
        scope=strings["scope"],
    )


class MetadataFetcher:
    """Fetches, checks and caches client ID metadata documents (see the module docstring for the why).

    `allow_private_addresses=True` is for the loopback development server and tests only: it skips the
    public-address check and nothing else (TLS, pinning, limits and document checks all still apply).
    Without `cache`, documents are kept in a `MemoryCache` on `clock`.
    """

    def __init__(self, *, cache: Cache | None = None, resolver: Callable[..., Any] = socket.getaddrinfo,
                 ssl_context: ssl.SSLContext | None = None, allow_private_addresses: bool = False,
                 timeout: float = 5.0, max_bytes: int = 16384, clock: Callable[[], float] = time.time) -> None:
        self._cache: Cache = cache if cache is not None else MemoryCache(clock)
        self._resolver = resolver
        self._ssl_context = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._allow_private = allow_private_addresses
        self._timeout = timeout
        self._max_bytes = max_bytes

    def fetch(self, client_id: str) -> ClientDocument:
        """The document `client_id` names: from the cache, else fetched and checked. Failures are not cached,
        so a client that fixes its document is not locked out."""
        if not is_metadata_url(client_id):
            raise ClientMetadataError("The client_id is not an https URL with a path, as a client ID metadata "
                                      "document URL must be.")
        cached = self._cache.get(client_id)
        if cached is not None:
            try:
                document = ClientDocument.from_json(cached)
            except (KeyError, TypeError):
                document = None  # an entry this version cannot read: fetch afresh
            if document is not None and document.client_id == client_id:
                return document
        body, ttl = self._download(client_id)
        document = _parse_document(client_id, body)
        if ttl > 0:
            self._cache.put(client_id, document.to_json(), ttl)
        return document

    def _download(self, client_id: str) -> tuple[bytes, int]:
        """The body and cache lifetime of the response, with every network failure as one sentence."""
        try:
            return self._exchange(client_id)
        except TimeoutError:
            raise ClientMetadataError(f"The client ID metadata document did not arrive within {self._timeout:g} "
                                      "seconds.") from None
        except ssl.SSLCertVerificationError:
            raise ClientMetadataError("The TLS certificate of the client ID's host could not be verified for "
                                      "that host name.") from None
        except ssl.SSLError:
            raise ClientMetadataError("The TLS handshake with the client ID's host failed.") from None
        except http.client.HTTPException:
            raise ClientMetadataError("The client ID's host sent a malformed HTTP response.") from None
        except OSError:
            raise ClientMetadataError("The connection to the client ID's host failed.") from None

    def _addresses(self, host: str, port: int) -> list[tuple[int, Any]]:
        """The (family, sockaddr) pairs to connect to, all of them checked before any connection is made."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not self._allow_private and not _is_public(literal):
            raise ClientMetadataError("The client ID's host is an IP address that is not publicly routable.")
        try:
            results = self._resolver(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError):
            raise ClientMetadataError("The client ID's host name could not be resolved.") from None
        addresses = []
        for family, _type, _proto, _canonname, sockaddr in results:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                address = ipaddress.ip_address(sockaddr[0])
            except ValueError:
                address = None
            if not self._allow_private and (address is None or not _is_public(address)):
                # One bad address refuses the host: the attacker's DNS server chooses which one we would use.
                raise ClientMetadataError("The client ID's host resolves to an address that is not publicly "
                                          "routable.")
            addresses.append((family, sockaddr))
        if not addresses:
            raise ClientMetadataError("The client ID's host name could not be resolved.")
        return addresses

    def _connect(self, addresses: list[tuple[int, Any]], deadline: _Deadline) -> socket.socket:
        """A TCP connection to the first checked address that answers: these addresses, never a new lookup."""
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(deadline.remaining())
                sock.connect(sockaddr)
                return sock
            except OSError:
                sock.close()
                deadline.remaining()  # out of time: a TimeoutError, not a try at the next address
        raise ClientMetadataError("The connection to the client ID's host failed.")

    def _exchange(self, client_id: str) -> tuple[bytes, int]:
        """Resolve and check, connect to a checked address, TLS for the URL's host name, one GET, read."""
        parts = urlsplit(client_id)
        host, port = parts.hostname, parts.port or 443
        # Starts before resolution, so a slow resolver eats into the budget instead of adding to it.
        deadline = _Deadline(self._timeout)
        addresses = self._addresses(host, port)
        raw = self._connect(addresses, deadline)
        try:
            # CPython applies a socket's timeout to the TLS handshake as a whole, not to each read within it.
            raw.settimeout(deadline.remaining())
            with self._ssl_context.wrap_socket(raw, server_hostname=host) as tls:
                # The exact path and query of the client_id, nothing re-encoded.
                target = client_id[len("https://") + len(parts.netloc):]
                request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
                           "Accept-Encoding: identity\r\nUser-Agent: mcp-lambda-cimd\r\nConnection: close\r\n\r\n")
                tls.settimeout(deadline.remaining())
                tls.sendall(request.encode("ascii"))
                response = http.client.HTTPResponse(_ResponseSocket(tls, deadline), method="GET")
                response.begin()
                return self._read(response), _cache_ttl(response.getheader("Cache-Control"))
        finally:
            raw.close()

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        """The body of a 200 JSON response no larger than max_bytes, refused before reading when possible."""
        if 300 <= response.status < 400:
            raise ClientMetadataError(f"The client ID's host answered with a redirect (HTTP {response.status}), "
                                      "which is not followed.")
        if response.status != 200:
            raise ClientMetadataError(f"The client ID's host answered with HTTP status {response.status} "
                                      "instead of 200.")
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ClientMetadataError("The client ID metadata document is not served as application/json.")
        declared = response.getheader("Content-Length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise ClientMetadataError("The client ID's host sent an invalid Content-Length.")
            if int(declared) > self._max_bytes:
                raise ClientMetadataError(f"The client ID metadata document is larger than {self._max_bytes} "
                                          "bytes.")
        body = bytearray()
        while len(body) <= self._max_bytes:
            chunk = response.read(self._max_bytes + 1 - len(body))
            if not chunk:
                break
            body += chunk
        if len(body) > self._max_bytes:
            raise ClientMetadataError(f"The client ID metadata document is larger than {self._max_bytes} bytes.")
        if declared is not None and len(body) != int(declared):
            raise ClientMetadataError("The client ID metadata document ended before its Content-Length.")
        return bytes(body)
