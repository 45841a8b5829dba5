"""Polling policy and backoff: pure maths with an injected clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FakeClock
from redis_enterprise_export.polling import (
    GRACE_SECONDS,
    Deadline,
    PollPolicy,
    Sample,
    backoff,
    estimate_remaining,
)


def test_without_progress_the_delay_grows_from_initial_to_the_ceiling() -> None:
    """With no progress the delay starts at initial, multiplies each read, and stops at the ceiling."""
    policy = PollPolicy(initial_seconds=0.5, multiplier=2, ceiling_seconds=10)
    samples: list[Sample] = []
    delays = []
    for i in range(8):
        delays.append(policy.next_delay(samples))
        samples.append(Sample(float(i), 0.0, exporting=i % 2 == 0))
    assert delays == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_remaining_time_comes_from_the_progress_rate() -> None:
    """Remaining time is the percent left divided by the observed progress rate."""
    samples = [Sample(10.0, 10.0), Sample(20.0, 30.0)]  # 2 %/s, 70 % left
    assert estimate_remaining(samples) == pytest.approx(35.0)


def test_the_rate_follows_the_recent_window_not_a_slow_start() -> None:
    """Stuck at 0 % for 30 s, then 10 %/s: the estimate uses the recent reads."""
    samples = [Sample(0, 0), Sample(30, 0), Sample(31, 10), Sample(32, 20), Sample(33, 30)]
    assert estimate_remaining(samples, window=3) == pytest.approx(7.0)


def test_reads_before_the_export_started_do_not_count_towards_the_rate() -> None:
    """Reads taken before the export started are left out of the rate."""
    samples = [Sample(0, 80.0, exporting=False), Sample(1, 0), Sample(2, 10)]
    assert estimate_remaining(samples) == pytest.approx(9.0)


def test_no_estimate_from_flat_or_single_progress() -> None:
    """One read, or progress that does not rise within the window, gives no estimate."""
    assert estimate_remaining([Sample(1.0, 5.0)]) is None
    assert estimate_remaining([Sample(1.0, 5.0), Sample(2.0, 5.0)]) is None
    assert estimate_remaining([Sample(1.0, 0.0), Sample(2.0, 0.0)]) is None
    assert estimate_remaining([Sample(1, 50), Sample(2, 100), Sample(3, 100)], window=2) is None


def test_a_finish_within_the_ceiling_is_polled_just_after_it() -> None:
    """A finish due within the ceiling is polled just after it, never below the floor."""
    policy = PollPolicy(floor_seconds=0.1, ceiling_seconds=10, margin_seconds=0.05)
    assert policy.next_delay([Sample(0, 10), Sample(10, 90)]) == pytest.approx(1.30)
    assert policy.next_delay([Sample(0, 1), Sample(1, 99.99)]) == 0.1


def test_a_far_finish_is_estimated_again_at_most_a_ceiling_later() -> None:
    """A finish further off than the ceiling is read again after exactly the ceiling."""
    policy = PollPolicy(ceiling_seconds=10, lead=0.9)
    assert policy.next_delay([Sample(0, 1), Sample(1, 2)]) == 10.0
    assert policy.next_delay([Sample(0, 0), Sample(10, 50)]) == 10.0


def test_a_long_stall_at_one_value_backs_off_to_the_ceiling() -> None:
    """Progress at 100 % while the file is still being copied must not poll at the floor."""
    policy = PollPolicy()
    samples = [Sample(0, 0), Sample(1, 50), Sample(2, 100)]
    delays = []
    for t in range(3, 12):
        samples.append(Sample(t, 100))
        delays.append(policy.next_delay(samples))
    assert delays[-1] == policy.ceiling_seconds
    assert sum(d == policy.floor_seconds for d in delays) <= 3


@pytest.mark.parametrize("duration", [5.0, 60.0, 600.0])
def test_steady_export_is_detected_quickly_with_few_requests(duration: float) -> None:
    """A steadily rising export is seen done within 0.3 s, with about one read per
    ceiling interval plus a few to close in (60 s: at most 15 reads)."""
    clock = FakeClock()
    policy = PollPolicy()
    samples: list[Sample] = []
    reads = 0
    while True:
        reads += 1
        progress = min(100.0 * clock.now() / duration, 100.0)
        if progress >= 100.0:
            break
        samples.append(Sample(clock.now(), progress))
        clock.sleep(policy.next_delay(samples))
    assert clock.now() - duration <= 0.3
    assert reads <= duration / policy.ceiling_seconds + 6


def test_a_steady_2_s_export_is_seen_done_within_25_ms_of_its_end() -> None:
    """The default margin: a fleet's short exports are seen done (and their slot handed
    on) at most 25 ms after they end, after one read to start the estimate."""
    clock = FakeClock()
    policy = PollPolicy()
    samples: list[Sample] = []
    while (progress := min(100.0 * clock.now() / 2.0, 100.0)) < 100.0:
        samples.append(Sample(clock.now(), progress))
        clock.sleep(policy.next_delay(samples))
    assert 0 <= clock.now() - 2.0 <= 0.025
    assert len(samples) == 2


def test_fails_when_policy_bounds_are_inverted() -> None:
    """A poll policy whose floor exceeds its initial delay is refused, naming the bound."""
    with pytest.raises(ValueError, match="floor_seconds <= initial_seconds"):
        PollPolicy(floor_seconds=5, initial_seconds=1)


def test_backoff_is_fully_jittered_and_capped() -> None:
    """Backoff doubles up to its cap and is fully jittered down to zero."""
    top = iter(backoff(base_seconds=1, cap_seconds=8, rand=lambda: 1.0))
    assert [next(top) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    bottom = iter(backoff(rand=lambda: 0.0))
    assert next(bottom) == 0.0


def test_deadline_never_sleeps_past_its_end() -> None:
    """A deadline's sleep is cut short at its end, and then it has expired."""
    clock = FakeClock()
    deadline = Deadline(clock, 5.0)
    deadline.sleep(3.0)
    deadline.sleep(3.0)
    assert clock.sleeps == [3.0, 2.0]
    assert deadline.expired()


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
        ),
        max_size=8,
    )
)
def test_the_delay_is_always_a_real_pause_whatever_the_samples(
    raw: list[tuple[float, float, bool]],
) -> None:
    """NaN or infinite progress or times never drive the delay to 0 or to NaN: it stays
    within floor and ceiling (58 reads in 2.5 s once came from a NaN progress)."""
    policy = PollPolicy()
    delay = policy.next_delay([Sample(at, progress, running) for at, progress, running in raw])
    assert math.isfinite(delay)
    assert policy.floor_seconds <= delay <= policy.ceiling_seconds


def test_a_calls_bound_is_the_time_left_plus_the_grace_and_a_pause_the_time_left() -> None:
    """Deadline.cap: the configured bound while time is ample, then the time left plus
    GRACE_SECONDS, and only that grace once it passed; Deadline.left: never below 0."""
    clock = FakeClock()
    deadline = Deadline(clock, 10.0)
    assert (deadline.cap(5.0), deadline.left(5.0)) == (5.0, 5.0)
    clock.t = 8.0
    assert (deadline.cap(5.0), deadline.left(5.0)) == (2.0 + GRACE_SECONDS, 2.0)
    clock.t = 30.0
    assert (deadline.cap(5.0), deadline.left(5.0)) == (GRACE_SECONDS, 0.0)
