"""One export, start to finish: the ``job.ActionJob`` for ``export_status``.

Settling, posting without ever starting two, and following only its own export
are the job's (see ``job``). Two exports of one database must not interleave:
the database's lock, held around the whole job, keeps them apart on one machine
(``slots.database_lock``) and, with coordination = "postgres", across runners
sharing that PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .client import ExportState
from .errors import ExportFailedError, ExportTimeoutError
from .job import ActionJob, Kind
from .models import ExportSpec

EXPORT = Kind(
    noun="export",
    doing="exporting",
    done="exported",
    preposition="to",
    running=frozenset({"exporting"}),
    failed=ExportFailedError,
    timed_out=ExportTimeoutError,
)


class ExportApi(Protocol):
    """The calls the job makes; ``client.RsClient`` is the real one."""

    def export_state(self, uid: int) -> ExportState: ...

    def find_database(self, name: str) -> int: ...

    def start_export(self, uid: int, body: dict[str, Any]) -> str | None: ...

    def reset_export_status(self, uid: int) -> None: ...


@dataclass(kw_only=True)
class ExportJob(ActionJob[ExportState]):
    """Runs one export of ``spec`` through ``client``; progress goes to ``report``."""

    kind: ClassVar[Kind] = EXPORT
    spec: ExportSpec
    client: ExportApi

    def read(self, uid: int) -> ExportState:
        return self.client.export_state(uid)

    def post(self, uid: int, body: dict[str, Any]) -> str | None:
        return self.client.start_export(uid, body)

    def reset(self, uid: int) -> None:
        self.client.reset_export_status(uid)
