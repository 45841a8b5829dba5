"""``status --coverage``: which backup covers each database of a configured cluster.

A database is covered by an export in the config, by RS's own scheduled backups
(the bdb's ``backup: true``; fact sheet, Addendum), by both, or by nothing. The
report gives the age of each: the exports' newest own success, and RS's
``last_backup_time``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis_enterprise_export.commands.common import age_seconds, freshness, hours
from redis_enterprise_export.commands.inventory import ClusterView
from redis_enterprise_export.spec.config import ExportsConfig

EXPORT, RS, BOTH, NOTHING = "export", "rs_schedule", "both", "nothing"
# A restore drill's scratch database: each drill erases it, so nothing is to cover.
SCRATCH = "drill_scratch"
# Keys of a backup_location that say where without a secret (bucket_name, not the keys).
_WHERE = ("bucket_name", "container", "path")


@dataclass(frozen=True)
class Coverage:
    """One database: what covers it, how old each backup is, and ``problem`` if any."""

    cluster: str
    database: str  # its name, as the cluster reports it
    database_uid: int | None
    covered_by: str  # EXPORT, RS, BOTH, NOTHING or SCRATCH
    exports: list[str]
    export_last_success: str  # the newest of its exports' last successes
    export_age_seconds: float | None
    rs_backup: bool
    rs_backup_interval_seconds: int | None
    rs_backup_location: str  # its type and where; never a secret
    rs_backup_status: str
    rs_backup_failure_reason: str
    rs_last_backup_time: str
    rs_backup_age_seconds: float | None
    problem: str


def coverage(
    config: ExportsConfig,
    views: Mapping[str, ClusterView],
    last_success: Mapping[str, str],
    now: datetime,
    max_age: float | None,
) -> list[Coverage]:
    """Every database of every read cluster; ``last_success`` maps an export's name to
    the time of its newest good export (own records, or the cluster's field)."""
    rows = []
    for view in views.values():
        for row in view.databases.value or []:
            if isinstance(row, dict):
                names = [spec.name for spec in view.exports_of(row, config.exports)]
                drills = view.drills_into(row, config.drills, config.exports)
                rows.append(
                    _coverage(
                        view.name, row, names, last_success, now=now, max_age=max_age,
                        drills=drills,
                    )
                )  # fmt: skip
    return rows


def _coverage(
    cluster: str,
    row: dict[str, Any],
    exports: list[str],
    last_success: Mapping[str, str],
    *,
    now: datetime,
    max_age: float | None,
    drills: Sequence[str] = (),
) -> Coverage:
    times = [last_success[name] for name in exports if last_success.get(name)]
    newest = min(times, key=lambda t: _age_or_inf(t, now), default="")
    rs = row.get("backup") is True
    interval = row.get("backup_interval")
    last_backup = row.get("last_backup_time")
    last_backup = last_backup if isinstance(last_backup, str) else ""
    status = _text(row.get("backup_status"))
    reason = _text(row.get("backup_failure_reason"))
    covered_by = {(True, True): BOTH, (True, False): EXPORT, (False, True): RS}.get(
        (bool(exports), rs), NOTHING
    )
    if covered_by == NOTHING and drills:
        covered_by = SCRATCH
    problems = []
    if covered_by == NOTHING:
        problems.append("no export and no RS scheduled backup covers it")
    if covered_by == EXPORT and not times:
        # Configured is not covered: only a good export is a backup.
        problems.append(f"no export of it has succeeded yet ({', '.join(exports)})")
    if rs and status == "failed":
        problems.append(f"RS's last scheduled backup failed ({reason or 'no reason given'})")
    if rs and max_age is not None:
        problems.append(
            freshness(
                last_backup,
                now,
                max_age,
                newest="RS's newest scheduled backup",
                none="RS's schedule is on but shows no backup (no last_backup_time)",
                field="last_backup_time",
            )
        )
    uid = row.get("uid")
    return Coverage(
        cluster=cluster,
        database=_text(row.get("name")),
        database_uid=uid if isinstance(uid, int) and not isinstance(uid, bool) else None,
        covered_by=covered_by,
        exports=exports,
        export_last_success=newest,
        export_age_seconds=age_seconds(newest, now) if newest else None,
        rs_backup=rs,
        rs_backup_interval_seconds=(
            interval if isinstance(interval, int) and not isinstance(interval, bool) else None
        ),
        rs_backup_location=describe_location(row.get("backup_location")) if rs else "",
        rs_backup_status=status,
        rs_backup_failure_reason=reason,
        rs_last_backup_time=last_backup,
        rs_backup_age_seconds=age_seconds(last_backup, now) if last_backup else None,
        problem="; ".join(p for p in problems if p),
    )


def _age_or_inf(text: str, now: datetime) -> float:
    """For picking the newest time: one that does not parse comes last."""
    age = age_seconds(text, now)
    return age if age is not None else float("inf")


def describe_location(location: Any) -> str:
    """A ``backup_location`` as its type and where, e.g. ``s3 backups``: never its keys,
    passwords or URLs, which may carry credentials."""
    if not isinstance(location, dict):
        return ""
    parts = [location.get("type"), *(location.get(key) for key in _WHERE)]
    return " ".join(part for part in parts if isinstance(part, str) and part)


def covered_cell(row: Coverage) -> str:
    """What covers the database, for a table: the exports' names, RS's interval and where."""
    parts = []
    if row.exports:
        parts.append("export " + ", ".join(row.exports))
    if row.rs_backup:
        every = (
            f" every {hours(row.rs_backup_interval_seconds)}"
            if row.rs_backup_interval_seconds
            else ""
        )
        where = f" to {row.rs_backup_location}" if row.rs_backup_location else ""
        parts.append(f"RS schedule{every}{where}")
    if row.covered_by == SCRATCH:
        return "scratch database of a restore drill (each drill erases it)"
    return " + ".join(parts) or NOTHING


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
