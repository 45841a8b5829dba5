"""One export, start to finish: settle the database, POST, follow it to the end.

The guarantee: a run reports only its own export's outcome. RS keeps
``export_status`` at ``succeeded`` or ``failed`` from the previous export until
someone resets it, and right after a POST it may still show that value or
``""``. So the job first waits out any export already running, resets a
finished status and sees it cleared, and only then POSTs: from there on, the
first ``succeeded`` or ``failed`` it reads is its own export's.

Only ``succeeded`` and ``failed`` are final. Any other value (``""``, ``idle``,
a phase RS does not document) means "not finished yet", and is followed until
the deadline. ``export_progress`` only paces the polling.

Two exports of one database must not interleave, or one run could follow the
other's export. The database's lock, held around the whole job, keeps them
apart: on one machine (``slots.database_lock``) and, with coordination =
"postgres", across runners sharing that PostgreSQL. Beyond those, the job
watches for documented signs that the database is no longer running its
export: a status cleared under it, progress going backwards, ``exporting``
after a final status. Then it stops with ``OutcomeUnknownError`` rather than
guess. RS documents no link between an export and the bdb's ``action_uid``:
where one shows, its change during the export is one more such sign, but
nothing depends on it (see ``OwnExport``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from .client import ExportState
from .errors import (
    ClusterBusyError,
    ExportFailedError,
    ExportTimeoutError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)
from .models import ExportSpec
from .polling import Clock, Deadline, PollPolicy, Sample, backoff, ride_out

FINISHED = frozenset({"succeeded", "failed"})
CLEARED = frozenset({"", "idle"})
# The reset of a finished status is asked this many times at most: a status that
# survives them all is not going to clear, and waiting out the deadline helps no one.
MAX_RESETS = 10
# How long a status RS does not document is waited out before it is reset.
UNKNOWN_GRACE_SECONDS = 30.0
# A POST answered 5xx (or not at all) this many times in a row, no export seen
# after each: the cluster is not going to take it, and the run says so.
MAX_LOST_POSTS = 3
# After a POST whose answer was lost, how long to look for the export before
# concluding the cluster never got it.
LOST_POST_GRACE_SECONDS = 15.0


def no_gate(_uid: int, _deadline: Deadline) -> AbstractContextManager[object]:
    return nullcontext()


def always(_uid: int, _deadline: Deadline) -> None:
    return None


class ExportApi(Protocol):
    """The calls the job makes; ``client.RsClient`` is the real one."""

    def export_state(self, uid: int) -> ExportState: ...

    def find_database(self, name: str) -> int: ...

    def start_export(self, uid: int, body: dict[str, Any]) -> str | None: ...

    def reset_export_status(self, uid: int) -> None: ...


@dataclass
class OwnExport:
    """What a run has seen of its own export since its POST."""

    # From the POST's answer (RS documents none), else the bdb's at the first running read.
    action_uid: str = ""
    running: bool = False  # seen exporting since the POST
    progress: float = 0.0  # the highest export_progress seen
    finished_seen: bool = False  # a final status seen while looking for a lost POST
    maybe_posted: bool = False  # a POST's answer was lost: it may have started

    def lost_track(self, state: ExportState) -> str:
        """Why ``state`` cannot be this run's export, or "" if it can."""
        status = state.export_status
        progress = state.export_progress
        if status == "exporting":
            if self.finished_seen:
                return "the database was exporting again after a final status"
            if self.action_uid and state.action_uid not in ("", self.action_uid):
                # Extra evidence, never the only one: it can only add a doubt. The
                # running action changed under an export that never stopped showing.
                return (
                    f"the running action is {state.action_uid!r}, not this run's "
                    f"{self.action_uid!r}"
                )
            if self.running and progress is not None and progress < self.progress:
                return f"export_progress went back from {self.progress:g}% to {progress:g}%"
            self.running = True
            self.action_uid = self.action_uid or state.action_uid
            self.progress = max(self.progress, progress or 0.0)
            return ""
        if status in CLEARED and self.running:
            return "export_status was cleared while it ran (another client reset it)"
        return ""


@dataclass
class ExportJob:
    """Runs one export of ``spec`` through ``client``; progress goes to ``report``."""

    spec: ExportSpec
    client: ExportApi
    environ: Mapping[str, str]
    clock: Clock
    report: Callable[[str], None]
    policy: PollPolicy = field(default_factory=PollPolicy)
    retry_delays: Callable[[], Iterator[float]] = backoff
    # Held from before the first request to the end: the database's lock.
    gate: Callable[[int, Deadline], AbstractContextManager[object]] = no_gate
    # Held from the POST to the end: one of the cluster's export slots. Taken only
    # once the database is settled, so the slot goes from one export's end
    # straight to the next one's POST.
    slot: Callable[[int, Deadline], AbstractContextManager[object]] = no_gate
    # Waited for right before every POST, the first and each after a 409: the
    # cluster's own count of running exports, when that is the coordination.
    admit: Callable[[int, Deadline], None] = always
    # What the job knows so far; the CLI reads these to write the result.
    uid: int | None = None
    state: ExportState | None = None
    conflicts: int = 0
    status_reads: int = 0
    # When each phase began, on ``clock``: started, slot, accepted, finished.
    marks: dict[str, float] = field(default_factory=dict)
    # What this run knows of its own export, to tell it from another client's.
    ours: OwnExport = field(default_factory=OwnExport)
    posting: bool = False  # a POST is in flight

    @property
    def posted(self) -> bool:
        """Whether this run's export may have started: it was accepted, its POST's
        answer was lost, or a POST is in flight (an interrupt now says so)."""
        return "accepted" in self.marks or self.ours.maybe_posted or self.posting

    def run(self) -> ExportState:
        """Export and return the final state; raises if it fails or runs out of time."""
        deadline = Deadline(self.clock, self.spec.timeout_seconds)
        self.marks["started"] = deadline.start
        # Resolve secrets before touching the cluster, so a missing one costs nothing.
        body = self.spec.request_body(self.environ)
        uid = self.uid = self._resolve(deadline)
        with self.gate(uid, deadline):
            self._settle(uid, deadline)
            with self.slot(uid, deadline):
                self.marks["slot"] = self.clock.now()
                self._start(uid, body, deadline)
                # Set at the 2xx; here when the export was found after a lost answer.
                self.marks.setdefault("accepted", self.clock.now())
                state = self._follow(uid, deadline)
                self.marks["finished"] = self.clock.now()
                return state

    def _resolve(self, deadline: Deadline) -> int:
        db = self.spec.database
        if isinstance(db, int):
            return db
        # Rides out trouble as a status read does: a name is no reason to fail sooner.
        uid = ride_out(
            lambda: self.client.find_database(db), deadline, self.retry_delays(), self.report
        )
        self.report(f"database {db!r} is uid {uid}")
        return uid

    def _read(self, uid: int, deadline: Deadline) -> ExportState:
        """Read the export fields, riding out connection trouble until the deadline."""

        def read() -> ExportState:
            self.status_reads += 1
            return self.client.export_state(uid)

        self.state = ride_out(read, deadline, self.retry_delays(), self.report)
        return self.state

    def _check(self, uid: int, deadline: Deadline) -> None:
        if deadline.expired():
            status = self.state.export_status if self.state else "not read"
            raise ExportTimeoutError(uid, self.spec.timeout_seconds, status, posted=self.posted)

    def _settle(self, uid: int, deadline: Deadline) -> None:
        """Wait for a running export to end and clear a finished one's status.

        A status RS does not document is waited out like ``exporting`` at first;
        one that stays longer than UNKNOWN_GRACE_SECONDS is reset like a final one
        (RS resets only when no export runs, so a real one is not disturbed).
        """
        samples: list[Sample] = []
        delays = self.retry_delays()
        resets = 0  # resets the cluster accepted
        busy = False
        unknown_since: float | None = None
        while True:
            self._check(uid, deadline)
            state = self._read(uid, deadline)
            status = state.export_status
            if status in CLEARED:
                return
            if status not in FINISHED:
                now = self.clock.now()
                unknown_since = None if status == "exporting" else (unknown_since or now)
                if unknown_since is None or now - unknown_since < UNKNOWN_GRACE_SECONDS:
                    if not samples:
                        what = "already exporting" if status == "exporting" else f"at {status!r}"
                        self.report(
                            f"database {uid} is {what} (not this run's export); waiting for "
                            "it to finish"
                        )
                    samples.append(_sample(now, state, status == "exporting"))
                    deadline.sleep(self.policy.next_delay(samples))
                    continue
            if resets == MAX_RESETS:
                raise ProtocolError(
                    f"the export status of database {uid} is still {status!r} after "
                    f"{MAX_RESETS} accepted resets, so a new export's outcome could not be told "
                    "from the old one's; no export was started. Check the database in the "
                    "cluster's admin console"
                )
            try:
                self.client.reset_export_status(uid)
            except ClusterBusyError:
                # Busy is temporary (RS): waited out until the deadline, not counted.
                self.conflicts += 1
                if not busy:
                    busy = True
                    self.report(f"database {uid} is busy (409) to the status reset; retrying")
                deadline.sleep(next(delays))
                continue
            except TransportError as exc:
                self.report(f"{exc}; trying the reset again")
                deadline.sleep(next(delays))
                continue
            resets += 1
            # RS may serve the old status for a moment after the reset; a status
            # that outlives many resets must not be asked about ever faster.
            if resets == 3:
                self.report(f"the export status of database {uid} survives its reset")
            deadline.sleep(min(self.policy.floor_seconds * 2 ** (resets - 1), 5.0))

    def _start(self, uid: int, body: dict[str, Any], deadline: Deadline) -> None:
        """POST the export, backing off on 409, without ever starting two."""
        delays = self.retry_delays()
        lost = 0  # POSTs in a row whose answer was lost, and no export seen after
        while True:
            self._check(uid, deadline)
            self.admit(uid, deadline)
            try:
                self.ours.action_uid = self._post(uid, body)
            except ClusterBusyError:
                self.conflicts += 1
                if self.ours.maybe_posted:
                    # The database was idle right before the lost POST; busy now
                    # means that POST did land. Posting on would start a second export.
                    self.report(f"database {uid} is busy (409): following the export started")
                    return
                delay = next(delays)
                self.report(f"database {uid} is busy (409); retrying in {delay:.1f} s")
                deadline.sleep(delay)
                # The status was settled before the slot was taken; a 409 may be
                # another client's export of this database, whose final status must
                # be waited out and cleared again before this run posts.
                self._settle(uid, deadline)
            except TransportError as exc:
                if not exc.maybe_sent:
                    delay = next(delays)
                    self.report(f"{exc}; retrying in {delay:.1f} s")
                    deadline.sleep(delay)
                    continue
                # The cluster may have accepted the POST: look before posting again.
                self.ours.maybe_posted = True
                self.report(f"{exc}; checking whether the export started")
                if self._has_started(uid, deadline):
                    return
                lost += 1
                if lost == MAX_LOST_POSTS:
                    raise type(exc)(
                        f"{exc}; the same after {lost} POSTs, and no export was seen running "
                        "after any of them: check the cluster (its event log)",
                        maybe_sent=True,
                    ) from None
            else:
                self.report(f"export of database {uid} to {self.spec.location.describe()} accepted")
                return

    def _post(self, uid: int, body: dict[str, Any]) -> str:
        """One POST; ``posting`` is true while it is in flight, and ``accepted`` is
        marked before it ends, so an interrupt at any moment knows what may run."""
        self.posting = True
        try:
            action = self.client.start_export(uid, body) or ""
            self.marks["accepted"] = self.clock.now()
            return action
        finally:
            self.posting = False

    def _has_started(self, uid: int, deadline: Deadline) -> bool:
        """Whether the status leaves the cleared state within the grace period."""
        until = self.clock.now() + LOST_POST_GRACE_SECONDS
        while True:
            status = self._read(uid, deadline).export_status
            # The database was settled (cleared) before the POST: anything else is its mark.
            if status not in CLEARED:
                self.ours.finished_seen = status in FINISHED
                self.report(f"export of database {uid} is running")
                return True
            if self.clock.now() >= until or deadline.expired():
                return False
            deadline.sleep(self.policy.initial_seconds)

    def _follow(self, uid: int, deadline: Deadline) -> ExportState:
        samples: list[Sample] = []
        shown: float | None = -1.0
        unknown: set[str] = set()
        while True:
            state = self._read(uid, deadline)
            lost = self.ours.lost_track(state)
            if lost:
                raise OutcomeUnknownError(
                    f"lost track of this run's export of database {uid}: {lost}. Another "
                    "client exported the same database meanwhile, so the outcome of this "
                    "run's export is unknown; check the cluster's event log, and let one "
                    "pipeline export each database"
                )
            if state.export_status == "succeeded":
                self.report(f"export of database {uid} succeeded")
                return state
            if state.export_status == "failed":
                raise ExportFailedError(uid, state.export_failure_reason)
            exporting = state.export_status == "exporting"
            if state.export_status not in CLEARED | {"exporting"} | unknown:
                unknown.add(state.export_status)
                self.report(
                    f"database {uid} shows export_status {state.export_status!r}, which RS "
                    "does not document; read as not finished yet"
                )
            # A not-yet-started read counts too, so the delay grows while the
            # cluster queues the export; its (stale) progress is not used.
            samples.append(_sample(self.clock.now(), state, exporting))
            if exporting and state.export_progress != shown:
                shown = state.export_progress
                percent = "progress not shown" if shown is None else f"{shown:.0f}%"
                self.report(f"exporting database {uid}: {percent}")
            self._check(uid, deadline)
            deadline.sleep(self.policy.next_delay(samples))


def _sample(at: float, state: ExportState, exporting: bool) -> Sample:
    # A progress the cluster did not give as a number is no rate: NaN, which the
    # estimate skips, so the delay backs off instead of polling at the floor.
    progress = math.nan if state.export_progress is None else state.export_progress
    return Sample(at, progress, exporting)
