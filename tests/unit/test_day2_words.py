"""How the day-2 commands word a duration: never a limit shown as nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from redis_enterprise_export.commands.common import duration, freshness, hours

UNITS = {"s": 1, "min": 60, "h": 3600}


@given(seconds=st.floats(min_value=1, max_value=10 * 365 * 86400))
def test_a_duration_is_shown_close_to_its_value_and_never_as_zero(seconds: float) -> None:
    """Any duration of a second or more reads as a number and a unit within 5 % (or half a
    unit) of itself: 10 s is never "0 min"."""
    match = re.fullmatch(r"([\d.]+) (s|min|h)", hours(seconds))
    assert match, hours(seconds)
    shown = float(match[1]) * UNITS[match[2]]
    assert shown > 0
    assert abs(shown - seconds) <= max(0.05 * seconds, UNITS[match[2]] / 2)


def test_a_max_age_in_seconds_is_shown_in_seconds() -> None:
    """``--max-age 10s`` on a 30-minute-old export says "(limit 10 s)", not "(limit 0 min)"."""
    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    when = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    problem = freshness(when, now, duration("10s"), newest="newest good export", none="none",
                        field="last_export_time")  # fmt: skip
    assert problem == "newest good export is 30 min old (limit 10 s)"
