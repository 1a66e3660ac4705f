"""The network between a function and its database: a TCP relay on loopback to the test database.

A function reaches its database over TCP (RDS Proxy, on AWS), and the functions here run as a user that may not
open the test server's Unix socket, so each environment gets a link of its own. The link also shows what the
database cannot: how many connections the environment holds, and whether each one it closed said goodbye (the
protocol's Terminate message, sent by a client that closes its connection) or just vanished (a process that
died with the connection open, which the server sees the same way once the socket closes).
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from mcp_lambda.database import DatabaseConfig
from tests.loopback import close_socket

TERMINATE = b"X\x00\x00\x00\x04"  # PostgreSQL's Terminate message: the client closes the session


class DatabaseLink:
    def __init__(self, database_url: str) -> None:
        config = DatabaseConfig.from_url(database_url)
        self._target: str | tuple[str, int] = config.unix_sock or (config.host or "127.0.0.1", config.port)
        self._url = database_url
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.open = 0
        self.goodbyes = 0  # connections closed by the client with Terminate
        self.vanished = 0  # connections that ended without it
        self._changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The database URL through this link (TCP, whatever the original used)."""
        parts = urlsplit(self._url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def wait_closed(self, timeout: float) -> None:
        """Wait until no connection is open (a guard: the relay sees a close just after the process does)."""
        with self._changed:
            self._changed.wait_for(lambda: self.open == 0, timeout)

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if isinstance(self._target, str):
                server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                server.connect(self._target)
            else:
                server = socket.create_connection(self._target)
            with self._changed:
                self.connections += 1
                self.open += 1
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()
            threading.Thread(target=_pump, args=(server, client), daemon=True).start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        """Client to server, remembering how the client's side ended."""
        tail = b""
        try:
            while data := client.recv(65536):
                tail = (tail + data)[-len(TERMINATE):]
                server.sendall(data)
        except OSError:
            pass
        close_socket(server)
        close_socket(client)
        with self._changed:
            self.open -= 1
            if tail == TERMINATE:
                self.goodbyes += 1
            else:
                self.vanished += 1
            self._changed.notify_all()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    close_socket(sink)
