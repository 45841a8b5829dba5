"""The simulator's HTTPS front: Basic auth, routing, JSON, and a request log."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

from .cluster import SimCluster
from .redis_server import RedisServer
from .scenario import Reply, Request

BDB = re.compile(r"/v1/bdbs/(\d+)\Z")
STATS = re.compile(r"/v1/bdbs/stats/last/(\d+)\Z")
# The actions on one database: (method, action) -> what the cluster model does.
ACTION = re.compile(r"/v1/bdbs/(\d+)/actions/(\w+)\Z")
# The "trickle" fault's pace: each wait well inside a 1 s request timeout, the
# whole answer (a few hundred bytes) minutes long.
TRICKLE_SECONDS = 0.5


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Head and body go out in two writes: with Nagle on, the body waited for the
    # client's delayed ACK, 40 ms on every answer, which a real cluster does not add.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log below is the record; stderr stays quiet

    def _handle(self, method: str) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        user, role = self._auth()
        body = self._body()
        try:
            fault = cluster.next_fault(method)
        except ValueError as exc:
            # Off the script: answered 500, as pytest-httpserver answers a request
            # it has no handler for, and kept for check_assertions() to raise.
            self.server.unexpected.append(f"{method} {url.path}: {exc}")
            fault = "unexpected"
        if fault == "reset":
            self._reset()  # before any work: the request never got through
            return
        master = cluster.scenario.master_url
        if master and not cluster.scenario.handle_redirects and fault != "unexpected":
            # Not the master: RS redirects to the master's internal address (status
            # undocumented, 307 our guess), unless handle_redirects is on.
            reply = Reply(307, None, {"Location": master.rstrip("/") + self.path})
            with cluster.lock:
                cluster.log.append(Request(method, url.path, url.query, user, reply.status))
            self._send(reply)
            return
        if fault.startswith("slow:"):
            time.sleep(float(fault.removeprefix("slow:")))
        done: Reply | None = None
        if fault == "unexpected":
            reply = cluster.error(500, "unexpected_request", "not in the test's fault script")
        elif fault == "503":
            reply = cluster.error(503, "node_unavailable", "node is not responding")
        elif fault == "503-started" and role is not None:
            # The work is done (logged as the cluster answered it); the client gets a 503.
            done = self._route(method, url.path, parse_qs(url.query), role, body)
            reply = cluster.error(503, "node_unavailable", "node is not responding")
        elif fault == "html":
            reply = Reply(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
        elif role is None:
            reply = cluster.error(401, "unauthorized", "authentication failed")
        else:
            reply = self._route(method, url.path, parse_qs(url.query), role, body)
        done = done or reply
        with cluster.lock:
            cluster.log.append(
                Request(method, url.path, url.query, user, done.status, body=done.body)
            )
        if fault == "drop":
            self._reset()  # the work is done, but its answer never arrives
            return
        if fault == "trickle":
            self._trickle(reply)
            return
        self._send(reply)

    def _reset(self) -> None:
        """Close the connection with a TCP reset, sending no response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _trickle(self, reply: Reply) -> None:
        """Send ``reply`` a byte every TRICKLE_SECONDS, until done or the client gives up."""
        wfile, self.wfile = self.wfile, io.BytesIO()
        try:
            self._send(reply)
            answer = self.wfile.getvalue()
        finally:
            self.wfile = wfile
        self.close_connection = True
        for i in range(len(answer)):
            time.sleep(TRICKLE_SECONDS)
            try:
                wfile.write(answer[i : i + 1])
            except OSError:
                return  # the client gave up on it

    def _auth(self) -> tuple[str, str | None]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return "", None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", None
        return user, self.server.cluster.authenticate(user, password)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return ValueError

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], role: str, body: Any
    ) -> Reply:
        cluster = self.server.cluster
        if method in ("POST", "PUT") and self.headers.get("Content-Type") != "application/json":
            return cluster.error(400, "invalid_header", "Content-Type must be application/json")
        if body is ValueError:
            return cluster.error(400, "invalid_json", "the body is not JSON")
        if method == "GET":
            return self._get(path, query, role)
        actions = {
            ("POST", "export"): lambda uid: cluster.start_export(uid, role, body),
            ("PUT", "export_reset_status"): lambda uid: cluster.reset_export_status(uid, role),
            ("POST", "import"): lambda uid: cluster.start_import(uid, role, body),
            ("PUT", "import_reset_status"): lambda uid: cluster.reset_import_status(uid, role),
        }
        if (m := ACTION.match(path)) and (method, m[2]) in actions:
            return actions[method, m[2]](int(m[1]))
        return cluster.error(404, "not_found", f"no route {method} {path}")

    def _get(self, path: str, query: dict[str, list[str]], role: str) -> Reply:
        cluster = self.server.cluster
        fields = query["fields"][0].split(",") if "fields" in query else None
        if stats := STATS.match(path):
            metrics = query["metrics"][0].split(",") if "metrics" in query else None
            return cluster.last_stats(int(stats[1]), role, metrics)
        database = BDB.match(path)
        if path == "/v1/bdbs" or database:
            if denied := cluster.lacks(role, "view_bdb_info"):
                return denied
            if database:
                return cluster.get_database(int(database[1]), fields)
            return cluster.list_databases(fields)
        routes = {
            "/v1/modules": lambda: cluster.list_modules(role),
            "/v1/cluster": lambda: cluster.get_cluster(role, fields),
            "/v1/cluster/policy": lambda: cluster.cluster_policy(role),
            "/v1/users": lambda: cluster.list_users(role),
            "/v1/users/role": lambda: cluster.own_role(role),
        }
        if path in routes:
            return routes[path]()
        return cluster.error(404, "not_found", f"no route GET {path}")

    def _send(self, reply: Reply) -> None:
        html = isinstance(reply.body, str)
        data = (
            b""
            if reply.body is None
            else (reply.body.encode() if html else json.dumps(reply.body).encode())
        )
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "text/html" if html else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    cluster: SimCluster
    unexpected: list[str]  # requests off the fault script, shared across outages

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut every open keep-alive connection, as a node going down does."""
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Simulator:
    """A running simulated RS cluster: HTTPS on 127.0.0.1, real redis-servers, a CA file.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, root: Path, *, port: int = 0) -> None:
        self.root = root
        self.port = port
        self.cluster = SimCluster()
        self.ca_path = root / "ca.pem"
        # Requests the scenario's fault script did not plan for; see check_assertions().
        self.unexpected: list[str] = []
        self._redis: list[RedisServer] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._outage: threading.Timer | None = None
        self._stopped = False
        # Guards the listener: an outage's timer starts it again on its own thread.
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the simulator first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Simulator:
        self.root.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="redis-enterprise-export simulator")
        ca.cert_pem.write_to_path(str(self.ca_path))
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._tls)
        self._listen(self.port)
        return self

    def check_assertions(self) -> None:
        """Raise AssertionError if the fault script was not followed exactly.

        That is: a request came beyond a ``Scenario.faults`` list (answered 500),
        or a scripted fault was never played, so the test did not test it. As
        pytest-httpserver's method of that name; the ``sim`` fixture calls it at
        teardown. Each problem is reported once.
        """
        problems, self.unexpected[:] = list(self.unexpected), []
        with self.cluster.lock:
            for method, queue in self.cluster.scenario.faults.items():
                unplayed = queue[:-1] if queue[-1:] == ["..."] else list(queue)
                if unplayed:
                    problems.append(f"Scenario.faults[{method!r}]: never played: {unplayed}")
                    del queue[: len(unplayed)]
        if problems:
            raise AssertionError(
                "the simulator's fault script was not followed:\n" + "\n".join(problems)
            )

    def _listen(self, port: int) -> None:
        with self._lock:
            if self._stopped:
                return  # an outage ending after stop(): stay down
            server = _Server(("127.0.0.1", port), _Handler)
            server.cluster = self.cluster
            server.unexpected = self.unexpected
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
            self._server = server
            # A short poll interval makes stop() quick; tests start and stop one per case.
            self._thread = threading.Thread(
                target=server.serve_forever, args=(0.05,), name="simulator-https", daemon=True
            )
            self._thread.start()

    def _close(self) -> None:
        """Stop listening and cut open connections; the address stays for url."""
        with self._lock:
            server, thread, self._thread = self._server, self._thread, None
            if server is None or thread is None:
                return  # never started, or already closed by an outage
            server.shutdown()
            thread.join()
            server.server_close()
            server.drop_connections()

    def outage(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` (the port closed), then serve again."""
        port = int(self._server.server_address[1]) if self._server else self.port
        self._cancel_outage()
        self._close()
        timer = threading.Timer(seconds, self._listen, (port,))
        timer.name, timer.daemon = "simulator-outage", True
        self._outage = timer
        timer.start()

    def _cancel_outage(self) -> None:
        timer, self._outage = self._outage, None
        if timer is not None:
            timer.cancel()
            timer.join()  # it may be listening again right now: let it finish

    def add_database(
        self,
        uid: int,
        name: str,
        *,
        data: dict[str, str] | None = None,
        modules: list[dict[str, Any]] | None = None,
        crdt: bool = False,
    ) -> RedisServer:
        """A database backed by a fresh redis-server, filled with ``data``; ``crdt``:
        an Active-Active database."""
        redis = RedisServer(self.root / f"redis-{uid}")
        self._redis.append(redis)
        if data:
            redis.client.mset(data)
        self.cluster.add_database(uid, name, redis, modules, crdt=crdt)
        return redis

    def stop(self) -> None:
        """Stop serving, with every thread it started joined, and stop the redis-servers."""
        with self._lock:
            self._stopped = True
        self._cancel_outage()
        self.cluster.close()
        self._close()
        for redis in self._redis:
            redis.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
