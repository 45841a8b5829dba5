"""Locks shared across runners: PostgreSQL advisory locks, or the cluster's own count.

Per-machine lock files keep one runner from storming a cluster, and two exports of
one database on one machine apart; runners on several machines need a shared
place. Runners that keep Terraform state in PostgreSQL already share a database:
there a helper holds, in one session, its database's lock (from the first status
read to the last, as ``slots.database_lock`` does on one machine) and then one of
the cluster's export slots, each a session advisory lock on a key derived from
the cluster's identity. The locks live as long as the session, so a runner that
dies frees them when its connection drops; a release NOTIFYs the waiters, which
otherwise look again every ``POLL_SECONDS``.

The same holds against the helper: a session lost mid-export (a restart, a
failover, a pooler, a NAT drop) freed its locks, and another runner may have
reset the database and exported since. So ``lost()`` proves, before a final
status is trusted, that the backend which took the locks still holds them; the
job ends "outcome unknown" if it cannot (see ``job.ActionJob.lock_lost``).

The connection comes from ``$PG_CONN_STR``, or libpq's own ``PG*`` variables. It
may hold a password, so no text of it, and no message of libpq (which quotes it),
ever reaches an output: errors are a fixed set of sentences. Every call is
bounded: a watchdog cuts the socket of a call that outlives its time, which a
stalled server or a dead network path would otherwise stretch to hours.

Where runners share no database, ``cluster_turn`` asks the cluster instead: one
read of every database's ``export_status`` before the POST, waiting while the
cluster already runs ``limit`` exports. Two runners can still read the same count
and post together; the loser meets a 409 and backs off, as without coordination.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import select
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol

from redis_enterprise_export.errors import LocalSetupError
from redis_enterprise_export.polling import Deadline, Turn, backoff, ride_out

if TYPE_CHECKING:
    import psycopg

CONN_ENV = "PG_CONN_STR"
# How long a waiter sleeps when no release wakes it: a lock freed by a dropped
# connection sends no NOTIFY.
POLL_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10
# The longest one quick statement (a try, a release) may take; a release past the
# deadline still gets this long.
CALL_SECONDS = 5.0
# Keepalives find a dead path in about a minute, instead of the kernel's two hours,
# and a session idle for a long export stays open through NAT and firewalls.
SESSION_OPTIONS = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
    "application_name": "redis-enterprise-export",
}
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}|\[?[0-9A-Fa-f:]{2,39}\]?|/[\w./\-]{0,200}")


def _key(*parts: object) -> int:
    digest = hashlib.sha256("\0".join(["redis-enterprise-export", *map(str, parts)]).encode())
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


def slot_key(cluster: str, number: int) -> int:
    """The advisory lock key (a signed 64-bit integer) of one slot of one cluster."""
    return _key(cluster, number)


def database_key(cluster: str, database: int) -> int:
    """The advisory lock key of one database of one cluster."""
    return _key("database", cluster, database)


def channel(cluster: str, kind: str = "slot") -> str:
    """The NOTIFY channel on which a cluster's releases of ``kind`` are announced."""
    suffix = "" if kind == "slot" else kind
    return "redis_export_" + hashlib.sha256((cluster + suffix).encode()).hexdigest()[:16]


def connection_problem(exc: BaseException, environ: Mapping[str, str]) -> str:
    """A one-line, secret-free account of why connecting failed.

    libpq's own text quotes the connection string (its password too), so it is
    never used: only fixed phrases, and host and port where they parsed cleanly.
    """
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    source = f"${CONN_ENV}" if environ.get(CONN_ENV) else "the PG* variables"
    conn_str = environ.get(CONN_ENV, "")
    try:
        parts = conninfo_to_dict(conn_str)
    except (psycopg.Error, UnicodeError):  # '%80': percent-encoded bytes that are not UTF-8
        return (
            f"the connection string in {source} cannot be parsed (not shown: it may hold a "
            "password); give a postgresql:// URI, its password's special characters "
            "percent-encoded, or key=value pairs"
        )
    if not isinstance(exc, psycopg.OperationalError):
        return f"the PostgreSQL named by {source} failed ({type(exc).__name__})"
    text = str(exc).lower()
    if getattr(exc, "sqlstate", None) in ("28P01", "28000") or "authentication" in text:
        why = "it refused the user or password"
    elif "invalid" in text and "value" in text:
        why = "a parameter of the connection string has a value libpq does not accept"
    elif "timeout" in text or "timed out" in text:
        why = "no connection within the timeout"
    elif "refused" in text:
        why = "connection refused"
    elif "resolve" in text or "translate host" in text:
        why = "its host name does not resolve"
    else:
        why = "the connection failed"
    host, port = str(parts.get("host", "")), str(parts.get("port", ""))
    # Shown only when the string parsed as its writer meant: a stray '@' in an
    # unencoded password makes libpq read part of the password as the host.
    clean = "@" not in conn_str or "user" in parts
    where = ""
    if clean and host and _HOST.fullmatch(host) and (not port or port.isdigit()):
        where = f" at {host}" + (f" port {port}" if port else "")
    return f"cannot reach the PostgreSQL{where} named by {source}: {why}"


@contextmanager
def _bounded(connection: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
    """Cut ``connection``'s socket if the block outlives ``seconds``: the blocked call
    then fails at once, instead of waiting on a stalled server."""
    fd = connection.pgconn.socket

    def cut() -> None:
        with suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the reader; the session is lost

    timer = threading.Timer(max(seconds, 0.1), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class PgLocks:
    """One PostgreSQL session holding a helper's cross-runner locks.

    Opened at the first lock; ``close()`` ends the session, which frees whatever
    it still holds. ``warn`` hears, once, that the session was lost: its locks
    were freed with it, so another runner could take them meanwhile.
    """

    def __init__(self, environ: Mapping[str, str], warn: Callable[[str], None]) -> None:
        self.environ = environ
        self.warn = warn
        self._connection: psycopg.Connection[Any] | None = None
        self._lost = False
        # The backend that took the locks, (pid, backend_start): what only it shares,
        # so a new session (after a restart, or pid reuse) never passes for it.
        self._backend: tuple[int, Any] | None = None
        self._keys: list[int] = []  # the keys held now

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):
                connection.close()

    @contextmanager
    def database(
        self, cluster: str, database: int, deadline: Deadline, *, on_wait: Callable[[], None]
    ) -> Iterator[None]:
        """Hold the lock of one database of one cluster, across runners, for the block."""
        turn = Turn(deadline, database, "another runner's export, drill or restore of it", on_wait)
        with self._held([database_key(cluster, database)], channel(cluster, "db"), turn):
            yield

    @contextmanager
    def slot(
        self,
        cluster: str,
        limit: int,
        deadline: Deadline,
        *,
        database: int,
        on_wait: Callable[[], None] = lambda: None,
    ) -> Iterator[int]:
        """Hold one of ``limit`` slots of ``cluster`` for the block; yields its number."""
        numbers = random.sample(range(limit), limit)
        turn = Turn(deadline, database, "an export slot", on_wait)
        keys = [slot_key(cluster, n) for n in numbers]
        with self._held(keys, channel(cluster), turn) as index:
            yield numbers[index]

    @contextmanager
    def _held(self, keys: Sequence[int], chan: str, turn: Turn) -> Iterator[int]:
        """Hold the first free of ``keys``; yields its index."""
        deadline = turn.deadline
        connection = self._session(deadline)
        import psycopg  # _session said so if it is missing

        try:
            # Listen before trying: a release between a failed try and LISTEN is not lost.
            self._call(connection, deadline.cap(CALL_SECONDS), f"LISTEN {chan}")
            while (index := self._try_any(connection, keys, deadline)) is None:
                turn.not_yet()
                wait = deadline.left(POLL_SECONDS)
                with _bounded(connection, wait + deadline.cap(CALL_SECONDS)):
                    for _ in connection.notifies(timeout=wait, stop_after=1):
                        pass
        except psycopg.Error:
            self.close()
            raise LocalSetupError(
                "lost the PostgreSQL session that holds the export locks while taking one "
                "(no export was started); check that server, or the network path to it"
            ) from None
        self._keys.append(keys[index])
        try:
            yield index
        finally:
            self._keys.remove(keys[index])
            self._release(connection, keys[index], chan)

    def dropped(self) -> bool:
        """Whether the session may be lost, without a round trip: a server ending it (a
        terminated backend, a shutdown) says so before it closes, which makes the
        socket readable (a NOTIFY does too; ``lost()`` tells them apart). A silent
        drop (NAT) shows only to ``lost()``."""
        import psycopg

        connection = self._connection
        if self._lost:
            return True
        if connection is None or not self._keys:
            return False
        try:
            ready, _, _ = select.select([connection.pgconn.socket], [], [], 0)
        except (OSError, ValueError, psycopg.Error):  # no socket: the session is closed
            return True
        return bool(ready)

    def lost(self) -> str:
        """Why the locks taken may no longer be held, or "" when the backend that took
        them holds every one now: asked before a final status is trusted.

        One statement on the session; if it fails (a stalled server, a cut path),
        a new session asks the lock table about the old backend, since locks outlive
        a stalled session but never a dead one."""
        import psycopg

        if not self._keys:
            return ""
        why = (
            "the PostgreSQL session holding the export locks was lost (its locks were "
            "freed with it)"
        )
        if self._lost or self._backend is None:
            return why
        connection = self._connection
        try:
            if connection is not None and self._holds(connection, own=True):
                return ""
        except psycopg.Error:
            pass
        # Lost or in doubt: this session is not trusted again, and frees what it holds.
        self._lost = True
        self.close()
        try:
            check = pg_connect(self.environ, CONNECT_TIMEOUT_SECONDS // 2)
        except LocalSetupError:
            return why
        try:
            if self._holds(check, own=False):
                return ""
        except psycopg.Error:
            pass
        finally:
            with suppress(Exception):
                check.close()
        return why

    def _holds(self, connection: psycopg.Connection[Any], *, own: bool) -> bool:
        """Whether the backend that took the locks holds every key of ``_keys``; asked
        on its own session (``own``), or on another."""
        assert self._backend is not None
        pairs = {((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF) for key in self._keys}
        row = self._call(
            connection,
            CALL_SECONDS,
            # A bigint advisory key shows as classid (its high 32 bits), objid (the low
            # ones) and objsubid 1.
            "SELECT count(DISTINCT (l.classid, l.objid)) FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.pid = %s AND a.backend_start = %s AND l.locktype = 'advisory' "
            "AND l.granted AND l.objsubid = 1 "
            "AND (l.classid::bigint, l.objid::bigint) IN "
            "(SELECT * FROM unnest(%s::bigint[], %s::bigint[])) "
            "AND (NOT %s OR l.pid = pg_backend_pid())",
            *self._backend,
            [c for c, _ in pairs],
            [o for _, o in pairs],
            own,
        )
        return row is not None and row[0] == len(pairs)

    def _try_any(
        self, connection: psycopg.Connection[Any], keys: Sequence[int], deadline: Deadline
    ) -> int | None:
        """The index of the first of ``keys`` this session now holds, or None; each try is
        bounded by the time left."""
        for index, key in enumerate(keys):
            seconds = deadline.cap(CALL_SECONDS)
            row = self._call(connection, seconds, "SELECT pg_try_advisory_lock(%s)", key)
            if row and row[0]:
                return index
        return None

    def _release(self, connection: psycopg.Connection[Any], key: int, chan: str) -> None:
        import psycopg

        if self._lost:
            return
        try:
            self._call(connection, CALL_SECONDS, "SELECT pg_advisory_unlock(%s)", key)
            self._call(connection, CALL_SECONDS, f"NOTIFY {chan}")
        except psycopg.Error:
            # The session is gone, and its locks with it: there is nothing to release.
            # The export's own outcome stands; the warning says the lock did not hold.
            self._lost = True
            self.close()
            self.warn(
                "warning: the PostgreSQL session holding the export locks was lost before "
                "the end (its locks were freed with it): another runner could have acted "
                "on this database meanwhile"
            )

    def _session(self, deadline: Deadline) -> psycopg.Connection[Any]:
        if self._connection is not None:
            return self._connection
        if self._lost:
            raise LocalSetupError("the PostgreSQL session that holds the export locks was lost")
        # libpq counts connect_timeout per address, whole seconds, at least 2.
        seconds = max(2, min(CONNECT_TIMEOUT_SECONDS, math.ceil(deadline.remaining())))
        connection = pg_connect(self.environ, seconds)
        import psycopg  # pg_connect said so if it is missing

        try:
            # Bounds on the server's side too; a session idle through a long export must
            # not be ended by an idle_session_timeout (PostgreSQL 14+; older ones lack it).
            self._call(connection, deadline.cap(CALL_SECONDS), "SET statement_timeout = '5s'")
            self._call(connection, deadline.cap(CALL_SECONDS), "SET lock_timeout = '5s'")
            with suppress(psycopg.errors.UndefinedObject):
                self._call(connection, deadline.cap(CALL_SECONDS), "SET idle_session_timeout = 0")
            row = self._call(
                connection,
                deadline.cap(CALL_SECONDS),
                "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            )
        except psycopg.Error:
            with suppress(Exception):
                connection.close()
            raise LocalSetupError(
                "the PostgreSQL that holds the export locks dropped the session at its start"
            ) from None
        self._connection = connection
        self._backend = (int(row[0]), row[1]) if row else None
        return connection

    @staticmethod
    def _call(
        connection: psycopg.Connection[Any], seconds: float, query: str, *args: object
    ) -> tuple[Any, ...] | None:
        with _bounded(connection, seconds):
            cursor = connection.execute(query, args or None)
            return cursor.fetchone() if cursor.description else None


def pg_connect(environ: Mapping[str, str], seconds: int) -> psycopg.Connection[Any]:
    """A session with the PostgreSQL of ``$PG_CONN_STR``; raises LocalSetupError, secret-free."""
    try:
        import psycopg  # only runners that coordinate through PostgreSQL need it
    except ImportError:
        from redis_enterprise_export.extras import not_installed

        raise not_installed("psycopg", 'coordination = "postgres"') from None
    try:
        return psycopg.connect(
            environ.get(CONN_ENV, ""),
            autocommit=True,
            connect_timeout=seconds,
            **SESSION_OPTIONS,  # type: ignore[arg-type]
        )
    except (psycopg.Error, UnicodeError) as exc:
        raise LocalSetupError(
            f"{connection_problem(exc, environ)} (it holds the export locks of "
            f'coordination = "postgres"); set {CONN_ENV} or the PG* variables'
        ) from None


def pg_problem(environ: Mapping[str, str], seconds: int = 5) -> str:
    """Why the coordination PostgreSQL is not usable (connect and ``SELECT 1`` within
    ``seconds``), or "" if it is: for preflight."""
    try:
        connection = pg_connect(environ, seconds)
    except LocalSetupError as exc:
        return str(exc)
    import psycopg  # pg_connect said so if it is missing

    try:
        PgLocks._call(connection, seconds, "SELECT 1")
    except psycopg.Error:
        return "the PostgreSQL that holds the export locks did not answer SELECT 1"
    finally:
        with suppress(Exception):
            connection.close()
    return ""


@contextmanager
def pg_slot(
    cluster: str,
    limit: int,
    deadline: Deadline,
    *,
    database: int,
    environ: Mapping[str, str],
    on_wait: Callable[[], None] = lambda: None,
    warn: Callable[[str], None] = lambda _: None,
) -> Iterator[int]:
    """Hold one of ``limit`` slots of ``cluster`` in PostgreSQL for the block, in a
    session of its own."""
    locks = PgLocks(environ, warn)
    try:
        with locks.slot(cluster, limit, deadline, database=database, on_wait=on_wait) as number:
            yield number
    finally:
        locks.close()


class ExportCounter(Protocol):
    def databases(self, fields: str) -> list[dict[str, Any]]: ...


def cluster_turn(
    client: ExportCounter,
    limit: int,
    deadline: Deadline,
    *,
    database: int,
    on_wait: Callable[[], None] = lambda: None,
    report: Callable[[str], None] = lambda _: None,
) -> None:
    """Return once the cluster runs fewer than ``limit`` exports (by its own count).

    Trouble reaching the cluster (a 503, a reset) is ridden out until the deadline,
    as on a status read.
    """
    delays = backoff(base_seconds=0.25, cap_seconds=POLL_SECONDS * 2)
    turn = Turn(deadline, database, "the cluster to run fewer exports", on_wait)
    while True:
        rows = ride_out(lambda: client.databases("uid,export_status"), deadline, delays, report)
        running = sum(row.get("export_status") == "exporting" for row in rows)
        if running < limit:
            return
        turn.not_yet()
        deadline.sleep(next(delays))
