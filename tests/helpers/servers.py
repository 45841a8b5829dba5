"""Tiny socket servers the tests script byte for byte: a raw HTTP answerer and a CONNECT proxy."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Callable


def _accept(sock: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Hand each connection to ``handle`` in a thread of its own, until ``sock`` closes."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def _head(conn: socket.socket) -> bytes:
    """What ``conn`` sends up to the end of a request's head (or until it closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class RawServer:
    """Answers every connection with the same bytes, then closes it.

    ``answer`` goes out at once; then ``trickle``, one byte every ``pace`` s,
    as a stalled server or proxy sends it. ``tls``: serve HTTPS with this
    context. Each connection has its own thread, which ends when the client
    goes away or the server is closed.
    """

    def __init__(
        self,
        answer: bytes,
        *,
        trickle: bytes = b"",
        pace: float = 0.2,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.answer = answer
        self.trickle = trickle
        self.pace = pace
        self.tls = tls
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.sock.getsockname()[1]}"
        self._closed = threading.Event()
        threading.Thread(target=_accept, args=(self.sock, self._serve), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the client went away
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with conn:
                self.requests.append(_head(conn))
                conn.sendall(self.answer)
                for i in range(len(self.trickle)):
                    if self._closed.wait(self.pace):
                        return
                    conn.sendall(self.trickle[i : i + 1])

    def close(self) -> None:
        self._closed.set()
        self.sock.close()


class ConnectProxy:
    """A minimal HTTPS proxy: CONNECT host:port, then bytes both ways. Records each target."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=_accept, args=(self.sock, self._tunnel), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:  # OSError: a side went away
            head = _head(conn)
            if b"\r\n\r\n" not in head:
                return  # the client went away before its request was whole
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.targets.append(f"{method} {target}")
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pair = {conn: upstream, upstream: conn}
                while True:
                    ready, _, _ = select.select(list(pair), [], [], 30)
                    if not ready:
                        return
                    for side in ready:
                        data = side.recv(65536)
                        if not data:
                            return
                        pair[side].sendall(data)

    def close(self) -> None:
        self.sock.close()
