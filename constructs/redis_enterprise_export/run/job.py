"""One action on one database (an export, an import), start to finish: settle the
database, POST, follow the action to the end. ``export.ExportJob`` and
``restore.ImportJob`` are this one job, told apart by their ``Kind`` and their calls.

The guarantee: a run reports only its own action's outcome. RS keeps the status
(``export_status``, ``import_status``) at ``succeeded`` or ``failed`` from the
previous action until someone resets it, and right after a POST it may still
show that value or ``""``. So the job first waits out an action of its kind
already running, resets a finished status and sees it cleared, and only then
POSTs: from there on, the first ``succeeded`` or ``failed`` it reads is its own.

Only ``succeeded`` and ``failed`` are final. Any other value (``""``, ``idle``,
a phase RS does not document) means "not finished yet", and is followed until
the deadline. The progress field only paces the polling.

Two actions of one kind on one database must not interleave, or one run could
follow the other's. The export holds the database's lock around the whole job
(``gate``). Beyond that, the job watches for documented signs that the
database is no longer running its action: a status cleared under it, progress
going backwards, running again after a final status. Then it stops with
``OutcomeUnknownError`` rather than guess. RS documents no link between an
action and the bdb's ``action_uid``, and RS runs actions of its own on a database:
where one shows, its change during the action is reported once and named beside
a real sign, but never ends the run on its own (see ``OwnAction``).
A lock that may have been lost while the action ran (``lock_lost``) makes every
read after it another runner's, possibly: then the outcome is unknown too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from redis_enterprise_export.errors import (
    ApiError,
    ClusterBusyError,
    ConfigError,
    ExportFailedError,
    ExportTimeoutError,
    InterruptedExportError,
    OutcomeUnknownError,
    ProtocolError,
    TlsError,
    TransportError,
)
from redis_enterprise_export.polling import Clock, Deadline, PollPolicy, Sample, backoff, ride_out
from redis_enterprise_export.redact import clipped

FINISHED = frozenset({"succeeded", "failed"})
CLEARED = frozenset({"", "idle"})
# The reset of a finished status is asked this many times at most: a status that
# survives them all is not going to clear, and waiting out the deadline helps no one.
MAX_RESETS = 10
# The pause after the first accepted reset, doubling after each further one (to 5 s).
RESET_PAUSE_SECONDS = 0.1
# How long a status RS does not document is waited out before it is reset.
UNKNOWN_GRACE_SECONDS = 30.0
# A POST answered 5xx (or not at all) this many times in a row, no action seen
# after each: the cluster is not going to take it, and the run says so.
MAX_LOST_POSTS = 3
# After a POST whose answer was lost, how long to look for the action before
# concluding the cluster never got it.
LOST_POST_GRACE_SECONDS = 15.0


class ActionState(Protocol):
    """What the job reads of a database: its action's status, progress and reason."""

    @property
    def uid(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def phase(self) -> str: ...

    @property
    def percent(self) -> float | None: ...

    @property
    def reason(self) -> str: ...

    @property
    def action_uid(self) -> str: ...


S = TypeVar("S", bound=ActionState)


class ActionSpec(Protocol):
    """What the job needs of a spec (``ExportSpec``, ``RestoreSpec``)."""

    @property
    def database(self) -> int | str: ...

    @property
    def timeout_seconds(self) -> float: ...

    def request_body(self, environ: Mapping[str, str]) -> dict[str, Any]: ...

    def describe(self) -> str: ...


class Finder(Protocol):
    def find_database(self, name: str) -> int: ...


@dataclass(frozen=True)
class Kind:
    """The words, statuses and errors of one kind of action (export, import)."""

    noun: str  # "export": also the prefix of its bdb fields
    doing: str  # "exporting": the progress line's verb
    done: str  # "exported": what another client did meanwhile
    preposition: str  # "to": before the spec's description in the accepted line
    running: frozenset[str]  # the documented statuses of a running action
    failed: type[ExportFailedError]
    timed_out: type[ExportTimeoutError]

    @property
    def status_field(self) -> str:
        return f"{self.noun}_status"


def no_gate(_uid: int, _deadline: Deadline) -> AbstractContextManager[object]:
    return nullcontext()


def always(_uid: int, _deadline: Deadline) -> None:
    return None


def never_lost(_final: bool) -> str:
    return ""


@dataclass
class OwnAction:
    """What a run has seen of its own action since its POST."""

    kind: Kind
    # From the POST's answer (RS documents none), else the bdb's at the first running read.
    action_uid: str = ""
    running: bool = False  # seen running since the POST
    progress: float = 0.0  # the highest progress seen
    finished_seen: bool = False  # a final status seen while looking for a lost POST
    maybe_posted: bool = False  # a POST's answer was lost: it may have started

    other_uid: str = ""  # a different action_uid seen since: noted, never decisive

    def lost_track(self, state: ActionState) -> str:
        """Why ``state`` cannot be this run's action, or "" if it can."""
        why = self._sign(state)
        if why and self.other_uid:
            why += f"; and the bdb's action_uid changed, {self.action_uid!r} to {self.other_uid!r}"
        return why

    def uid_note(self, state: ActionState) -> str:
        """A line to report the first time the bdb shows an action_uid other than this
        run's, else "". RS documents ``action_uid`` only as the "currently running
        action's UID" and runs actions of its own on a database (state machines with
        their own uids), so a change is no evidence on its own (issue 15): noted once,
        and named beside a real sign if one comes."""
        shown = state.action_uid
        if not self.action_uid or shown in ("", self.action_uid) or self.other_uid:
            return ""
        self.other_uid = shown
        return (
            f"the bdb's action_uid is now {shown!r}, not {self.action_uid!r} as at this run's "
            f"{self.kind.noun}'s start; RS runs actions of its own on a database, so this alone "
            f"is no sign that the {self.kind.noun} changed hands: following it on"
        )

    def _sign(self, state: ActionState) -> str:
        status, progress, noun = state.phase, state.percent, self.kind.noun
        if status in self.kind.running:
            if self.finished_seen:
                return f"the database was {self.kind.doing} again after a final status"
            if self.running and progress is not None and progress < self.progress:
                return f"{noun}_progress went back from {self.progress:g}% to {progress:g}%"
            self.running = True
            self.action_uid = self.action_uid or state.action_uid
            self.progress = max(self.progress, progress or 0.0)
            return ""
        if status in CLEARED and self.running:
            return f"{noun}_status was cleared while it ran (another client reset it)"
        return ""


@dataclass(kw_only=True)
class ActionJob(Generic[S]):
    """Runs one action of ``kind`` on one database (``spec``) through ``client``;
    progress goes to ``report``.

    A subclass sets ``kind``, narrows ``spec`` and ``client``, and says which of the
    client's calls read, post and reset its action (``read``, ``post``, ``reset``).
    """

    kind: ClassVar[Kind]
    spec: ActionSpec
    client: Finder
    environ: Mapping[str, str]
    clock: Clock
    report: Callable[[str], None]
    policy: PollPolicy = field(default_factory=PollPolicy)
    retry_delays: Callable[[], Iterator[float]] = backoff
    # Held from before the first request to the end: the database's lock.
    gate: Callable[[int, Deadline], AbstractContextManager[object]] = no_gate
    # Held from the POST to the end: one of the cluster's action slots. Taken only
    # once the database is settled, so the slot goes from one action's end
    # straight to the next one's POST.
    slot: Callable[[int, Deadline], AbstractContextManager[object]] = no_gate
    # Waited for right before every POST, the first and each after a 409: the
    # cluster's own count of running exports, when that is the coordination.
    admit: Callable[[int, Deadline], None] = always
    # Why the database's lock may no longer hold, or "": asked with True right before
    # a final status is trusted as this run's (one round trip), with False at every
    # other read (none: only a dropped connection shows). A lock lost while the
    # action ran lets another runner reset the database and start its own.
    lock_lost: Callable[[bool], str] = never_lost
    # The run's deadline, which its earlier phases (the login gate) spent too; if
    # omitted, one of the spec's timeout_seconds from the job's start.
    deadline: Deadline | None = None
    # What the job knows so far; the CLI reads these to write the result.
    uid: int | None = None
    state: S | None = None
    conflicts: int = 0
    status_reads: int = 0
    # When each phase began, on ``clock``: started, slot, accepted, finished.
    marks: dict[str, float] = field(default_factory=dict)
    posting: bool = False  # a POST is in flight
    # The name the spec gave, once resolved to ``uid``: every read before a POST must show it.
    resolved_name: str = ""
    # What this run knows of its own action, to tell it from another client's.
    ours: OwnAction = field(init=False)

    def __post_init__(self) -> None:
        self.ours = OwnAction(self.kind)

    # What the kind's spec, client and errors say ----------------------------------

    def read(self, uid: int) -> S:
        """One read of the action's fields."""
        raise NotImplementedError

    def post(self, uid: int, body: dict[str, Any]) -> str | None:
        """POST the action; the ``action_uid`` its answer carries, if any."""
        raise NotImplementedError

    def reset(self, uid: int) -> None:
        """Clear a finished action's status."""
        raise NotImplementedError

    def check_target(self, uid: int, state: S) -> None:
        """Raise if no action may start on this database; called before any POST."""

    def _check_name(self, uid: int, state: S) -> None:
        """Refuse a database no longer named ``resolved_name``: the run waited (for the
        lock, a running action) since it looked the name up or had it confirmed, and
        the uid is another database now, whose action would pass for this one's."""
        if self.resolved_name and state.name != self.resolved_name:
            nothing = (
                "nothing was imported"
                if self.kind.noun == "import"
                else (f"no {self.kind.noun} was started")
            )
            raise ConfigError(
                "database",
                self.resolved_name,
                f"the database named so: database {uid}, which had that name when it was "
                f"looked up, is now named {clipped(state.name, 80)!r} (renamed or replaced "
                f"meanwhile); {nothing}",
            )

    def before_post(self, uid: int) -> None:
        """Called right before each POST, once the database is settled and admitted."""

    # The run --------------------------------------------------------------------

    @property
    def posted(self) -> bool:
        """Whether this run's action may have started: it was accepted, its POST's
        answer was lost, or a POST is in flight (an interrupt now says so)."""
        return "accepted" in self.marks or self.ours.maybe_posted or self.posting

    def run(self) -> S:
        """Run the action and return the final state; raises if it fails or runs out of time."""
        deadline = self.deadline or Deadline(self.clock, self.spec.timeout_seconds)
        self.marks["started"] = deadline.start
        # Resolve secrets before touching the cluster, so a missing one costs nothing.
        body = self.spec.request_body(self.environ)
        uid = self.uid = self._resolve(deadline)
        with self.gate(uid, deadline):
            self._settle(uid, deadline)
            with self.slot(uid, deadline):
                self.marks["slot"] = self.clock.now()
                self._start(uid, body, deadline)
                # Set at the 2xx; here when the action was found after a lost answer.
                self.marks.setdefault("accepted", self.clock.now())
                state = self._follow(uid, deadline)
                self.marks["finished"] = self.clock.now()
            # Its slot freed, its database's lock still held.
            self.succeeded(state)
            return state

    def succeeded(self, state: S) -> None:
        """What a kind of job does after its action succeeded, inside the database's
        lock; nothing unless a subclass says. It must not raise."""

    def _resolve(self, deadline: Deadline) -> int:
        db = self.spec.database
        if isinstance(db, int):
            return db
        # Rides out trouble as a status read does: a name is no reason to fail sooner.
        uid = ride_out(
            lambda: self.client.find_database(db), deadline, self.retry_delays(), self.report
        )
        self.report(f"database {db!r} is uid {uid}")
        self.resolved_name = db
        return uid

    def _read(self, uid: int, deadline: Deadline) -> S:
        """Read the action's fields, riding out connection trouble until the deadline."""

        def read() -> S:
            self.status_reads += 1
            return self.read(uid)

        try:
            state = self.state = ride_out(read, deadline, self.retry_delays(), self.report)
        except TransportError as exc:
            # ride_out gives up on all but TLS only at the deadline: the run is out of time
            # (its trouble was said as it began), and may have posted: a timeout.
            if isinstance(exc, TlsError) or not deadline.expired():
                raise
            raise self._timed_out(uid) from None
        return state

    def _check(self, uid: int, deadline: Deadline) -> None:
        if deadline.expired():
            raise self._timed_out(uid)

    def _timed_out(self, uid: int) -> ExportTimeoutError:
        status = self.state.phase if self.state else "not read"
        return self.kind.timed_out(uid, self.spec.timeout_seconds, status, posted=self.posted)

    def _settle(self, uid: int, deadline: Deadline) -> None:
        """Wait for a running action to end and clear a finished one's status.

        A status RS does not document is waited out like a running one at first;
        one that stays longer than UNKNOWN_GRACE_SECONDS is reset like a final one
        (RS resets only when no action runs, so a real one is not disturbed).
        """
        samples: list[Sample] = []
        delays = self.retry_delays()
        resets = 0  # resets the cluster accepted
        busy = False
        unknown_since: float | None = None
        noun = self.kind.noun
        while True:
            self._check(uid, deadline)
            state = self._read(uid, deadline)
            self.check_target(uid, state)
            self._check_name(uid, state)
            status = state.phase
            if status in CLEARED:
                return
            if status not in FINISHED:
                now = self.clock.now()
                running = status in self.kind.running
                unknown_since = None if running else (unknown_since or now)
                if unknown_since is None or now - unknown_since < UNKNOWN_GRACE_SECONDS:
                    if not samples:
                        what = f"already {self.kind.doing}" if running else f"at {status!r}"
                        self.report(
                            f"database {uid} is {what} (not this run's {noun}); waiting for "
                            "it to finish"
                        )
                    samples.append(_sample(now, state, running))
                    deadline.sleep(self.policy.next_delay(samples))
                    continue
            if resets == MAX_RESETS:
                raise ProtocolError(
                    f"the {noun} status of database {uid} is still {status!r} after "
                    f"{MAX_RESETS} accepted resets, so a new {noun}'s outcome could not be told "
                    f"from the old one's; no {noun} was started. Check the database in the "
                    "cluster's admin console"
                )
            try:
                self.reset(uid)
            except ClusterBusyError:
                # Busy is temporary (RS): waited out until the deadline, not counted.
                self.conflicts += 1
                if not busy:
                    busy = True
                    self.report(f"database {uid} is busy (409) to the status reset; retrying")
                deadline.sleep(next(delays))
                continue
            except ApiError as exc:
                # RS's reset pages list a 406 (copied from the action's own page, it seems):
                # what counts is whether the status cleared, so it is read again.
                if exc.http_status != 406 or self._read(uid, deadline).phase not in CLEARED:
                    raise
                self.report(f"the status reset answered 406, but the {noun} status cleared")
                return
            except TransportError as exc:
                self.report(f"{exc}; trying the reset again")
                deadline.sleep(next(delays))
                continue
            resets += 1
            # RS may serve the old status for a moment after the reset; a status
            # that outlives many resets must not be asked about ever faster.
            if resets == 3:
                self.report(f"the {noun} status of database {uid} survives its reset")
            deadline.sleep(min(RESET_PAUSE_SECONDS * 2 ** (resets - 1), 5.0))

    def _start(self, uid: int, body: dict[str, Any], deadline: Deadline) -> None:
        """POST the action, backing off on 409, without ever starting two."""
        delays = self.retry_delays()
        noun = self.kind.noun
        lost = 0  # POSTs in a row whose answer was lost, and no action seen after
        while True:
            self._check(uid, deadline)
            self.admit(uid, deadline)
            self.before_post(uid)
            try:
                self.ours.action_uid = self._post(uid, body)
            except ClusterBusyError:
                self.conflicts += 1
                if self.ours.maybe_posted:
                    # The database was idle right before the lost POST; busy now
                    # means that POST did land. Posting on would start a second one.
                    self.report(f"database {uid} is busy (409): following the {noun} started")
                    return
                delay = next(delays)
                self.report(f"database {uid} is busy (409); retrying in {delay:.1f} s")
                deadline.sleep(delay)
                # The status was settled before the slot was taken; a 409 may be
                # another client's action on this database, whose final status must
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
                self.report(f"{exc}; checking whether the {noun} started")
                if self._has_started(uid, deadline):
                    return
                lost += 1
                if lost == MAX_LOST_POSTS:
                    raise type(exc)(
                        f"{exc}; the same after {lost} POSTs, and no {noun} was seen running "
                        "after any of them: check the cluster (its event log)",
                        maybe_sent=True,
                    ) from None
            else:
                where = f"{self.kind.preposition} {self.spec.describe()}"
                self.report(f"{noun} of database {uid} {where} accepted")
                return

    def _post(self, uid: int, body: dict[str, Any]) -> str:
        """One POST; ``posting`` is true while it is in flight, and ``accepted`` is
        marked before it ends, so an interrupt at any moment knows what may run."""
        self.posting = True
        try:
            action = self.post(uid, body) or ""
        except InterruptedExportError:
            # Cut off mid-flight: the cluster may have taken it, so it stays posting.
            raise
        except BaseException:
            self.posting = False
            raise
        self.marks["accepted"] = self.clock.now()
        self.posting = False
        return action

    def _has_started(self, uid: int, deadline: Deadline) -> bool:
        """Whether the status leaves the cleared state within the grace period."""
        until = self.clock.now() + LOST_POST_GRACE_SECONDS
        while True:
            status = self._read(uid, deadline).phase
            # The database was settled (cleared) before the POST: anything else is its mark.
            if status not in CLEARED:
                self.ours.finished_seen = status in FINISHED
                self.report(f"{self.kind.noun} of database {uid} is running")
                return True
            if self.clock.now() >= until or deadline.expired():
                return False
            deadline.sleep(self.policy.initial_seconds)

    def _follow(self, uid: int, deadline: Deadline) -> S:
        samples: list[Sample] = []
        shown: float | None = -1.0
        unknown: set[str] = set()
        kind = self.kind
        while True:
            state = self._read(uid, deadline)
            if note := self.ours.uid_note(state):
                self.report(note)
            lost = self.ours.lost_track(state)
            if lost:
                raise OutcomeUnknownError(
                    f"lost track of this run's {kind.noun} of database {uid}: {lost}. Another "
                    f"client {kind.done} the same database meanwhile, so the outcome of this "
                    f"run's {kind.noun} is unknown; check the cluster's event log, and let one "
                    f"pipeline {kind.noun} each database"
                )
            if why := self.lock_lost(state.phase in FINISHED):
                raise OutcomeUnknownError(
                    f"{why} while this run's {kind.noun} of database {uid} ran: another "
                    f"runner may have reset the database and started its own {kind.noun} "
                    f"since, so the status read is not known to be this run's and the "
                    f"outcome of this run's {kind.noun} is unknown. Check the cluster's event "
                    f"log for the {kind.noun}s of database {uid} and the location for this "
                    "run's file; and the PostgreSQL (a restart, a failover, "
                    "idle_session_timeout, a pooler) or the network path to it"
                )
            if state.phase == "succeeded":
                self.report(f"{kind.noun} of database {uid} succeeded")
                return state
            if state.phase == "failed":
                raise self.kind.failed(uid, state.reason)
            running = state.phase in kind.running
            if state.phase not in CLEARED | kind.running | unknown:
                unknown.add(state.phase)
                self.report(
                    f"database {uid} shows {kind.status_field} {state.phase!r}, which RS "
                    "does not document; read as not finished yet"
                )
            # A not-yet-started read counts too, so the delay grows while the
            # cluster queues the action; its (stale) progress is not used.
            samples.append(_sample(self.clock.now(), state, running))
            if running and state.percent != shown:
                shown = state.percent
                percent = "progress not shown" if shown is None else f"{shown:.0f}%"
                self.report(f"{kind.doing} database {uid}: {percent}")
            self._check(uid, deadline)
            deadline.sleep(self.policy.next_delay(samples))


def _sample(at: float, state: ActionState, running: bool) -> Sample:
    # A progress the cluster did not give as a number is no rate: NaN, which the
    # estimate skips, so the delay backs off instead of polling at the floor.
    progress = math.nan if state.percent is None else state.percent
    return Sample(at, progress, running)
