"""A TCP proxy in front of the real PostgreSQL that loses what the network loses.

Modes (`proxy.mode = ...`, for new and open connections alike):
- "pass": bytes both ways;
- "refuse": new connections are closed at once (a database that refuses or resets connections);
- "blackhole": nothing comes back and nothing is closed (a security group that drops packets, a failover);
- "drop_next_reply": the next reply from the server that completes a statement (the packet holding a
  CommandComplete message, which PostgreSQL sends after an autocommitted statement committed) is thrown away
  and the client's connection closed; the proxy then switches to `after_drop`. Replies to the protocol's
  earlier steps (parse, describe) pass, so the statement really runs.

The server's side of each connection is read as PostgreSQL's message stream (a type byte and a 4-byte
length per message) only to find those boundaries.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from mcp_lambda.database import DatabaseConfig
from tests.loopback import close_socket


class FaultProxy:
    def __init__(self, target_url: str) -> None:
        config = DatabaseConfig.from_url(target_url)  # a TCP address, or the Unix socket of a local server
        self.target: str | tuple[str, int] = config.unix_sock or (config.host or "127.0.0.1", config.port)
        self.mode = "pass"
        self.after_drop = "pass"
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url_for(self, database_url: str) -> str:
        """`database_url` with the proxy as its server (over TCP, whatever the original used)."""
        parts = urlsplit(database_url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                close_socket(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                close_socket(client)
                continue
            try:
                if isinstance(self.target, str):
                    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    server.connect(self.target)
                else:
                    server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                close_socket(client)
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        messages = _MessageTypes()
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.mode == "blackhole":
                    continue
                completes = replies and b"C" in messages.feed(data)
                if completes and self.mode == "drop_next_reply":
                    self.dropped += 1
                    self.mode = self.after_drop
                    break
                if self.mode == "refuse":
                    break
                sink.sendall(data)
        except OSError:
            pass
        if self.mode != "blackhole":
            close_socket(source)
            close_socket(sink)


class _MessageTypes:
    """The types of the backend messages that start in each chunk of a PostgreSQL server's stream."""

    def __init__(self) -> None:
        self._header = b""  # the start of a message header split across chunks
        self._skip = 0  # bytes of the current message's body still to come
        self._started = False

    def feed(self, data: bytes) -> list[bytes]:
        types = []
        view = memoryview(data)
        if not self._started:
            self._started = True
            if data in (b"N", b"S", b"G"):
                return []  # the one-byte answer to the client's SSLRequest or GSSENCRequest, before any message
        while view:
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
                continue
            needed = 5 - len(self._header)
            self._header += bytes(view[:needed])
            view = view[needed:]
            if len(self._header) == 5:
                types.append(self._header[:1])
                self._skip = int.from_bytes(self._header[1:5], "big") - 4
                self._header = b""
        return types
