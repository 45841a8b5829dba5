"""Polling policy and backoff: pure maths with an injected clock."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

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
    predict_end,
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


def test_the_end_comes_from_the_progress_rate() -> None:
    """The end is the latest read plus the percent left over the observed rate."""
    samples = [Sample(10.0, 10.0), Sample(20.0, 30.0)]  # 2 %/s, 70 % left
    assert predict_end(samples) == pytest.approx(55.0)


def test_a_value_read_again_is_timed_from_its_first_read() -> None:
    """50 % read at 10 s and again at 15 s was reached by 10 s: the end is 20 s, not the
    30 s a rate up to the second read gives (progress rounded to 0.1 % repeats values)."""
    assert predict_end([Sample(0, 0), Sample(10, 50), Sample(15, 50)]) == pytest.approx(20.0)


def test_the_rate_follows_the_recent_window_not_a_slow_start() -> None:
    """Stuck at 0 % for 30 s, then 10 %/s: the estimate uses the recent reads."""
    samples = [Sample(0, 0), Sample(30, 0), Sample(31, 10), Sample(32, 20), Sample(33, 30)]
    assert predict_end(samples, window=3) == pytest.approx(40.0)


def test_reads_before_the_export_started_do_not_count_towards_the_rate() -> None:
    """Reads taken before the export started are left out of the rate."""
    samples = [Sample(0, 80.0, exporting=False), Sample(1, 0), Sample(2, 10)]
    assert predict_end(samples) == pytest.approx(11.0)


def test_no_end_from_flat_or_single_progress() -> None:
    """One read, or progress that does not rise, gives no end."""
    assert predict_end([Sample(1.0, 5.0)]) is None
    assert predict_end([Sample(1.0, 5.0), Sample(2.0, 5.0)]) is None
    assert predict_end([Sample(1.0, 0.0), Sample(2.0, 0.0)]) is None


def test_odd_progress_values_are_left_out_and_going_backwards_starts_again() -> None:
    """NaN, negative and above-100 values are no rate; a value below the one before
    starts the estimate again from it."""
    odd = [Sample(0, 0), Sample(1, math.nan), Sample(2, -5), Sample(3, 150), Sample(4, 40)]
    assert predict_end(odd) == pytest.approx(10.0)
    assert predict_end([Sample(0, 0), Sample(1, 90), Sample(2, 10)]) is None
    assert predict_end([Sample(0, 0), Sample(1, 90), Sample(2, 10), Sample(3, 20)]) == 11.0


def test_a_finish_within_the_ceiling_is_polled_just_after_it() -> None:
    """A finish due within the ceiling is polled just after it, never below the floor."""
    policy = PollPolicy(floor_seconds=0.1, ceiling_seconds=10, margin_seconds=0.05)
    assert policy.next_delay([Sample(0, 10), Sample(10, 90)]) == pytest.approx(1.30)
    assert policy.next_delay([Sample(0, 1), Sample(1, 99.99)]) == 0.1


def test_a_far_finish_is_reached_in_equal_steps_of_at_most_the_ceiling() -> None:
    """A finish 90 s away is read again after a tenth of the way (9.002 s, each step
    estimating again), so the last step lands just after it, not 10 s steps and a stub."""
    policy = PollPolicy(ceiling_seconds=10)
    samples = [Sample(0, 0), Sample(10, 10)]
    assert policy.next_delay(samples) == pytest.approx((90 + policy.margin_seconds) / 10)


def test_a_rate_measured_over_half_a_second_is_checked_before_the_end_is_aimed_at() -> None:
    """Two reads 0.5 s apart predict a 9.5 s wait: the next read comes after at most 7
    times that span, as an error in one read's time would grow 19 times over 9.5 s."""
    assert PollPolicy().next_delay([Sample(0, 0), Sample(0.5, 5)]) <= 3.5


def test_a_long_stall_at_one_value_backs_off_to_the_ceiling() -> None:
    """Progress at 100 % while the file is still being copied (for 120 s) must not poll
    at the floor: the reads back off to the ceiling, a few at the floor at first."""
    latency, reads, delays = follow(120.0, progress=lambda t: min(100.0 * t / 2.0, 100.0))
    assert latency <= 0.1 * 120
    assert delays[-1] == PollPolicy().ceiling_seconds
    assert sum(d == PollPolicy().floor_seconds for d in delays) <= 3
    assert reads <= 120 / 10 + 20


def test_no_progress_for_thousands_of_reads_never_overflows_the_backoff() -> None:
    """The backoff's exponent is capped: the 5000th read without a rate waits the
    ceiling (2.0 ** 4999 raised OverflowError)."""
    policy = PollPolicy()
    samples = [Sample(float(i), 0.0) for i in range(5000)]
    assert policy.next_delay(samples) == policy.ceiling_seconds


def follow(
    duration: float,
    *,
    progress: Callable[[float], float] | None = None,
    answer_seconds: Callable[[], float] = lambda: 0.0,
    policy: PollPolicy | None = None,
) -> tuple[float, int, list[float]]:
    """Polls a simulated export on the fake clock as ActionJob._follow does: each read
    shows ``progress`` at the moment the cluster answers, reaches the runner
    ``answer_seconds`` later, and is done from ``duration`` on. Returns the detection's
    latency (the clock when the runner first sees it done, past ``duration``), the
    status reads, and the delays."""
    policy = policy or PollPolicy()
    shown = progress or (lambda t: 100.0 * t / duration)
    clock = FakeClock()
    samples: list[Sample] = []
    delays: list[float] = []
    reads = 0
    while True:
        reads += 1
        moment = clock.now()
        clock.sleep(answer_seconds())
        if moment >= duration:
            return clock.now() - duration, reads, delays
        samples.append(Sample(clock.now(), shown(moment)))
        delays.append(policy.next_delay(samples))
        clock.sleep(delays[-1])


@pytest.mark.parametrize("duration", [3.0, 60.0, 600.0])
def test_a_steady_export_is_seen_done_within_a_tenth_of_a_second_with_few_reads(
    duration: float,
) -> None:
    """Linear progress: seen done within 0.1 s of its end (clock time), with a read per
    ceiling interval and a few to close in; a 60 s export in at most 8 status reads
    (9 with the settling read before the POST)."""
    latency, reads, _ = follow(duration)
    assert 0 <= latency <= 0.1
    assert reads <= math.ceil(duration / PollPolicy().ceiling_seconds) + 4
    if duration == 60.0:
        assert reads <= 8


def test_a_60_s_export_whose_progress_is_rounded_to_a_tenth_is_seen_done_within_0_1_s() -> None:
    """Progress rounded to 0.1 %, as the simulator shows it (a value repeats, and shows
    100.0 while still exporting), for exports of 59 s to 64 s: each seen done within
    0.1 s of its end; those of 59 s to 61 s in at most 9 status reads, so 10 with the
    read that settles the database before the POST, the others in at most 10 (an early
    read at the end, or an estimate moving a step's worth, costs one; with reads at most
    10 s apart, 60 s took up to 10 and others 11, one more each with the settling read)."""

    def rounded(duration: float) -> Callable[[float], float]:
        return lambda t: round(100 * t / duration, 1)

    for i in range(0, 501):
        duration = 59.0 + i / 100
        latency, reads, _ = follow(duration, progress=rounded(duration))
        assert 0 <= latency <= 0.1, duration
        assert reads <= (9 if duration <= 61 else 10), duration


def test_a_steady_2_s_export_is_seen_done_within_25_ms_of_its_end() -> None:
    """The default margin: a fleet's short exports are seen done (and their slot handed
    on) at most 25 ms after they end."""
    latency, reads, _ = follow(2.0)
    assert 0 <= latency <= 0.025
    assert reads <= 4


@settings(max_examples=300, deadline=None)
@given(
    duration=st.floats(1.0, 3600.0),
    noise=st.randoms(use_true_random=False),
    rounded=st.booleans(),
)
def test_any_export_of_up_to_an_hour_is_seen_done_within_0_1_s_whatever_its_noise(
    duration: float, noise: random.Random, rounded: bool
) -> None:
    """Any duration from 1 s to an hour, any noise: each answer takes 0 to 5 ms to come
    back, each progress value is off by up to 2 ms of the export's worth (and rounded to
    0.1 % for exports up to a minute, as the simulator does): detection within 0.1 s, in
    a bounded number of reads."""
    rounded = rounded and duration <= 60

    def progress(t: float) -> float:
        value = min(max(100.0 * (t + noise.uniform(-0.002, 0.002)) / duration, 0.0), 100.0)
        return round(value, 1) if rounded else value

    latency, reads, delays = follow(
        duration, progress=progress, answer_seconds=lambda: noise.uniform(0.0, 0.005)
    )
    assert 0 <= latency <= 0.1
    assert reads <= math.ceil(duration / PollPolicy().ceiling_seconds) + 10
    assert all(PollPolicy().floor_seconds <= d <= PollPolicy().ceiling_seconds for d in delays)


@settings(max_examples=300, deadline=None)
@given(
    duration=st.floats(1.0, 3600.0),
    odd=st.lists(
        st.sampled_from([math.nan, -1.0, -math.inf, 100.5, 1e300, math.inf, "back"]),
        min_size=1,
        max_size=40,
    ),
)
def test_odd_progress_values_never_crash_and_never_stretch_a_step_past_the_ceiling(
    duration: float, odd: list[float | str]
) -> None:
    """NaN, negative, above 100 or going backwards (half the last value), read after
    read: the schedule never fails, never waits more than 10 s, and the export is still
    seen done within a ceiling of its end."""
    shown: list[float] = []

    def progress(t: float) -> float:
        value = odd[len(shown) % len(odd)]
        truth = 100.0 * t / duration
        if value == "back":
            value = shown[-1] / 2 if shown and math.isfinite(shown[-1]) else 0.0
        shown.append(truth if len(shown) % 2 else float(value))
        return shown[-1]

    latency, _, delays = follow(duration, progress=progress)
    assert all(PollPolicy().floor_seconds <= d <= PollPolicy().ceiling_seconds for d in delays)
    assert latency <= PollPolicy().ceiling_seconds


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
