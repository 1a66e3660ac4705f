"""Loopback plumbing the tests share: AWS's APIs as moto serves them over real HTTP, and closing a relayed socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on a loopback port (SSM, Secrets Manager, KMS, DynamoDB, ...); its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def close_socket(sock: socket.socket) -> None:
    """Shut a socket down both ways (the peer sees the end at once) and close it; one already gone is fine."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
