"""A scripted cluster API for the action jobs, and a job built on the fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from helpers.clock import FakeClock
from redis_enterprise_export.errors import TransportError
from redis_enterprise_export.polling import PollPolicy
from redis_enterprise_export.rs.answers import ExportState, ImportState, KeyCount, as_count
from redis_enterprise_export.rs.failures import refusal
from redis_enterprise_export.run.job import ActionJob
from redis_enterprise_export.simulator import SimCluster
from redis_enterprise_export.simulator.scenario import Reply, Request


class ClusterApi:
    """The jobs' API (export and import), served straight from a SimCluster; faults
    are scripted here."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.lose_post_responses = 0
        self.refuse_reads = 0  # refused before the POST
        self.refuse_reads_after_post = 0
        self.calls: list[str] = []

    def _check(self, reply: Reply, method: str, path: str) -> Any:
        self.cluster.log.append(Request(method, path, "", "admin", reply.status))
        if reply.status >= 400:
            # The client's own mapping, so this fake cannot drift from the real one.
            raise refusal(
                reply.status, reply.body, method, path, user="admin", permission="a permission"
            )
        return reply.body

    def export_state(self, uid: int) -> ExportState:
        return ExportState.parse(self._read(uid), f"/v1/bdbs/{uid}")

    def import_state(self, uid: int) -> ImportState:
        return ImportState.parse(self._read(uid), f"/v1/bdbs/{uid}")

    def _read(self, uid: int) -> Any:
        self.calls.append("GET")
        if self.refuse_reads_after_post and "POST" in self.calls:
            self.refuse_reads_after_post -= 1
            raise TransportError("connection refused", maybe_sent=False)
        if self.refuse_reads and "POST" not in self.calls:
            self.refuse_reads -= 1
            raise TransportError("connection refused", maybe_sent=False)
        return self._check(self.cluster.get_database(uid, None), "GET", f"/v1/bdbs/{uid}")

    def find_database(self, name: str) -> int:
        rows = self.cluster.list_databases(["uid", "name"]).body
        return next(int(r["uid"]) for r in rows if r["name"] == name)

    def databases(self, fields: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.cluster.list_databases(fields.split(",")).body
        return rows

    def start_export(self, uid: int, body: dict[str, Any]) -> None:
        self._post(f"/v1/bdbs/{uid}/actions/export", self.cluster.start_export(uid, "admin", body))

    def start_import(self, uid: int, body: dict[str, Any]) -> None:
        self._post(f"/v1/bdbs/{uid}/actions/import", self.cluster.start_import(uid, "admin", body))

    def _post(self, path: str, reply: Reply) -> None:
        self.calls.append("POST")
        self._check(reply, "POST", path)
        if self.lose_post_responses:
            self.lose_post_responses -= 1
            raise TransportError("connection reset by peer", maybe_sent=True)

    def key_count(self, uid: int) -> KeyCount:
        # Not logged: the jobs' tests count the export's own requests.
        reply = self.cluster.last_stats(uid, "admin", ["no_of_keys"])
        if reply.status >= 400:
            raise TransportError(f"stats answered {reply.status}", maybe_sent=False)
        sample = reply.body[str(uid)]
        return KeyCount(as_count(sample["no_of_keys"]), sample["stime"], sample["etime"])

    def reset_export_status(self, uid: int) -> None:
        self.calls.append("PUT")
        path = f"/v1/bdbs/{uid}/actions/export_reset_status"
        self._check(self.cluster.reset_export_status(uid, "admin"), "PUT", path)

    def reset_import_status(self, uid: int) -> None:
        self.calls.append("PUT")
        path = f"/v1/bdbs/{uid}/actions/import_reset_status"
        self._check(self.cluster.reset_import_status(uid, "admin"), "PUT", path)


J = TypeVar("J", bound=ActionJob[Any])


def build(cls: type[J], api: ClusterApi, clock: FakeClock, **kwargs: Any) -> tuple[J, list[str]]:
    """A job of ``cls`` on ``api`` with no jitter; its report lines are returned too."""
    lines: list[str] = []
    job = cls(client=api, environ=ENV, clock=clock, report=lines.append, policy=PollPolicy(),
              retry_delays=no_jitter, **kwargs)  # fmt: skip
    return job, lines


ENV = {"S3_SECRET": "s3-secret"}


def no_jitter() -> Iterator[float]:
    while True:
        yield 2.0
