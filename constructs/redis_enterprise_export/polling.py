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


# The highest power of ``multiplier`` the no-estimate backoff takes: beyond it the
# delay is at the ceiling anyway, and a long stall's thousandth read must not overflow.
MAX_EXPONENT = 64
# A step reaches at most this many times the span its rate was measured over: an error
# of a few ms in a read's time grows with how far its rate is carried, so the first rate
# (two reads 0.5 s apart) is checked 3.5 s on before a longer export's end is aimed at.
SPAN_REACH = 7.0


@dataclass(frozen=True, kw_only=True)
class PollPolicy:
    """Progress-aware polling: ask right after the predicted end.

    With no usable progress rate yet, the delay grows from ``initial_seconds``
    by ``multiplier`` (the exponent capped). Once progress rises, ``predict_end``
    says when it reaches 100 %. The time to that end plus ``margin_seconds`` is cut
    into equal steps of at most ``ceiling_seconds`` (and at most SPAN_REACH times the
    span the rate was measured over), so every step estimates again and the last read
    lands just after the end. An end predicted already past (a
    read came early, or progress rests at 100 % while the file is copied) is asked
    about again after half the time it is overdue: a read early by a little is
    followed at the floor, a long stall backs off to the ceiling. Every delay stays
    within ``floor_seconds`` and ``ceiling_seconds``.
    """

    initial_seconds: float = 0.5
    multiplier: float = 2.0
    # An early read is followed this soon: detection is within a floor of the end.
    floor_seconds: float = 0.05
    ceiling_seconds: float = 12.0
    # Each helper's detection is the next one's wait for a slot. A steady export's end
    # is predicted within a few ms, so a poll this close after it is rarely early (an
    # early one costs a floor's wait).
    margin_seconds: float = 0.02
    window: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.floor_seconds <= self.initial_seconds <= self.ceiling_seconds:
            raise ValueError(
                "poll policy: expected 0 < floor_seconds <= initial_seconds <= ceiling_seconds, "
                f"got {self.floor_seconds}, {self.initial_seconds}, {self.ceiling_seconds}"
            )
        if self.multiplier < 1 or self.window < 2 or not self.margin_seconds >= 0:
            raise ValueError(
                "poll policy: expected multiplier >= 1, window >= 2 and margin_seconds >= 0, "
                f"got {self.multiplier}, {self.window}, {self.margin_seconds}"
            )

    def next_delay(self, samples: Sequence[Sample]) -> float:
        """Seconds to wait before the next status request, given what was seen (the
        last sample is the read just made)."""
        now = samples[-1].at if samples else math.nan
        estimate = _estimate(samples, self.window) if math.isfinite(now) else None
        if estimate is None:
            exponent = min(max(len(_since_drop(samples)) - 1, 0), MAX_EXPONENT)
            delay = self.initial_seconds * self.multiplier**exponent
        elif (left := (end := estimate[0]) + self.margin_seconds - now) > 0:
            # A rate measured over a short span is estimated again before the end: an
            # error in a read's time grows with how far the rate is carried.
            step = min(self.ceiling_seconds, SPAN_REACH * estimate[1])
            delay = left / math.ceil(left / step)
        else:
            delay = (now - end) / 2
        if not math.isfinite(delay):  # a NaN would pass min/max and poll without pause
            delay = self.ceiling_seconds
        return min(max(delay, self.floor_seconds), self.ceiling_seconds)


def _usable(sample: Sample) -> bool:
    return (
        sample.exporting
        and math.isfinite(sample.at)
        and math.isfinite(sample.progress)
        and 0.0 <= sample.progress <= 100.0
    )


def _since_drop(samples: Sequence[Sample]) -> Sequence[Sample]:
    """The samples from the latest usable one whose progress went below the one before
    (progress going backwards begins the estimate, and the backoff, again)."""
    top = -1.0
    start = 0
    for i, sample in enumerate(samples):
        if not _usable(sample):
            continue
        if sample.progress < top:
            start = i
        top = sample.progress
    return samples[start:]


def predict_end(samples: Sequence[Sample], window: int = 4) -> float | None:
    """When progress reaches 100 %, on the samples' clock, from the rate over the last
    ``window`` progress values; None while that rate is unknown or flat.

    Each value is timed from its first read, not each read: a value read again (progress
    rounded to 0.1 % repeats one) is where the export was then, not where it is now, so
    it neither flattens the rate nor moves the end later. Only running reads with a
    progress from 0 to 100 count; progress going backwards starts the estimate again
    from there. A recent window follows a rate that changes (a slow start, a fast middle).
    """
    estimate = _estimate(samples, window)
    return None if estimate is None else estimate[0]


def _estimate(samples: Sequence[Sample], window: int) -> tuple[float, float] | None:
    """``predict_end``'s end, and the seconds its rate was measured over."""
    points: list[Sample] = []
    for sample in _since_drop(samples):
        if _usable(sample) and (not points or sample.progress > points[-1].progress):
            points.append(sample)
    points = points[-window:]
    if len(points) < 2:
        return None
    first, last = points[0], points[-1]
    span = last.at - first.at
    if not span > 0:
        return None
    rate = (last.progress - first.progress) / span
    if not math.isfinite(rate) or rate <= 0:
        return None
    end = last.at + (100.0 - last.progress) / rate
    return (end, span) if math.isfinite(end) and math.isfinite(span) else None


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
