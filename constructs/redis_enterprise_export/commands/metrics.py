"""``status --prometheus``: the node_exporter textfile, written atomically by prometheus_client
(an extra: ``status`` imports this module only for the flag).

One label scheme on every series, so they join: ``cluster``; ``database``, the
database's name as the cluster reports it; ``database_uid``, its uid; and
``export`` on the per-export series. An export configured by uid and one by
name label the same database alike. (Before the cluster is read, only what the
config says is known: the other label is then empty.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Enum, Gauge, write_to_textfile

from redis_enterprise_export.commands.coverage import SCRATCH
from redis_enterprise_export.commands.records import retained
from redis_enterprise_export.spec.values import parse_time

if TYPE_CHECKING:
    from redis_enterprise_export.commands.coverage import Coverage
    from redis_enterprise_export.commands.inventory import ClusterView
    from redis_enterprise_export.commands.records import ExportStatus, OwnRecords

# The states of the cluster's export_status (and backup_status); "none" is never run,
# "idle" RS's documented value after a status reset.
STATES = ("succeeded", "failed", "exporting", "idle", "none", "unknown")
# How an export's own latest run ended (contract.outcome_status; "running": the helper
# was killed outright; "none": no record of a run).
OWN_STATES = (
    "succeeded",
    "failed",
    "timeout",
    "interrupted",
    "unknown",
    "error",
    "running",
    "none",
)
DATABASE = ("cluster", "database", "database_uid")
EXPORT = (*DATABASE, "export")


def write_prometheus(
    path: Path,
    rows: list[ExportStatus],
    views: Mapping[str, ClusterView],
    own: OwnRecords,
    covers: list[Coverage],
    *,
    coverage: bool,
) -> None:
    """``redis_export_cluster_up`` 0 says a cluster was not read: its coverage is then
    unknown, not fine, so an alert on it fires while the monitor is blind;
    ``redis_export_own_records_read`` 0 says the same of the stack's records."""
    registry = CollectorRegistry()

    def gauge(name: str, text: str, labels: tuple[str, ...]) -> Gauge:
        return Gauge(name, text, labels, registry=registry)

    last = gauge(
        "redis_export_last_success_timestamp_seconds",
        "When the export's own newest successful run finished (epoch seconds); without "
        "its own records (redis_export_own_records_read 0), the database's last_export_time.",
        EXPORT,
    )
    latest = Enum(
        "redis_export_latest_run_status",
        "How the export's own latest run ended, from its own records.",
        EXPORT,
        states=list(OWN_STATES),
        registry=registry,
    )
    status = Enum(
        "redis_export_status",
        "The database's export_status as the cluster shows it (shared by its exports).",
        EXPORT,
        states=list(STATES),
        registry=registry,
    )
    progress = gauge("redis_export_progress_percent", "The database's export_progress.", EXPORT)
    cluster_last = gauge(
        "redis_export_database_last_export_timestamp_seconds",
        "The database's last_export_time as the cluster shows it (any export's success).",
        DATABASE,
    )
    last_drill = gauge(
        "redis_export_last_successful_drill_timestamp_seconds",
        "When the newest restore drill of the export that proved it loads finished (epoch "
        "seconds), from its own records.",
        EXPORT,
    )
    latest_drill = Enum(
        "redis_export_latest_drill_status",
        "How the newest restore drill of the export ended, from its own records.",
        EXPORT,
        states=list(OWN_STATES),
        registry=registry,
    )
    kept_files = gauge(
        "redis_export_retained_files",
        "The export's own recorded files its retention policy kept in its location, after "
        "its latest prune (exports with a [retention] table only).",
        EXPORT,
    )
    kept_bytes = gauge(
        "redis_export_retained_bytes",
        "The bytes of the files redis_export_retained_files counts.",
        EXPORT,
    )
    own_read = gauge(
        "redis_export_own_records_read",
        "1 if the stack's state and result files were read, else 0 (then "
        "redis_export_last_success_timestamp_seconds is the cluster's last_export_time).",
        (),
    )
    own_read.set(1 if own.read else 0)
    for row in rows:
        where = (row.cluster, row.database_name, _uid(row.database_uid))
        key = (*where, row.export)
        status.labels(*key).state(row.export_status if row.export_status in STATES else "unknown")
        if row.export_progress is not None:
            progress.labels(*key).set(row.export_progress)
        cluster_when = _timestamp(row.last_export_time)
        if cluster_when is not None:
            cluster_last.labels(*where).set(cluster_when)
        when = cluster_when
        if own.read:
            outcome = row.own_latest.export_status if row.own_latest else "none"
            latest.labels(*key).state(outcome if outcome in OWN_STATES else "unknown")
            success = row.own_last_success
            when = _timestamp(success.finished_at) if success else None
            drill = row.own_latest_drill
            if drill is not None:
                state = drill.export_status
                latest_drill.labels(*key).state(state if state in OWN_STATES else "unknown")
            good = row.own_last_good_drill
            drilled = _timestamp(good.finished_at) if good else None
            if drilled is not None:
                last_drill.labels(*key).set(drilled)
        if when is not None:
            last.labels(*key).set(when)
        kept = retained(row) if own.read else None
        if kept is not None and kept.retained_files is not None:
            kept_files.labels(*key).set(kept.retained_files)
            kept_bytes.labels(*key).set(kept.retained_bytes or 0)
    up = gauge(
        "redis_export_cluster_up",
        "1 if the cluster's databases were read, else 0 (then nothing else about it is known).",
        ("cluster",),
    )
    for view in views.values():
        up.labels(view.name).set(1 if view.databases.ok else 0)
    if coverage:
        _coverage(registry, covers)
    write_to_textfile(str(path), registry)


def _coverage(registry: CollectorRegistry, covers: list[Coverage]) -> None:
    covered = Gauge(
        "redis_export_database_covered",
        "1 if an export in the config or RS's own scheduled backups cover the database, or it "
        "is a restore drill's scratch database (erased by each drill), else 0.",
        DATABASE,
        registry=registry,
    )
    covered_by = Gauge(
        "redis_export_database_covered_by",
        "1 if this kind of backup covers the database: by=export (an export in the config) "
        "or by=rs_schedule (RS's own scheduled backups, the bdb's backup: true), or "
        "by=drill_scratch (a restore drill's scratch database).",
        (*DATABASE, "by"),
        registry=registry,
    )
    rs_last = Gauge(
        "redis_export_rs_last_backup_timestamp_seconds",
        "The database's last_backup_time: RS's newest scheduled backup (epoch seconds).",
        DATABASE,
        registry=registry,
    )
    rs_status = Enum(
        "redis_export_rs_backup_status",
        "The database's backup_status (RS's scheduled backups), where they are on.",
        DATABASE,
        states=list(STATES),
        registry=registry,
    )
    for row in covers:
        where = (row.cluster, row.database, _uid(row.database_uid))
        scratch = row.covered_by == SCRATCH
        covered.labels(*where).set(1 if row.exports or row.rs_backup or scratch else 0)
        covered_by.labels(*where, "export").set(1 if row.exports else 0)
        covered_by.labels(*where, "rs_schedule").set(1 if row.rs_backup else 0)
        covered_by.labels(*where, SCRATCH).set(1 if scratch else 0)
        if not row.rs_backup:
            continue
        state = row.rs_backup_status or "none"
        rs_status.labels(*where).state(state if state in STATES else "unknown")
        when = (
            parse_time(row.rs_last_backup_time) if row.rs_backup_age_seconds is not None else None
        )
        if when is not None:
            rs_last.labels(*where).set(when.timestamp())


def _timestamp(text: str) -> float | None:
    """An ISO 8601 time as epoch seconds, or None."""
    when = parse_time(text)
    try:
        return when.timestamp() if when is not None else None
    except (OverflowError, ValueError, OSError):
        return None


def _uid(uid: int | None) -> str:
    return "" if uid is None else str(uid)
