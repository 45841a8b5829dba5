"""An export's retention policy: how many of its own files to keep, or for how long;
pure data, validated (``run.retention`` applies it).

Without a policy nothing is ever deleted. With one, only files this project recorded
as the export's own are ever candidates, and never the newest proven one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.values import DURATION_EXPECTED, parse_duration

RETENTION_KEYS = ("keep_last", "keep_within")
# A bound that no schedule needs more of, and keeps a manifest small.
MAX_KEEP_LAST = 100_000
# Ten years: a longer keep_within is a typo for "never delete", which is no table.
MAX_KEEP_WITHIN_SECONDS = 10 * 366 * 86400
# The location types the runner can list and delete from (see ``run.listing``).
PRUNABLE_TYPES = ("mount_point", "s3")

_KEEP_LAST_EXPECTED = f"a whole number of the export's proven files to keep, 1 to {MAX_KEEP_LAST}"
_KEEP_WITHIN_EXPECTED = (
    f"how long to keep the export's proven files: {DURATION_EXPECTED}, more than 0 and at "
    "most 10 years (in Python, also a number of seconds)"
)


@dataclass(frozen=True, kw_only=True)
class Retention:
    """Which of an export's own files to keep; the rest may go once a newer run is proven.

    Args:
        keep_last: keep the newest N proven files (runs), N >= 1.
        keep_within: keep the proven files of runs younger than this, in seconds, or as
            text in ``--max-age``'s units (``"14d"``, ``"36h"``).

    At least one is required. With both, a file is kept if either keeps it. The newest
    proven file is always kept.
    """

    keep_last: int | None = None
    keep_within: float | None = None

    def __post_init__(self) -> None:
        n = self.keep_last
        if n is not None and (
            isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_KEEP_LAST
        ):
            raise ConfigError("retention.keep_last", _shown(n), _KEEP_LAST_EXPECTED)
        within: Any = self.keep_within
        seconds = parse_duration(within) if isinstance(within, str) else within
        if within is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 < seconds <= MAX_KEEP_WITHIN_SECONDS  # NaN fails this too
        ):
            raise ConfigError("retention.keep_within", _shown(within), _KEEP_WITHIN_EXPECTED)
        object.__setattr__(self, "keep_within", seconds)
        if self.keep_last is None and self.keep_within is None:
            raise ConfigError.missing(
                "retention.keep_last",
                'keep_last = N, keep_within = "14d", or both (without a [retention] table '
                "nothing is deleted)",
            )

    def to_dict(self) -> dict[str, Any]:
        return {"keep_last": self.keep_last, "keep_within": self.keep_within}

    def describe(self) -> str:
        """The policy in words: "keep the last 7", "keep 14 d", or both."""
        parts = []
        if self.keep_last is not None:
            parts.append(f"the last {self.keep_last}")
        if self.keep_within is not None:
            parts.append(f"those within {_days(self.keep_within)}")
        return "keep " + " and ".join(parts)


def retention_from_table(data: object) -> Retention | None:
    """An exports file's ``[retention]`` table: there ``keep_within`` is text with a unit,
    as a bare number could mean days as well as seconds (and seconds would prune nearly
    everything)."""
    if isinstance(data, Mapping) and not isinstance(data.get("keep_within", ""), str):
        raise ConfigError(
            "retention.keep_within",
            _shown(data["keep_within"]),
            f'text: {DURATION_EXPECTED}, quoted (keep_within = "14d")',
        )
    return retention_from_dict(data)


def retention_from_dict(data: object) -> Retention | None:
    """A ``[retention]`` table (or the spec's dict) as a Retention; None stays None."""
    if data is None or isinstance(data, Retention):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(
            "retention", _shown(data), 'a table: { keep_last = N, keep_within = "14d" }'
        )
    for key in data:
        if key not in RETENTION_KEYS:
            error = ConfigError.unknown_key(str(key)[:64], RETENTION_KEYS)
            raise error.within("", "retention")
    return Retention(**{str(k): v for k, v in data.items()})


def _shown(value: object) -> object:
    """``value`` as a message may show it: long text clipped."""
    if isinstance(value, str) and len(value) > 64:
        return value[:64] + "…"
    return value


def _days(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
