"""``status``: each export's state on its cluster, and the age of its newest good export.

Reads only (one GET per cluster); never starts an export or touches Terraform state.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis_enterprise_export.client import as_progress
from redis_enterprise_export.commands.common import (
    BAD_INPUT,
    CHECK_FAILED,
    OK,
    UNREADABLE,
    bad_input,
    clusters_of,
    load,
    unread,
)
from redis_enterprise_export.config import ExportsConfig
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.inventory import ClusterView, read_clusters, view_for
from redis_enterprise_export.summary import cell, one_line

# The states the redis_export_status metric takes; "none" is a never-exported database.
STATES = ("succeeded", "failed", "exporting", "none", "unknown")
# How far last_export_time may lie ahead of this machine's clock (clocks drift) before
# it is a problem: a time in the future proves nothing about the backup's age.
CLOCK_SKEW_SECONDS = 300.0


@dataclass(frozen=True)
class ExportStatus:
    """One export as its cluster shows it now; ``problem`` is empty when all is well."""

    export: str
    cluster: str
    database: str
    database_uid: int | None
    export_status: str
    export_progress: float | None
    export_failure_reason: str
    last_export_time: str
    age_seconds: float | None
    problem: str


@dataclass(frozen=True)
class Uncovered:
    """A database on a configured cluster that no export names."""

    cluster: str
    database_uid: int | None
    database: str


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        config, selected = load(args)
    except ConfigError as exc:
        return bad_input(exc)
    views = read_clusters(clusters_of(config, selected), environ, preflight=False)
    now = datetime.now(UTC)
    rows = [
        _status(spec.name, view_for(views, spec), spec.database, now, args.max_age)
        for spec in selected
    ]
    uncovered = _uncovered(config, views) if args.coverage else []
    if args.prometheus is not None:
        try:
            write_prometheus(args.prometheus, rows, views, config, coverage=args.coverage)
        except OSError as exc:
            return bad_input(
                ConfigError(
                    "--prometheus", str(args.prometheus), f"a writable file ({exc.strerror})"
                )
            )
    if args.json:
        print(
            json.dumps(
                {"exports": [asdict(r) for r in rows], "uncovered": [asdict(u) for u in uncovered]},
                indent=2,
            )
        )
    elif args.markdown:
        print(markdown(rows, uncovered))
    else:
        print(text(rows, uncovered))
    if unread(views):
        return UNREADABLE
    if any(isinstance(view.databases.error, ConfigError) for view in views.values()):
        return BAD_INPUT  # a credentials variable is unset: said in the problem column
    failing = args.max_age is not None and any(row.problem for row in rows)
    return CHECK_FAILED if failing or uncovered else OK


def _status(
    export: str, view: ClusterView, database: int | str, now: datetime, max_age: float | None
) -> ExportStatus:
    base: dict[str, Any] = {
        "export": export,
        "cluster": view.name,
        "database": str(database),
        "database_uid": None,
        "export_status": "unknown",
        "export_progress": None,
        "export_failure_reason": "",
        "last_export_time": "",
        "age_seconds": None,
    }
    if not view.databases.ok:
        return ExportStatus(**base, problem=f"cluster not read: {view.databases.error}")
    found = view.database(database)
    if len(found) != 1:
        what = "no database" if not found else f"{len(found)} databases"
        return ExportStatus(**base, problem=f"{what} called {database!r} on {view.name}")
    row = found[0]
    status = str(row.get("export_status") or "")
    last = str(row.get("last_export_time") or "")
    age = _age(last, now)
    base |= {
        "database_uid": row.get("uid") if isinstance(row.get("uid"), int) else None,
        "export_status": status or "none",
        "export_progress": as_progress(row.get("export_progress")),
        "export_failure_reason": str(row.get("export_failure_reason") or ""),
        "last_export_time": last,
        "age_seconds": age,
    }
    if status == "failed":
        problem = f"the last export failed ({base['export_failure_reason'] or 'no reason given'})"
    elif not last:
        problem = "no successful export on record"
    elif age is None:
        problem = f"last_export_time {last!r} is not a time this tool can read"
    elif age < -CLOCK_SKEW_SECONDS:
        problem = (
            f"last_export_time {last} is {_hours(-age)} in the future: the cluster's "
            "clock or this machine's is wrong, so the backup's age is unknown"
        )
    elif max_age is not None and age > max_age:
        problem = f"newest good export is {_hours(age)} old (limit {_hours(max_age)})"
    else:
        problem = ""
    return ExportStatus(**base, problem=problem)


def _when(last: str) -> datetime | None:
    """``last_export_time`` as an aware time, or None if it is not ISO 8601."""
    try:
        when = datetime.fromisoformat(last)
    except ValueError:
        return None
    # RS writes UTC (UNCONFIRMED for last_export_time).
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _age(last: str, now: datetime) -> float | None:
    """Seconds since ``last``: 0 for a time a little ahead (clock skew), negative for
    one further ahead, which is a problem to report."""
    when = _when(last)
    if when is None:
        return None
    age = (now - when).total_seconds()
    return 0.0 if -CLOCK_SKEW_SECONDS <= age < 0 else age


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _uncovered(config: ExportsConfig, views: Mapping[str, ClusterView]) -> list[Uncovered]:
    return [
        Uncovered(view.name, row.get("uid"), str(row.get("name") or ""))
        for view in views.values()
        for row in view.uncovered_by(config.exports)
    ]


COLUMNS = ("export", "cluster", "database", "status", "last good export", "age", "problem")


def _cells(row: ExportStatus) -> tuple[str, ...]:
    uid = f" (uid {row.database_uid})" if row.database_uid is not None else ""
    age = _hours(row.age_seconds) if row.age_seconds is not None else "-"
    return (
        row.export,
        row.cluster,
        row.database + uid,
        row.export_status,
        row.last_export_time or "-",
        age,
        row.problem or "ok",
    )


def text(rows: list[ExportStatus], uncovered: list[Uncovered]) -> str:
    table = [COLUMNS, *(tuple(one_line(c) for c in _cells(row)) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    lines += _uncovered_lines(uncovered)
    return "\n".join(lines)


def markdown(rows: list[ExportStatus], uncovered: list[Uncovered]) -> str:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell(c) for c in cells) + " |"

    lines = [line(COLUMNS), "|" + "---|" * len(COLUMNS), *(line(_cells(r)) for r in rows)]
    return "\n".join(lines + _uncovered_lines(uncovered, markdown=True))


def _uncovered_lines(uncovered: list[Uncovered], *, markdown: bool = False) -> list[str]:
    if not uncovered:
        return []
    # In Markdown a list item's text is inline too: the pipe and the line are what matter.
    clean = cell if markdown else one_line
    return ["", "Databases no export covers:"] + [
        "- " + clean(f"{u.cluster}: {u.database} (uid {u.database_uid})") for u in uncovered
    ]


def write_prometheus(
    path: Path,
    rows: list[ExportStatus],
    views: Mapping[str, ClusterView],
    config: ExportsConfig,
    *,
    coverage: bool,
) -> None:
    """The node_exporter textfile format, written atomically by prometheus_client.

    ``redis_export_cluster_up`` 0 says a cluster was not read: its coverage is then
    unknown, not fine, so an alert on it fires while the monitor is blind."""
    try:
        from prometheus_client import CollectorRegistry, Enum, Gauge, write_to_textfile
    except ImportError:
        from redis_enterprise_export.extras import not_installed

        raise not_installed("prometheus_client", "status --prometheus") from None

    registry = CollectorRegistry()
    labels = ("cluster", "database", "export")
    last = Gauge(
        "redis_export_last_success_timestamp_seconds",
        "When the database's newest successful export finished (epoch seconds).",
        labels,
        registry=registry,
    )
    status = Enum(
        "redis_export_status",
        "The database's export_status as the cluster shows it.",
        labels,
        states=list(STATES),
        registry=registry,
    )
    progress = Gauge(
        "redis_export_progress_percent",
        "The database's export_progress.",
        labels,
        registry=registry,
    )
    for row in rows:
        key = (row.cluster, row.database, row.export)
        status.labels(*key).state(row.export_status if row.export_status in STATES else "unknown")
        when = _when(row.last_export_time) if row.age_seconds is not None else None
        if when is not None:
            last.labels(*key).set(when.timestamp())
        if row.export_progress is not None:
            progress.labels(*key).set(row.export_progress)
    up = Gauge(
        "redis_export_cluster_up",
        "1 if the cluster's databases were read, else 0 (then nothing else about it is known).",
        ("cluster",),
        registry=registry,
    )
    for view in views.values():
        up.labels(view.name).set(1 if view.databases.ok else 0)
    if coverage:
        covered = Gauge(
            "redis_export_database_covered",
            "1 if an export in the config covers this database, else 0.",
            ("cluster", "database"),
            registry=registry,
        )
        for view in views.values():
            missing = {id(row) for row in view.uncovered_by(config.exports)}
            for row in view.databases.value or []:
                covered.labels(view.name, str(row.get("name"))).set(0 if id(row) in missing else 1)
    write_to_textfile(str(path), registry)
