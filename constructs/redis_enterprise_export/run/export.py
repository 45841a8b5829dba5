"""One export, start to finish: the ``job.ActionJob`` for ``export_status``.

Settling, posting without ever starting two, and following only its own export
are the job's (see ``job``). Two exports of one database must not interleave:
the database's lock, held around the whole job, keeps them apart on one machine
(``slots.database_lock``) and, with coordination = "postgres", across runners
sharing that PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from redis_enterprise_export.contract import (
    DRILLED_ENV,
    Result,
    Timeline,
    outcome_status,
)
from redis_enterprise_export.errors import ExportError, ExportFailedError, ExportTimeoutError
from redis_enterprise_export.redact import clipped
from redis_enterprise_export.rs.answers import ExportState, KeyCount
from redis_enterprise_export.run.beside import Beside
from redis_enterprise_export.run.job import ActionJob, Kind
from redis_enterprise_export.spec.export import ExportSpec

if TYPE_CHECKING:
    from contextlib import ExitStack

    from redis_enterprise_export.polling import Deadline
    from redis_enterprise_export.rs.client import RsClient
    from redis_enterprise_export.rs.connect import Credentials
    from redis_enterprise_export.run.listing import Lister, Snapshot

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

    def key_count(self, uid: int) -> KeyCount: ...

    def databases(self, fields: str) -> list[dict[str, Any]]: ...


@dataclass(kw_only=True)
class ExportJob(ActionJob[ExportState]):
    """Runs one export of ``spec`` through ``client``; progress goes to ``report``."""

    kind: ClassVar[Kind] = EXPORT
    spec: ExportSpec
    client: ExportApi
    # What a drill needs (see ``drill``), best effort: none of it fails an export.
    # The database's no_of_keys right before the POST and right after success.
    keys_before: int | None = None
    keys_after: int | None = None
    keys_note: str = ""
    # The files new or changed in the location across the export, when listed.
    files: tuple[str, ...] | None = None
    files_note: str = ""
    # Lists the location; prepare's warms it beside the sign-in.
    lister: Lister | None = None
    # The result's retention fields (``contract.Retained``), with a retention policy.
    retained: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""  # recorded in the retention records
    # A drill proves this run's files (also said by DRILLED_ENV, as the stack runs it).
    drilled: bool = False
    _listed: Snapshot | None = field(default=None, init=False)

    def succeeded(self, state: ExportState) -> None:
        with Beside(self._lister().snapshot) as listing:
            self.keys_after = self._keys(state.uid)
        # Other databases whose files could carry this one's name (None: not known).
        namesakes: list[str] | None = []
        if self._listed is not None:
            self.files, self.files_note = _own_files(self._listed, listing.value, state.name)
            if self.files and state.name:
                namesakes, ambiguous = self._namesakes(state)
                notes = (self.files_note, ambiguous)
                self.files_note = "; ".join(note for note in notes if note)
        if self.spec.retention is not None:
            self.retained = self._retain(state.name, namesakes)

    def _retain(self, database: str, namesakes: list[str] | None) -> dict[str, Any]:
        """Record the files this export wrote in its retention records and, unless a
        drill is still to prove them, prune the export's older ones: inside the
        database's lock, best effort (a prune's trouble never fails an export)."""
        from redis_enterprise_export.run.retention import PruneOutcome, record

        unsure = _unsure(self.files or (), database, namesakes)
        if not self.files or unsure:
            outcome = PruneOutcome(notes=[
                "retention: nothing recorded or deleted, as the files this export wrote are "
                f"not known ({unsure or self.files_note or 'none listed'})"
            ])  # fmt: skip
        else:
            drilled = self.drilled or self.environ.get(DRILLED_ENV) == "1"
            outcome = record(
                self.spec, self.environ, files=self.files, run_id=self.run_id,
                proven=not drilled, report=self.report, s3=self._lister().s3,
            )  # fmt: skip
        if outcome.note:
            self.report(outcome.note)
        return outcome.fields()

    def _namesakes(self, state: ExportState) -> tuple[list[str] | None, str]:
        """The other databases' names whose first 30 characters hold this one's, None if
        unknown, and a note when there are any: RS names files after the first 30
        characters of the name, so their files may carry this one's too."""
        prefix = state.name[:30]
        try:
            rows = self.client.databases("uid,name")
        except ExportError as exc:
            return None, f"whether another database's files also carry {prefix!r} is unknown: {exc}"
        found = sorted(
            str(row.get("name"))
            for row in rows
            if row.get("uid") != state.uid and prefix in str(row.get("name"))[:30]
        )
        if not found:
            return [], ""
        shown = ", ".join(repr(clipped(name, 40)) for name in found[:5]) + (
            f" and {len(found) - 5} more" if len(found) > 5 else ""
        )
        return found, (
            f"ambiguous: the files were told apart by {prefix!r}, which the first 30 "
            f"characters of database {shown} also hold, so another database's file exported "
            "at the same time may be listed; check each file's name before restoring it"
        )

    def before_post(self, uid: int) -> None:
        # Here, inside the slot, not earlier: a file written while this run waited (RS's
        # scheduled backup, say) would pass for this export's own.
        with Beside(self._lister().snapshot) as listing:
            self.keys_before = self._keys(uid)
        self._listed = listing.value

    def _keys(self, uid: int) -> int | None:
        try:
            keys = self.client.key_count(uid).keys
        except ExportError as exc:
            self.keys_note = f"the database's statistics could not be read: {exc}"
            return None
        if keys is None:
            self.keys_note = "the database's statistics showed no_of_keys as no count"
        return keys

    def _lister(self) -> Lister:
        if self.lister is None:
            from redis_enterprise_export.run.listing import Lister

            self.lister = Lister(self.spec.location, self.environ)
        return self.lister

    def read(self, uid: int) -> ExportState:
        return self.client.export_state(uid)

    def post(self, uid: int, body: dict[str, Any]) -> str | None:
        return self.client.start_export(uid, body)

    def reset(self, uid: int) -> None:
        self.client.reset_export_status(uid)


def _own_files(
    before: Snapshot, after: Snapshot, database: str
) -> tuple[tuple[str, ...] | None, str]:
    """The files this export wrote, and a note on how they were told apart.

    Several exports may write to one folder at once. RS names a file after its
    database (the name's first 30 characters, as documented for backups): when
    some new files carry the name, only those are this export's.
    """
    from redis_enterprise_export.run.listing import written

    new = written(before, after)
    if new is None:
        return None, after.why_not or before.why_not
    if not new:
        return None, "no new or changed file appeared in the location during the export"
    named = tuple(f for f in new if _carries(f, database))
    if named and len(named) < len(new):
        return named, f"{len(new) - len(named)} other new files did not carry the database's name"
    return new, ""


def _carries(file: str, database: str) -> bool:
    """Whether ``file``'s name carries ``database``'s, as RS names files: its first 30
    characters."""
    return bool(database) and database[:30] in file


def _unsure(files: Sequence[str], database: str, namesakes: list[str] | None) -> str:
    """Why ``files`` may not all be this export's own, or "": recorded files may one day be
    deleted, so each must carry the database's name (RS names files after its first 30
    characters) and none the longer name of another database that holds it."""
    if not all(_carries(f, database) for f in files):
        shown = ", ".join(clipped(f, 80) for f in files[:5])
        return f"not every new file carries the database's name: {shown}"
    if namesakes is None:
        return "whether another database's files also carry its name is unknown"
    for name in files:
        if theirs := next((n for n in namesakes if _carries(name, n)), None):
            return f"{clipped(name, 80)} may be database {clipped(theirs, 40)!r}'s"
    return ""


def result_of(
    job: ExportJob | None,
    outcome: BaseException | None,
    *,
    message: str,
    **known: Any,
) -> Result:
    """The record of a finished run: what ``job`` saw, and how it ended.

    ``outcome`` is the error that ended the run, or None on success; ``known``
    are fields known apart from the job (name, run_id, location, times).
    """
    values: dict[str, Any] = dict(known)
    if job is not None:
        # Monotonic marks as epoch seconds, to line up with other runs.
        offset = time.time() - time.monotonic()
        marks = {k: round(v + offset, 3) for k, v in job.marks.items()}
        values |= {
            "database_uid": job.uid,
            "conflicts": job.conflicts,
            "status_reads": job.status_reads,
            "timeline": Timeline(**marks),
            "keys_before": job.keys_before,
            "keys_after": job.keys_after,
            "keys_note": job.keys_note,
            "files": None if job.files is None else list(job.files),
            "files_note": job.files_note,
        } | job.retained
        # After losing track, the last state read is another export's: not ours to show.
        if job.state is not None and outcome_status(outcome) != "unknown":
            values |= {
                "export_status": job.state.export_status,
                "export_progress": job.state.export_progress,
                "export_failure_reason": job.state.export_failure_reason,
                "last_export_time": job.state.last_export_time,
                "database_name": job.state.name,
            }
    if outcome is not None:
        values["export_status"] = outcome_status(outcome)
    return Result(**values, message=message)


def prepare(
    spec: ExportSpec,
    client: RsClient,
    *,
    credentials: Credentials,
    environ: Mapping[str, str],
    deadline: Deadline,
    report: Callable[[str], None],
    cleanup: ExitStack,
) -> ExportJob:
    """The job of one export as a helper runs it, on the run's ``deadline``: past the
    login gate, its cluster identified, its locks ready (released by ``cleanup``)."""
    # Here, not at the top: result_of must load where the transport cannot (a Python
    # without requests or truststore still records its outcome).
    from redis_enterprise_export.run.listing import Lister
    from redis_enterprise_export.run.locks import Locks
    from redis_enterprise_export.run.logins import signed_in
    from redis_enterprise_export.run.slots import slots_dir

    # An S3 client takes a few tenths of a second to make: beside the sign-in, not after.
    lister = Lister(spec.location, environ)
    cleanup.enter_context(Beside(lister.warm))
    directory = slots_dir(environ)
    identity = signed_in(
        directory, spec.cluster, credentials, client, deadline=deadline, report=report
    )
    locks = Locks(spec.cluster, identity, directory, environ, report, cleanup)
    return ExportJob(
        spec=spec,
        client=client,
        environ=environ,
        clock=deadline.clock,
        report=report,
        deadline=deadline,
        gate=locks.database,
        slot=locks.slot,
        admit=locks.admitter(client),
        lock_lost=locks.lost,
        lister=lister,
    )
