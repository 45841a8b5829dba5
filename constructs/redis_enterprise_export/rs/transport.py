"""The connections under the client: each whole answer bounded, and the
operating system's trust store through ``truststore``.

A read timeout bounds each wait for the next bytes only, so ``Watchdog`` bounds
each exchange in all; ``Adapter`` mounts connections that start its clock.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from contextvars import ContextVar
from typing import Any

import truststore
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from redis_enterprise_export.errors import TransportError
from redis_enterprise_export.polling import Deadline


class Watchdog:
    """Cuts an answer that takes longer than ``seconds`` in all, however slowly it trickles.

    The read timeout bounds each wait for the next bytes only: a server, or a
    proxy, sending a byte a second would hold a call forever. So each exchange
    on a connection starts this clock: a new connection once its TCP connect is
    done (the connect timeout bounds that), a kept-alive one at its next request.
    If the answer is not in when the clock runs out, a timer thread shuts the
    socket down. That wakes the read blocked in the calling thread, whichever
    thread it is (no signals), through TLS and a proxy's tunnel alike, and the
    call reports the answer as too slow. A retry by urllib3 is a new exchange,
    with its own time.
    """

    def __init__(self, seconds: float, deadline: Deadline | None = None) -> None:
        self.limit = seconds
        # The run's deadline: each exchange's clock is cut to what is left of it.
        self.deadline = deadline
        self.seconds = self.bound()  # the bound of the exchange under way
        self.fired = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        # A descriptor of its own for the watched socket: shutting it down shuts
        # the connection down, and no one else can close it (and its number be
        # reused) while the timer runs.
        self._sock: socket.socket | None = None

    def start(self, sock: socket.socket) -> None:
        """An exchange on ``sock`` begins: its clock starts now."""
        self.stop()
        self._sock = socket.socket(fileno=socket.dup(sock.fileno()))
        self.fired = False
        self.seconds = self.bound()
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def bound(self) -> float:
        """How long an exchange begun now may take in all: ``limit``, cut to the deadline."""
        return self.limit if self.deadline is None else self.deadline.cap(self.limit)

    def overdue(self) -> bool:
        """Whether the run's deadline has passed: no retry begins then."""
        return self.deadline is not None and self.deadline.expired()

    def stop(self) -> None:
        """Stop the clock. Once this returns, nothing is shut down and no timer runs."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            timer.join()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _fire(self) -> None:
        with self._lock:
            if self._timer is not threading.current_thread() or self._sock is None:
                return  # stopped meanwhile
            self.fired = True
            with contextlib.suppress(OSError):  # the peer closed it already
                self._sock.shutdown(socket.SHUT_RDWR)

    def error(self, method: str, path: str, base_url: str) -> TransportError:
        return TransportError(
            f"{method} {path}: the answer from {base_url} took longer than {self.seconds:g} s "
            "(it came too slowly)",
            maybe_sent=True,
        )


# The watchdog of the call this thread (this context) is making, if any.
WATCHDOG: ContextVar[Watchdog | None] = ContextVar("WATCHDOG", default=None)


class DeadlineRetry(Retry):
    """urllib3's retries, within the call's deadline (its watchdog's): none begins once
    it has passed, and no back-off or Retry-After pause outlasts it."""

    def is_exhausted(self) -> bool:
        watchdog = WATCHDOG.get()
        return super().is_exhausted() or (watchdog is not None and watchdog.overdue())

    def get_backoff_time(self) -> float:
        return _pause(super().get_backoff_time())

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else _pause(after)


def _pause(seconds: float) -> float:
    watchdog = WATCHDOG.get()
    if watchdog is None or watchdog.deadline is None:
        return seconds
    return watchdog.deadline.left(seconds)


def _exchange_begins(sock: socket.socket) -> None:
    watchdog = WATCHDOG.get()
    if watchdog is not None:
        watchdog.start(sock)


class _WatchedHTTPConnection(HTTPConnection):
    """urllib3's connection, telling the call's watchdog when each exchange begins."""

    _connected_for_request = False  # connected for the request now being sent

    def _new_conn(self) -> socket.socket:
        # Before the proxy's tunnel and the TLS handshake, which the clock covers too.
        sock = super()._new_conn()
        _exchange_begins(sock)
        self._connected_for_request = True
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None and not self._connected_for_request:
            _exchange_begins(self.sock)  # a kept-alive connection's next exchange
        try:
            super().request(*args, **kwargs)
        finally:
            self._connected_for_request = False


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class Adapter(HTTPAdapter):
    """requests' adapter with watched connections (see Watchdog), direct or through a proxy."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # Not a SOCKS proxy's manager: its connections are classes of their own.
        if isinstance(manager, ProxyManager):
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class TrustStoreAdapter(Adapter):
    """Verifies certificates against the operating system's trust store, also through a proxy."""

    def __init__(self, **kwargs: Any) -> None:
        # Set before HTTPAdapter.__init__, which builds the pool manager.
        self._context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("ssl_context", self._context)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("ssl_context", self._context)
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if verify is True:
            # requests would load certifi's bundle into the context as well.
            conn.ca_certs = None
            conn.ca_cert_dir = None
