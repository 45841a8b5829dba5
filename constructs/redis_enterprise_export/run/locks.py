"""The locks one run takes on a cluster, keyed by the cluster's identity: its database's
(this machine's, and with coordination = "postgres" every runner's), one of the
cluster's export slots, and (coordination = "cluster") the cluster's own count."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis_enterprise_export.polling import Deadline
from redis_enterprise_export.run.coordination import ExportCounter, PgLocks, cluster_turn
from redis_enterprise_export.run.slots import database_lock, export_slot
from redis_enterprise_export.spec.export import Cluster, normalized_url


@dataclass
class Locks:
    """What a run holds, and waits for, on ``cluster`` (identified as ``identity``);
    ``report`` hears each wait once. The PostgreSQL session, if any, ends with ``cleanup``."""

    cluster: Cluster
    identity: str
    directory: Path  # this machine's lock directory (slots.slots_dir)
    environ: Mapping[str, str]
    report: Callable[[str], None]
    cleanup: ExitStack
    # What this run holds the database's lock for, in the wait's words: "export",
    # "drill", "restore".
    doing: str = "export"
    pg: PgLocks | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.cluster.coordination == "postgres":
            self.pg = PgLocks(self.environ, self.report)
            self.cleanup.callback(self.pg.close)

    def _waiting(self, what: str) -> Callable[[], None]:
        # The cluster by its identity: two of one name are told apart in the wait too.
        return lambda: self.report(f"waiting for {what}, on cluster {self.identity}")

    @contextmanager
    def database(self, uid: int, deadline: Deadline) -> Iterator[None]:
        """Hold database ``uid``'s lock: a helper waiting for it, or settling it, holds no slot."""
        # Exports, drills and restores of one database share its lock: the one that holds
        # it may be any of them, so the wait names them all, and what waits.
        held = f"export, drill or restore of database {uid} to end"
        then = f" before this {self.doing}"
        other = self._waiting(f"this machine's other {held}{then}")
        runner = self._waiting(f"another runner's {held}{then}")
        with ExitStack() as locks:
            # Under the identity, and under the address too: a run whose GET /v1/cluster
            # answered oddly keys its locks by the address, and must still exclude a run
            # of the same address that read the name. Always in this order: no cycle.
            keys = list(dict.fromkeys((self.identity, normalized_url(self.cluster.url))))
            for key in keys:
                locks.enter_context(
                    database_lock(self.directory, key, uid, deadline, on_wait=other)
                )
            if self.pg is not None:
                for key in keys:
                    locks.enter_context(self.pg.database(key, uid, deadline, on_wait=runner))
            yield

    def lost(self, final: bool) -> str:
        """Why the locks across runners may no longer hold, or "" (``PgLocks.lost``);
        unless ``final``, asked only when the session shows a sign, at no round trip."""
        if self.pg is None or not (final or self.pg.dropped()):
            return ""
        return self.pg.lost()

    @contextmanager
    def slot(self, uid: int, deadline: Deadline) -> Iterator[None]:
        """Hold one of the cluster's export slots (none: max_concurrent_exports = 0)."""
        limit = self.cluster.max_concurrent_exports
        wait = self._waiting(f"one of {limit} export slots of {self.cluster.url}")
        slots: Any
        if self.pg is not None and limit > 0:
            slots = self.pg.slot(self.identity, limit, deadline, database=uid, on_wait=wait)
        else:
            slots = export_slot(
                self.directory, self.identity, limit, deadline, database=uid, on_wait=wait
            )
        with slots:
            yield

    def admitter(self, client: ExportCounter) -> Callable[[int, Deadline], None]:
        """What the job waits for right before each POST: the cluster's own count of
        running exports below the limit, when that is the coordination."""
        limit = self.cluster.max_concurrent_exports

        def admit(uid: int, deadline: Deadline) -> None:
            # Asked again before each POST: after a 409, another runner took the
            # place, and posting again without looking would meet the next 409.
            if self.cluster.coordination == "cluster" and limit > 0:
                busy = self._waiting(f"{self.cluster.url} to run fewer than {limit} exports")
                cluster_turn(
                    client, limit, deadline, database=uid, on_wait=busy, report=self.report
                )

        return admit
