"""Restore drills: a backup is proven only when it loads.

A drill imports the files its export wrote into a scratch database (ERASING
that database's content) and checks that the scratch database then holds as
many keys as the source held at export time, within a stated tolerance. The key
counts are ``no_of_keys`` from RS's database statistics
(``GET /v1/bdbs/stats/last/{uid}``), read by the export right before its POST
and right after it succeeded.

Statistics are sampled: the latest sample may still describe the scratch
database before the import. A count is trusted only from a later sample: one that
began no earlier than, and ended after, the end of the first sample read after the
import succeeded (both times are the cluster's, so no clock skew enters). Such a
sample is fresh. A fresh count within the tolerance proves the restore at once;
FRESH_MISSES distinct fresh samples outside it fail the drill without waiting out
the rest of its window, while samples not yet fresh are waited on for all of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from redis_enterprise_export.contract import Result
from redis_enterprise_export.errors import (
    ApiError,
    ConfigError,
    DatabaseNotFoundError,
    DrillFailedError,
    DrillTimeoutError,
    ExportError,
    ExportTimeoutError,
    ImportFailedError,
    ImportTimeoutError,
    OutcomeUnknownError,
    TlsError,
)
from redis_enterprise_export.polling import Clock, Deadline, backoff, ride_out
from redis_enterprise_export.rs.answers import KeyCount, as_uid, pick_database
from redis_enterprise_export.run.job import never_lost, no_gate
from redis_enterprise_export.run.restore import (
    ImportApi,
    ImportJob,
    KeyCounter,
    RestoreSpec,
    described,
)
from redis_enterprise_export.spec.drill import DrillSpec
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.spec.values import parse_time

# How long, after the import succeeded, the drill waits for a statistics sample of
# the scratch database that is fresh and within the tolerance (at most the time left).
STATS_WINDOW_SECONDS = 120.0
STATS_POLL_SECONDS = 2.0
# Distinct fresh samples out of tolerance that fail the drill before its window ends:
# a fresh sample describes the database after the import, so more of them showing the
# wrong count is the import's outcome, not the statistics' lag (issue 24, item 5).
FRESH_MISSES = 3


class DrillApi(ImportApi, KeyCounter, Protocol):
    """The calls a drill makes; ``client.RsClient`` is the real one."""

    def databases(self, fields: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class KeyRange:
    """The keys the source held at export time, and how far a restore may be from them."""

    low: int
    high: int
    tolerance_percent: float

    @classmethod
    def of(cls, exported: Result, tolerance_percent: float) -> KeyRange | None:
        """From the counts the export recorded; None if it recorded none."""
        counts = [
            n
            for n in (exported.keys_before, exported.keys_after)
            if isinstance(n, int) and not isinstance(n, bool) and n >= 0
        ]
        if not counts:
            return None
        return cls(min(counts), max(counts), tolerance_percent)

    @property
    def slack(self) -> int:
        return math.ceil(self.high * self.tolerance_percent / 100)

    def holds(self, keys: int) -> bool:
        return self.low - self.slack <= keys <= self.high + self.slack

    def describe(self) -> str:
        held = f"{self.low}" if self.low == self.high else f"{self.low} to {self.high}"
        return f"{held} keys (tolerance {self.tolerance_percent:g}%: ±{self.slack})"


@dataclass(frozen=True)
class Counted:
    """What ``count_keys`` saw: ``keys``, the count it settled on (the first fresh one
    within the range, else the last fresh one; None: no fresh sample came), and
    ``fresh``, the key counts of the distinct fresh samples it read, in order."""

    keys: int | None
    fresh: tuple[int, ...] = ()

    def misses(self, expected: KeyRange) -> tuple[int, ...]:
        """The fresh counts outside ``expected``."""
        return tuple(n for n in self.fresh if not expected.holds(n))


@dataclass(kw_only=True)
class Drill:
    """Runs one drill: the export's files into the scratch database, then the count."""

    spec: DrillSpec
    export: ExportSpec
    exported: Result  # the export's own record of its latest run
    client: DrillApi
    environ: Mapping[str, str]
    clock: Clock
    report: Callable[[str], None]
    # What the drill knows so far; the CLI reads these to write its record.
    files: tuple[str, ...] = ()
    expected: KeyRange | None = None
    keys_loaded: int | None = None
    counted: Counted | None = None  # every fresh count seen, beside keys_loaded
    job: ImportJob | None = None
    named: bool = False  # the files are the config's, not what the export recorded
    import_seconds: float | None = None
    count_seconds: float | None = None
    # Held from the import's first request to the count's end: the scratch database's
    # lock, so two drills into one scratch database never count each other's import.
    gate: Callable[[int, Deadline], AbstractContextManager[object]] = no_gate
    # Why that lock may no longer hold (see ActionJob.lock_lost): the import's outcome
    # is then unknown.
    lock_lost: Callable[[bool], str] = never_lost
    # The run's deadline, which the import and the count share with what came before
    # (the cluster's identity); if omitted, one of the spec's timeout_seconds from run().
    deadline: Deadline | None = None

    def run(self) -> None:
        """Import and count; raises DrillFailedError (or the import's errors) if not proven."""
        exported = self.exported
        if exported.export_status != "succeeded":
            raise DrillFailedError(
                f"export {self.export.name!r}'s latest run did not succeed "
                f"(export_status {exported.export_status!r}): there is no new file to drill; "
                "nothing was imported"
            )
        # What the export recorded comes first: files named in the config may be an old
        # export's, and loading them again proves nothing about tonight's.
        self.named = not exported.files
        self.files = tuple(exported.files or ()) or self.spec.files
        if not self.files:
            raise DrillFailedError(
                f"export {self.export.name!r} recorded no file it wrote "
                f"({exported.files_note or 'no reason recorded'}), and the drill names none "
                "(files = [...]); nothing was imported"
            )
        self.expected = KeyRange.of(exported, self.spec.key_tolerance_percent)
        if self.expected is None:
            raise DrillFailedError(
                f"export {self.export.name!r} recorded no key count of its database "
                f"({exported.keys_note or 'no reason recorded'}), so a restore cannot be "
                "checked; nothing was imported"
            )
        deadline = self.deadline or Deadline(self.clock, self.spec.timeout_seconds)
        uid, name = self._target(deadline)
        restore = RestoreSpec(
            cluster=self.export.cluster,
            database=uid,
            name=name,
            location=self.export.location,
            files=self.files,
            timeout_seconds=self.spec.timeout_seconds,
        )
        self.job = job = ImportJob(
            spec=restore,
            client=self.client,
            environ=self.environ,
            clock=self.clock,
            report=self.report,
            deadline=deadline,
            lock_lost=self.lock_lost,
        )
        with ExitStack() as held:
            try:
                held.enter_context(self.gate(uid, deadline))
                began = self.clock.now()
                job.run()
            except ExportTimeoutError as exc:
                # The lock's wait or the import: an import's timeout either way, whose
                # knob is the drill's timeout_seconds, not restore's --timeout.
                raise exc.as_kind(ImportTimeoutError, knob="timeout_seconds") from None
            except ImportFailedError as exc:
                files = ", ".join(map(repr, self.files))
                raise DrillFailedError(
                    f"drill {self.spec.name!r}: export {self.export.name!r} succeeded, but its "
                    f"files {files} did not load into the scratch database {uid}: {exc}. "
                    "Export again (a new run_id), and if its file fails again, check the "
                    "location's storage"
                ) from None
            imported = self.clock.now()
            self.import_seconds = imported - began
            window = min(STATS_WINDOW_SECONDS, max(deadline.remaining(), 0.0))
            # Cut short by the run's deadline: then an unproven count is a timeout.
            cut = window < STATS_WINDOW_SECONDS
            try:
                self.counted = count_keys(
                    self.client,
                    uid,
                    clock=self.clock,
                    seconds=window,
                    expected=self.expected,
                    report=self.report,
                )
                self.keys_loaded = self.counted.keys
            except DrillFailedError as exc:
                if cut:
                    raise DrillTimeoutError(f"{exc}; {self._out_of_time()}") from None
                raise
            # The count is read under the lock as the import was: lost meanwhile, another
            # runner's drill may have imported into this database, and the count be its.
            if why := self.lock_lost(True):
                raise OutcomeUnknownError(
                    f"{why} while drill {self.spec.name!r} counted the keys of the scratch "
                    f"database {uid}: another runner's drill or restore may have imported "
                    "into it since this drill's import succeeded, so the count is not known "
                    "to be this drill's and the restore is not proven. Run the drill again; "
                    "and check the PostgreSQL (a restart, a failover, idle_session_timeout, a "
                    "pooler) or the network path to it"
                )
        self.count_seconds = self.clock.now() - imported
        if self.keys_loaded is None:
            text = (
                f"the import into database {uid} succeeded, but its statistics showed no "
                f"fresh key count within {window:.3g} s, so the restore is not proven"
            )
            if cut:
                raise DrillTimeoutError(f"{text}; {self._out_of_time()}")
            raise DrillFailedError(f"{text}; check the database's key count in the admin console")
        if not self.expected.holds(self.keys_loaded):
            seen = _disagreed(self.counted, self.expected, window)
            raise DrillFailedError(
                f"database {uid} holds {self.keys_loaded} keys after the import, but "
                f"export {self.export.name!r}'s database held {self.expected.describe()}"
                f"{seen}: the files {', '.join(map(repr, self.files))} did not restore it"
            )
        self.report(
            f"drill {self.spec.name!r}: database {uid} holds {self.keys_loaded} keys, as "
            f"the source held {self.expected.describe()}"
        )

    @property
    def proven(self) -> str:
        """What a drill that succeeded proved, in one line."""
        if self.named:
            return (
                "drilled: the files named in the config loaded; the export recorded no file "
                "of its own, so they may not be this export's"
            )
        return "drilled: the export loaded"

    def _out_of_time(self) -> str:
        return (
            f"the drill's deadline (timeout_seconds = {self.spec.timeout_seconds:g}) "
            "ended the count: raise timeout_seconds, or check the database's key count in "
            "the admin console"
        )

    def _target(self, deadline: Deadline) -> tuple[int, str]:
        """The scratch database's uid (its lock is keyed by it) and name, read from the cluster
        before any POST and shown with its key count. Refused: a database that an export
        of the cluster exports, however the config spells it, and one that RS backs up on
        a schedule unless the drill says erase_backed_up."""
        into = self.spec.into
        rows = ride_out(
            lambda: self.client.databases("uid,name,backup"), deadline, backoff(), self.report
        )
        try:
            row = pick_database(rows, into)
        except DatabaseNotFoundError as exc:
            raise exc.advised(
                f"create the scratch database that drill {self.spec.name!r} imports into "
                f"(into = {into!r}), or set into and erase to one that exists; nothing was "
                "imported"
            ) from None
        uid = as_uid(row.get("uid"), "uid", "/v1/bdbs")
        name = row["name"] if isinstance(row.get("name"), str) else ""
        # The export's own database always, by its config spelling and by the uid it ran on.
        guarded = {*self.spec.guarded, self.export.database, self.exported.database_uid}
        if uid in guarded or name in guarded:
            raise ConfigError(
                "into",
                into,
                "a scratch database that no export of this cluster exports: database "
                f"{uid} is exported (a drill ERASES the database it imports into); nothing "
                "was imported",
            )
        if row.get("backup") is True and not self.spec.erase_backed_up:
            raise ConfigError(
                "into",
                into,
                f"a scratch database that RS does not back up on a schedule: database {uid} "
                f"({name!r}) has RS scheduled backups on (backup: true), so its content may be "
                "meant to be kept; set erase_backed_up = true in the drill's table if it may "
                "be erased; nothing was imported",
            )
        self.report(f"scratch {described(self.client, uid, name)}: this drill ERASES it")
        return uid, name


def count_keys(
    client: KeyCounter,
    uid: int,
    *,
    clock: Clock,
    seconds: float,
    expected: KeyRange,
    report: Callable[[str], None],
) -> Counted:
    """Database ``uid``'s key count after an import that just succeeded, from fresh
    statistics samples: the first within ``expected``, else the last fresh one seen
    in ``seconds`` or once FRESH_MISSES distinct fresh ones were outside it, whichever
    comes first; no count if no fresh one came.

    The first sample read may predate the import: its end is the boundary, and only a
    sample that starts at or after it and ends after it is fresh (the cluster's times).
    A sample read again (the same stime and etime) is one sample, counted once; samples
    not yet fresh never end the count before ``seconds``.
    A refusal (401, 403) or an untrusted certificate is raised at once: asking again
    cannot help. Other failed reads are retried; if the last read failed and no fresh
    count came, DrillFailedError says that read's failure.
    """
    until = clock.now() + seconds
    boundary: datetime | None = None
    first = True
    fresh: list[int] = []
    seen: set[tuple[datetime | None, datetime | None]] = set()
    failed: ExportError | None = None
    while True:
        try:
            sample = client.key_count(uid)
        except ExportError as exc:
            if isinstance(exc, TlsError) or (
                isinstance(exc, ApiError) and exc.http_status in (401, 403)
            ):
                raise
            failed = exc
            report(f"the statistics of database {uid} could not be read ({exc}); retrying")
        else:
            failed = None
            times = (parse_time(sample.stime), parse_time(sample.etime))
            if first:
                boundary, first = times[1], False
            elif _fresh(sample, boundary) and sample.keys is not None and times not in seen:
                seen.add(times)
                fresh.append(sample.keys)
                if expected.holds(sample.keys):
                    return Counted(sample.keys, tuple(fresh))
                misses = len(fresh)  # every earlier fresh count was outside too
                report(
                    f"database {uid}'s statistics show {sample.keys} keys, outside "
                    f"{expected.describe()}: fresh sample {misses} of the {FRESH_MISSES} "
                    "out of it that fail the drill"
                )
                if misses >= FRESH_MISSES:
                    return Counted(sample.keys, tuple(fresh))
        if clock.now() >= until:
            if not fresh and failed is not None:
                raise DrillFailedError(
                    f"the import into database {uid} succeeded, but its statistics could "
                    f"not be read to the end of {seconds:g} s ({failed}), so the restore is "
                    "not proven"
                )
            return Counted(fresh[-1] if fresh else None, tuple(fresh))
        clock.sleep(min(STATS_POLL_SECONDS, max(until - clock.now(), 0.0)))


def _disagreed(counted: Counted | None, expected: KeyRange, window: float) -> str:
    """What the fresh samples showed, for a failure's message: their counts, and
    whether FRESH_MISSES of them ended the count before its window did."""
    misses = counted.misses(expected) if counted else ()
    seen = ", ".join(map(str, misses))
    if len(misses) >= FRESH_MISSES:
        return (
            f"; {len(misses)} fresh statistics samples disagreed ({seen} keys), so the "
            f"drill failed without waiting out the rest of its {window:.3g} s"
        )
    return f"; the fresh statistics samples in {window:.3g} s showed {seen} keys"


def _fresh(sample: KeyCount, boundary: datetime | None) -> bool:
    """Whether ``sample`` began no earlier than the boundary and ended after it: a
    later sample, not the boundary's own read again (an instant's sample, stime ==
    etime, starts at its own end). Without times to compare it is not fresh: a stale
    count that happens to match would prove nothing."""
    start, end = parse_time(sample.stime), parse_time(sample.etime)
    return (
        boundary is not None
        and start is not None
        and end is not None
        and start >= boundary
        and end > boundary
    )
