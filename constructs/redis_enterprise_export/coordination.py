"""Export slots shared across runners: PostgreSQL advisory locks, or the cluster's own count.

Per-machine lock files keep one runner from storming a cluster, but pipelines on
several runners still meet the cluster's limit with 409s. Runners that keep
Terraform state in PostgreSQL already share a database: a slot is then a session
advisory lock on a key derived from the cluster URL and the slot number. The lock
lives as long as the connection, so a runner that dies frees its slot when its
connection drops; a release NOTIFYs the waiters, which otherwise look again
every ``POLL_SECONDS``.

The connection comes from ``$PG_CONN_STR``, or libpq's own ``PG*`` variables.

Where runners share no database, ``cluster_turn`` asks the cluster instead: one
read of every database's ``export_status`` before the POST, waiting while the
cluster already runs ``limit`` exports. Two runners can still read the same count
and post together; the loser meets a 409 and backs off, as without coordination.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from .errors import LocalSetupError
from .polling import Deadline, Turn, backoff

CONN_ENV = "PG_CONN_STR"
# How long a waiter sleeps when no release wakes it: a slot freed by a dropped
# connection sends no NOTIFY.
POLL_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10


def slot_key(cluster_url: str, number: int) -> int:
    """The advisory lock key (a signed 64-bit integer) of one slot of one cluster."""
    digest = hashlib.sha256(f"redis-enterprise-export\0{cluster_url}\0{number}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def channel(cluster_url: str) -> str:
    """The NOTIFY channel on which a cluster's slot releases are announced."""
    return "redis_export_" + hashlib.sha256(cluster_url.encode()).hexdigest()[:16]


@contextmanager
def pg_slot(
    cluster_url: str,
    limit: int,
    deadline: Deadline,
    *,
    database: int,
    environ: Mapping[str, str],
    on_wait: Callable[[], None] = lambda: None,
) -> Iterator[int]:
    """Hold one of ``limit`` slots of ``cluster_url`` in PostgreSQL for the block."""
    try:
        import psycopg  # only runners that coordinate through PostgreSQL need it
    except ImportError:
        from .extras import not_installed

        raise not_installed("psycopg", 'coordination = "postgres"') from None

    try:
        connection = psycopg.connect(
            environ.get(CONN_ENV, ""), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
    except psycopg.Error as exc:
        # libpq's message names host and port, never the password.
        raise LocalSetupError(
            f"cannot reach the PostgreSQL that holds the export slots ({exc}); set "
            f"{CONN_ENV} or the PG* variables"
        ) from None
    with connection:
        # Listen before trying: a release between a failed try and LISTEN is not lost.
        connection.execute(f"LISTEN {channel(cluster_url)}")
        turn = Turn(deadline, database, "an export slot", on_wait)
        while True:
            for number in random.sample(range(limit), limit):
                key = slot_key(cluster_url, number)
                row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    try:
                        yield number
                    finally:
                        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
                        connection.execute(f"NOTIFY {channel(cluster_url)}")
                    return
            turn.not_yet()
            wait = max(0.0, min(POLL_SECONDS, deadline.remaining()))
            for _ in connection.notifies(timeout=wait, stop_after=1):
                pass


class ExportCounter(Protocol):
    def databases(self, fields: str) -> list[dict[str, Any]]: ...


def cluster_turn(
    client: ExportCounter,
    limit: int,
    deadline: Deadline,
    *,
    database: int,
    on_wait: Callable[[], None] = lambda: None,
) -> None:
    """Return once the cluster runs fewer than ``limit`` exports (by its own count)."""
    delays = backoff(base_seconds=0.25, cap_seconds=POLL_SECONDS * 2)
    turn = Turn(deadline, database, "the cluster to run fewer exports", on_wait)
    while True:
        rows = client.databases("uid,export_status")
        running = sum(row.get("export_status") == "exporting" for row in rows)
        if running < limit:
            return
        turn.not_yet()
        deadline.sleep(next(delays))
