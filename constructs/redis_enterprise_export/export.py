"""One export, start to finish: settle the database, POST, follow it to the end.

RS keeps ``export_status`` at ``succeeded`` or ``failed`` from the previous export
until someone resets it, and right after a POST it may still show that value or
``""``. So the job first waits out any export already running, resets a finished
status and sees it cleared, and only then POSTs: from there on, the first
``succeeded`` or ``failed`` it reads is its own export's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from .client import ExportState
from .errors import (
    ClusterBusyError,
    ExportFailedError,
    ExportTimeoutError,
    TlsError,
    TransportError,
)
from .models import ExportSpec
from .polling import Clock, Deadline, PollPolicy, Sample, backoff

FINISHED = frozenset({"succeeded", "failed"})
# After a POST whose answer was lost, how long to look for the export before
# concluding the cluster never got it.
LOST_POST_GRACE_SECONDS = 15.0


def no_gate(_uid: int, _deadline: Deadline) -> AbstractContextManager[object]:
    return nullcontext()


class ExportApi(Protocol):
    """The calls the job makes; ``client.RsClient`` is the real one."""

    def export_state(self, uid: int) -> ExportState: ...

    def find_database(self, name: str) -> int: ...

    def start_export(self, uid: int, body: dict[str, Any]) -> str | None: ...

    def reset_export_status(self, uid: int) -> None: ...


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
    # Held from before the first request to the end: the per-cluster export slot.
    gate: Callable[[int, Deadline], AbstractContextManager[object]] = no_gate
    # What the job knows so far; the CLI reads these to write the result.
    uid: int | None = None
    state: ExportState | None = None
    conflicts: int = 0
    status_reads: int = 0
    # When each phase began, on ``clock``: started, slot, accepted, finished.
    marks: dict[str, float] = field(default_factory=dict)

    def run(self) -> ExportState:
        """Export and return the final state; raises if it fails or runs out of time."""
        deadline = Deadline(self.clock, self.spec.timeout_seconds)
        self.marks["started"] = deadline.start
        # Resolve secrets before touching the cluster, so a missing one costs nothing.
        body = self.spec.request_body(self.environ)
        uid = self.uid = self._resolve()
        with self.gate(uid, deadline):
            self.marks["slot"] = self.clock.now()
            self._settle(uid, deadline)
            self._start(uid, body, deadline)
            self.marks["accepted"] = self.clock.now()
            state = self._follow(uid, deadline)
            self.marks["finished"] = self.clock.now()
            return state

    def _resolve(self) -> int:
        db = self.spec.database
        if isinstance(db, int):
            return db
        uid = self.client.find_database(db)
        self.report(f"database {db!r} is uid {uid}")
        return uid

    def _read(self, uid: int, deadline: Deadline) -> ExportState:
        """Read the export fields, riding out connection trouble until the deadline."""
        delays = self.retry_delays()
        while True:
            try:
                self.status_reads += 1
                self.state = self.client.export_state(uid)
            except TransportError as exc:
                if deadline.expired() or isinstance(exc, TlsError):
                    raise
                delay = next(delays)
                self.report(f"{exc}; asking again in {delay:.1f} s")
                deadline.sleep(delay)
            else:
                return self.state

    def _check(self, uid: int, deadline: Deadline) -> None:
        if deadline.expired():
            status = self.state.export_status if self.state else "not read"
            raise ExportTimeoutError(uid, self.spec.timeout_seconds, status)

    def _settle(self, uid: int, deadline: Deadline) -> None:
        """Wait for a running export to end and clear a finished one's status."""
        samples: list[Sample] = []
        while True:
            self._check(uid, deadline)
            state = self._read(uid, deadline)
            if state.export_status == "exporting":
                if not samples:
                    self.report(
                        f"database {uid} is already exporting (not this run's export); "
                        "waiting for it to finish"
                    )
                samples.append(Sample(self.clock.now(), state.export_progress))
                deadline.sleep(self.policy.next_delay(samples))
            elif state.export_status in FINISHED:
                try:
                    self.client.reset_export_status(uid)
                except ClusterBusyError:
                    self.conflicts += 1
                except TransportError as exc:
                    self.report(f"{exc}; trying the reset again")
                # RS may serve the old status for a moment after the reset.
                deadline.sleep(self.policy.floor_seconds)
            else:
                return

    def _start(self, uid: int, body: dict[str, Any], deadline: Deadline) -> None:
        """POST the export, backing off on 409, without ever starting two."""
        delays = self.retry_delays()
        maybe_started = False
        while True:
            self._check(uid, deadline)
            try:
                self.client.start_export(uid, body)
            except ClusterBusyError:
                self.conflicts += 1
                if maybe_started:
                    # The database was idle right before the lost POST; busy now
                    # means that POST did land. Posting on would start a second export.
                    self.report(f"database {uid} is busy (409): following the export started")
                    return
                delay = next(delays)
                self.report(f"database {uid} is busy (409); retrying in {delay:.1f} s")
                deadline.sleep(delay)
            except TransportError as exc:
                if not exc.maybe_sent:
                    delay = next(delays)
                    self.report(f"{exc}; retrying in {delay:.1f} s")
                    deadline.sleep(delay)
                    continue
                # The cluster may have accepted the POST: look before posting again.
                maybe_started = True
                self.report(f"{exc}; checking whether the export started")
                if self._has_started(uid, deadline):
                    return
            else:
                self.report(f"export of database {uid} to {self.spec.location.describe()} accepted")
                return

    def _has_started(self, uid: int, deadline: Deadline) -> bool:
        """Whether the status leaves the cleared state within the grace period."""
        until = self.clock.now() + LOST_POST_GRACE_SECONDS
        while True:
            if self._read(uid, deadline).export_status in FINISHED | {"exporting"}:
                self.report(f"export of database {uid} is running")
                return True
            if self.clock.now() >= until or deadline.expired():
                return False
            deadline.sleep(self.policy.initial_seconds)

    def _follow(self, uid: int, deadline: Deadline) -> ExportState:
        samples: list[Sample] = []
        shown = -1.0
        while True:
            state = self._read(uid, deadline)
            if state.export_status == "succeeded":
                self.report(f"export of database {uid} succeeded")
                return state
            if state.export_status == "failed":
                raise ExportFailedError(uid, state.export_failure_reason)
            exporting = state.export_status == "exporting"
            # A not-yet-started read counts too, so the delay grows while the
            # cluster queues the export; its (stale) progress is not used.
            samples.append(Sample(self.clock.now(), state.export_progress, exporting))
            if exporting and state.export_progress != shown:
                shown = state.export_progress
                self.report(f"exporting database {uid}: {shown:.0f}%")
            self._check(uid, deadline)
            deadline.sleep(self.policy.next_delay(samples))
