"""How often to ask whether the export is done, and how long to back off on 409.

Polling is separate from transport retries (those live in ``client``): this
module decides when to ask next; the client decides what to do when one request
fails. Time comes from an injected ``Clock`` so tests run instantly.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from redis_enterprise_export.errors import ExportTimeoutError, TlsError, TransportError

T = TypeVar("T")


class Clock(Protocol):
    """Monotonic time and sleep; the real one is ``SystemClock``."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Sample:
    """One read at monotonic time ``at``: ``export_progress`` in percent, and whether
    the export was running (a not-yet-started read only counts towards backing off)."""

    at: float
    progress: float
    exporting: bool = True


@dataclass(frozen=True, kw_only=True)
class PollPolicy:
    """Progress-aware polling: ask right after the estimated finish.

    With no usable progress rate yet, the delay grows from ``initial_seconds``
    by ``multiplier``. Once progress rises, the finish is estimated from its
    rate over the last ``window`` running reads. A finish within
    ``ceiling_seconds`` gets the next poll ``margin_seconds`` after it; a
    farther one gets a poll at ``lead`` of the way, to estimate again. Every
    delay stays within ``floor_seconds`` and ``ceiling_seconds``.
    """

    initial_seconds: float = 0.5
    multiplier: float = 2.0
    floor_seconds: float = 0.1
    ceiling_seconds: float = 10.0
    lead: float = 0.9
    # Each helper's detection is the next one's wait for a slot. Two reads of a steady
    # export predict its end within a few ms, so a poll this close after it is
    # rarely early (an early one costs a floor's wait).
    margin_seconds: float = 0.02
    window: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.floor_seconds <= self.initial_seconds <= self.ceiling_seconds:
            raise ValueError(
                "poll policy: expected 0 < floor_seconds <= initial_seconds <= ceiling_seconds, "
                f"got {self.floor_seconds}, {self.initial_seconds}, {self.ceiling_seconds}"
            )
        if self.multiplier < 1 or not 0 < self.lead <= 1 or self.window < 2:
            raise ValueError(
                "poll policy: expected multiplier >= 1, 0 < lead <= 1 and window >= 2, "
                f"got {self.multiplier}, {self.lead}, {self.window}"
            )

    def next_delay(self, samples: Sequence[Sample]) -> float:
        """Seconds to wait before the next status request, given what was seen."""
        remaining = estimate_remaining(samples, self.window)
        if remaining is None:
            delay = self.initial_seconds * self.multiplier ** max(len(samples) - 1, 0)
        elif remaining <= self.ceiling_seconds:
            delay = remaining + self.margin_seconds
        else:
            delay = remaining * self.lead
        if not math.isfinite(delay):  # a NaN would pass min/max and poll without pause
            delay = self.ceiling_seconds
        return min(max(delay, self.floor_seconds), self.ceiling_seconds)


def estimate_remaining(samples: Sequence[Sample], window: int = 4) -> float | None:
    """Seconds until 100 %, from the progress rate over the last ``window`` running
    reads, or None while that rate is unknown or flat.

    A recent window follows a rate that changes (a slow start, a fast middle);
    flat progress gives None, so a long stall at one value backs off instead of
    polling at the floor.
    """
    running = [
        s for s in samples if s.exporting and math.isfinite(s.progress) and math.isfinite(s.at)
    ][-window:]
    if len(running) < 2:
        return None
    first, last = running[0], running[-1]
    if last.progress <= first.progress or last.at <= first.at:
        return None
    rate = (last.progress - first.progress) / (last.at - first.at)
    if not math.isfinite(rate) or rate <= 0:
        return None
    return max(100.0 - last.progress, 0.0) / rate


def backoff(
    *,
    base_seconds: float = 1.0,
    cap_seconds: float = 15.0,
    rand: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Exponential backoff with full jitter, for retrying a 409 from a busy database.

    Full jitter spreads helpers that Terraform started together, so a fleet does
    not hit the cluster in lockstep.
    """
    attempt = 0
    while True:
        yield rand() * min(cap_seconds, base_seconds * 2**attempt)
        attempt += 1


# How far past the deadline one bounded wait (a request, a PostgreSQL call) may end:
# one begun just before it still gets this long, and one begun after gets only this.
GRACE_SECONDS = 1.0


@dataclass
class Deadline:
    """A point in monotonic time after which the export gives up: every wait of the
    run is bounded by it (``sleep`` for pauses, ``cap`` for the bound of one call)."""

    clock: Clock
    seconds: float
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock.now()

    def remaining(self) -> float:
        return self.start + self.seconds - self.clock.now()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, but never past the deadline."""
        self.clock.sleep(self.left(seconds))

    def left(self, seconds: float) -> float:
        """``seconds``, but no more than the time left (0 once it passed): a pause's length."""
        return max(0.0, min(seconds, self.remaining()))

    def cap(self, seconds: float) -> float:
        """``seconds``, but no more than the time left plus GRACE_SECONDS: the bound of one
        call begun now, so that a run ends within its deadline plus that grace."""
        return min(seconds, max(self.remaining(), 0.0) + GRACE_SECONDS)


@dataclass
class Turn:
    """Waiting for something shared (a lock, a slot, the cluster's room): times out
    at the deadline, and says it is waiting once."""

    deadline: Deadline
    database: int
    what: str  # what is waited for, in the timeout's message
    on_wait: Callable[[], None]
    waited: bool = False

    def not_yet(self) -> None:
        """Called each time the thing is not free yet; raises once the deadline passed."""
        if self.deadline.expired():
            raise ExportTimeoutError(
                self.database, self.deadline.seconds, f"waiting for {self.what}", posted=False
            )
        if not self.waited:
            self.waited = True
            self.on_wait()


def ride_out(
    call: Callable[[], T],
    deadline: Deadline,
    delays: Iterator[float],
    report: Callable[[str], None],
) -> T:
    """``call()``, asked again through transport trouble (a reset, a 503, a timeout)
    until the deadline; a TLS failure is raised at once, as asking again cannot help.

    Each trouble is reported when it starts or changes, not on every try; the one
    still there at the deadline is raised, saying so, so the last line is not the
    same as the line before it.
    """
    said = ""
    while True:
        try:
            return call()
        except TransportError as exc:
            if isinstance(exc, TlsError):
                raise
            if deadline.expired():
                raise type(exc)(
                    f"{exc} (still so at the deadline, {deadline.seconds:g} s after the start)",
                    maybe_sent=exc.maybe_sent,
                ) from None
            if str(exc) != said:
                said = str(exc)
                report(f"{exc}; asking again until the deadline")
            deadline.sleep(next(delays))
