"""How often to ask whether the export is done, and how long to back off on 409.

Polling is separate from transport retries (those live in ``client``): this
module decides when to ask next; the client decides what to do when one request
fails. Time comes from an injected ``Clock`` so tests run instantly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


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
    """One observation of ``export_progress`` (percent) at monotonic time ``at``."""

    at: float
    progress: float


@dataclass(frozen=True, kw_only=True)
class PollPolicy:
    """Progress-aware polling: ask again near the estimated finish.

    With no usable progress rate yet, the delay grows from ``initial_seconds``
    by ``multiplier``. Once progress rises, the finish is estimated from its rate
    and the next poll lands at ``lead`` of the remaining time, so the last polls
    close in on the finish instead of overshooting it. Every delay stays within
    ``floor_seconds`` and ``ceiling_seconds``.
    """

    initial_seconds: float = 0.5
    multiplier: float = 2.0
    floor_seconds: float = 0.2
    ceiling_seconds: float = 10.0
    lead: float = 0.9

    def __post_init__(self) -> None:
        if not 0 < self.floor_seconds <= self.initial_seconds <= self.ceiling_seconds:
            raise ValueError(
                "poll policy: expected 0 < floor_seconds <= initial_seconds <= ceiling_seconds, "
                f"got {self.floor_seconds}, {self.initial_seconds}, {self.ceiling_seconds}"
            )
        if self.multiplier < 1 or not 0 < self.lead <= 1:
            raise ValueError(
                f"poll policy: expected multiplier >= 1 and 0 < lead <= 1, "
                f"got {self.multiplier}, {self.lead}"
            )

    def next_delay(self, samples: Sequence[Sample]) -> float:
        """Seconds to wait before the next status request, given what was seen."""
        remaining = estimate_remaining(samples)
        if remaining is None:
            delay = self.initial_seconds * self.multiplier ** max(len(samples) - 1, 0)
        else:
            delay = remaining * self.lead
        return min(max(delay, self.floor_seconds), self.ceiling_seconds)


def estimate_remaining(samples: Sequence[Sample]) -> float | None:
    """Seconds until 100 %, from the progress rate over the samples, or None if unknown."""
    rising = [s for s in samples if s.progress > 0]
    if len(rising) < 2:
        return None
    first, last = rising[0], rising[-1]
    if last.progress <= first.progress or last.at <= first.at:
        return None
    rate = (last.progress - first.progress) / (last.at - first.at)
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


@dataclass
class Deadline:
    """A point in monotonic time after which the export gives up."""

    clock: Clock
    seconds: float
    start: float = -1.0

    def __post_init__(self) -> None:
        if self.start < 0:
            self.start = self.clock.now()

    def remaining(self) -> float:
        return self.start + self.seconds - self.clock.now()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, but never past the deadline."""
        self.clock.sleep(max(0.0, min(seconds, self.remaining())))
