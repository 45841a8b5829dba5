"""``status``: each export's own latest outcome and last success, beside what its
cluster shows, and (``--coverage``) what covers each database.

The cluster's export fields belong to the database: with two exports of one
database (local and offsite), one's failure shows on both and there is one
"last export" time. Each export's own records (``records``) tell them apart.
Reads only: one GET per cluster and one ``terraform show``; never starts an
export or changes Terraform state.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis_enterprise_export.commands.common import (
    BAD_INPUT,
    CHECK_FAILED,
    OK,
    UNREADABLE,
    UNREADABLE_MEANING,
    add_config_arguments,
    age_seconds,
    bad_input,
    clusters_of,
    duration,
    freshness,
    hours,
    load,
    unread,
)
from redis_enterprise_export.commands.coverage import NOTHING, Coverage, coverage, covered_cell
from redis_enterprise_export.commands.inventory import ClusterView, read_clusters, view_for
from redis_enterprise_export.commands.records import (
    SUCCEEDED,
    ExportStatus,
    Outcome,
    OwnRecords,
    read_own_records,
    retained,
)
from redis_enterprise_export.commands.summary import cell, one_line
from redis_enterprise_export.commands.synth import default_stack
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.rs.answers import as_progress
from redis_enterprise_export.spec.export import ExportSpec

OWN, CLUSTER = "own records", "cluster"


@dataclass(frozen=True)
class Uncovered:
    """A database on a configured cluster that neither an export nor RS's schedule covers."""

    cluster: str
    database_uid: int | None
    database: str


DESCRIPTION = (
    "Show, for every export (or --name), its own latest outcome and last success, "
    "from its records in the stack (Terraform state and .results/), beside the "
    "cluster's export fields for its database, which all exports of that database "
    "share. Reads only."
)
EPILOG = (
    "exit codes: 0 fine, 1 a --max-age or --coverage check failed (an export "
    "stale, failed, unknown or in the future; a database uncovered, or its RS backups "
    f"failed or stale), 2 bad input, {UNREADABLE_MEANING}"
)


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    add_config_arguments(parser, environ)
    parser.add_argument(
        "--stack",
        type=Path,
        metavar="DIR",
        help="the synthesized stack, initialized, whose state (terraform show -json) and "
        ".results/ hold each export's own records (default: cdktf.out/stacks/exports "
        "beside the config). If they cannot be read, status says so and uses the "
        "cluster's last_export_time",
    )
    parser.add_argument(
        "--max-age",
        type=duration,
        metavar="AGE",
        help="exit 1 if an export's own newest good export is older (26h, 90m, 2d, 3600s: a "
        "unit is required), missing or in the future, or its own latest run did not succeed; "
        "also RS's scheduled backups with --coverage",
    )
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="also show what covers each database (an export, RS's own scheduled backups, "
        "both); exit 1 on one neither covers, or whose RS backup failed",
    )
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON")
    formats.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--prometheus",
        type=Path,
        metavar="FILE",
        help="also write metrics to FILE in node_exporter's textfile format (atomically)",
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        config, selected = load(args)
    except ConfigError as exc:
        return bad_input(exc)
    views = read_clusters(clusters_of(config, selected), environ, preflight=False)
    stack = args.stack if args.stack is not None else default_stack(args.config)
    # Every export's, not only --name's: coverage counts them all.
    drills = {drill.name: drill.export for drill in config.drills}
    own = read_own_records(stack, [spec.name for spec in config.exports], environ, drills)
    now = datetime.now(UTC)
    rows = [_status(spec, view_for(views, spec), own, now, args.max_age) for spec in selected]
    covers: list[Coverage] = []
    if args.coverage:
        last_success = {spec.name: _last_success(spec, views, own) for spec in config.exports}
        covers = coverage(config, views, last_success, now, args.max_age)
    if args.prometheus is not None:
        try:
            # Here, not at the top: prometheus_client is an extra, needed only with the flag.
            from redis_enterprise_export.commands.metrics import write_prometheus
        except ModuleNotFoundError as exc:
            if exc.name != "prometheus_client":
                raise
            from redis_enterprise_export.extras import not_installed

            raise not_installed("prometheus_client", "status --prometheus") from None
        try:
            write_prometheus(args.prometheus, rows, views, own, covers, coverage=args.coverage)
        except OSError as exc:
            return bad_input(
                ConfigError(
                    "--prometheus", str(args.prometheus), f"a writable file ({exc.strerror})"
                )
            )
    if args.json:
        print(json.dumps(as_json(rows, own, covers), indent=2))
    elif args.markdown:
        print(markdown(rows, own, covers, drills=bool(drills)))
    else:
        print(text(rows, own, covers, drills=bool(drills)))
    if unread(views):
        return UNREADABLE
    if any(isinstance(view.databases.error, ConfigError) for view in views.values()):
        return BAD_INPUT  # a credentials variable is unset: said in the problem column
    failing = args.max_age is not None and any(row.problem for row in rows)
    return CHECK_FAILED if failing or any(c.problem for c in covers) else OK


def _status(
    spec: ExportSpec, view: ClusterView, own: OwnRecords, now: datetime, max_age: float | None
) -> ExportStatus:
    latest = own.latest.get(spec.name)
    success = own.last_success.get(spec.name)
    base: dict[str, Any] = {
        "export": spec.name,
        "cluster": view.name,
        "database": str(spec.database),
        "database_uid": spec.database if isinstance(spec.database, int) else None,
        "database_name": spec.database if isinstance(spec.database, str) else "",
        "export_status": "unknown",
        "export_progress": None,
        "export_failure_reason": "",
        "last_export_time": "",
        "age_seconds": None,
        "own_latest": latest,
        "own_last_success": success,
        "own_age_seconds": age_seconds(success.finished_at, now) if success else None,
        "freshness_from": OWN if own.read else CLUSTER,
        "own_latest_drill": own.drill_latest.get(spec.name),
        "own_last_good_drill": own.drill_last_success.get(spec.name),
    }
    problems = _own_problems(latest, success, now, max_age) if own.read else []
    drill = base["own_latest_drill"]
    if drill is not None and drill.export_status != SUCCEEDED:
        why = drill.message or drill.export_failure_reason or "no reason recorded"
        problems.append(f"its latest restore drill {drill.export_status}: {why}")
    if not view.databases.ok:
        problems.append(f"cluster not read: {view.databases.error}")
        return ExportStatus(**base, problem="; ".join(problems))
    found = view.database(spec.database)
    if len(found) != 1:
        what = "no database" if not found else f"{len(found)} databases"
        problems.append(f"{what} called {spec.database!r} on {view.name}")
        return ExportStatus(**base, problem="; ".join(problems))
    row = found[0]
    status = str(row.get("export_status") or "")
    last = str(row.get("last_export_time") or "")
    uid = row.get("uid")
    base |= {
        "database_uid": uid if isinstance(uid, int) and not isinstance(uid, bool) else None,
        "database_name": row["name"] if isinstance(row.get("name"), str) else "",
        "export_status": status or "none",
        "export_progress": as_progress(row.get("export_progress")),
        "export_failure_reason": str(row.get("export_failure_reason") or ""),
        "last_export_time": last,
        "age_seconds": age_seconds(last, now),
    }
    if not own.read:
        problems = [_cluster_problem(status, base["export_failure_reason"], last, now, max_age)]
    return ExportStatus(**base, problem="; ".join(p for p in problems if p))


def _own_problems(
    latest: Outcome | None, success: Outcome | None, now: datetime, max_age: float | None
) -> list[str]:
    """What the export's own records say is wrong: its latest run did not succeed, or
    its newest success is missing, unreadable, in the future or (``max_age``) too old."""
    problems = []
    if latest is not None and latest.export_status != SUCCEEDED:
        run = f" {latest.run_id}" if latest.run_id else ""
        why = latest.message or latest.export_failure_reason or "no reason recorded"
        problems.append(f"its latest run{run} {latest.export_status}: {why}")
    problems.append(
        freshness(
            success.finished_at if success else "",
            now,
            max_age,
            newest="its newest good export",
            none="no successful export of its own on record",
            field="its last success finished_at",
            clock="the runner's",
        )
    )
    return [p for p in problems if p]


def _cluster_problem(
    status: str, reason: str, last: str, now: datetime, max_age: float | None
) -> str:
    """Without own records: what the database's fields say, as before them."""
    if status == "failed":
        return f"the last export failed ({reason or 'no reason given'})"
    return freshness(
        last,
        now,
        max_age,
        newest="newest good export",
        none="no successful export on record",
        field="last_export_time",
    )


def _last_success(spec: ExportSpec, views: Mapping[str, ClusterView], own: OwnRecords) -> str:
    """The time coverage counts as the export's newest good export."""
    if own.read:
        success = own.last_success.get(spec.name)
        return success.finished_at if success else ""
    view = next((v for v in views.values() if v.cluster is spec.cluster), None)
    found = view.database(spec.database) if view is not None else []
    return str(found[0].get("last_export_time") or "") if len(found) == 1 else ""


def as_json(rows: list[ExportStatus], own: OwnRecords, covers: list[Coverage]) -> dict[str, Any]:
    return {
        "own_records": {"stack": str(own.stack), "read": own.read, "error": own.error},
        "exports": [asdict(r) for r in rows],
        "coverage": [asdict(c) for c in covers],
        "uncovered": [
            asdict(Uncovered(c.cluster, c.database_uid, c.database))
            for c in covers
            if c.covered_by == NOTHING
        ],
    }


COLUMNS = (
    "export",
    "cluster",
    "database",
    "latest run",
    "last good (own)",
    "age",
    "cluster status",
    "cluster last export",
    "problem",
)
DRILL_COLUMN = "last good drill"
RETENTION_COLUMN = "kept"
COVERAGE_COLUMNS = ("cluster", "database", "covered by", "export age", "RS backup age", "problem")


def _columns(drills: bool, kept: bool = False) -> tuple[str, ...]:
    extra = (DRILL_COLUMN,) * drills + (RETENTION_COLUMN,) * kept
    return (*COLUMNS[:-1], *extra, COLUMNS[-1])


def _kept(rows: list[ExportStatus]) -> bool:
    """Whether any row has a retention policy's counts: only then the column shows."""
    return any(retained(row) is not None for row in rows)


def _kept_cell(row: ExportStatus) -> str:
    """The files the export's retention policy kept, their bytes, the oldest's time."""
    found = retained(row)
    if found is None:
        return "-"
    text = f"{found.retained_files} files, {found.retained_bytes} bytes"
    text += f", oldest {found.oldest_retained}" if found.oldest_retained else ""
    return text + (f" ({found.retention_note})" if found.retention_note else "")


def _cells(row: ExportStatus, drills: bool, kept: bool = False) -> tuple[str, ...]:
    uid = f" (uid {row.database_uid})" if row.database_uid is not None else ""
    latest = row.own_latest
    judged = row.own_age_seconds if row.freshness_from == OWN else row.age_seconds
    return (
        row.export,
        row.cluster,
        (row.database_name or row.database) + uid,
        " ".join(p for p in (latest.export_status, latest.run_id, latest.finished_at) if p)
        if latest
        else "-",
        row.own_last_success.finished_at if row.own_last_success else "-",
        hours(judged) if judged is not None else "-",
        row.export_status,
        row.last_export_time or "-",
        *(
            (row.own_last_good_drill.finished_at if row.own_last_good_drill else "-",)
            if drills
            else ()
        ),
        *((_kept_cell(row),) if kept else ()),
        row.problem or "ok",
    )


def _coverage_cells(row: Coverage) -> tuple[str, ...]:
    uid = f" (uid {row.database_uid})" if row.database_uid is not None else ""
    rs_age = "-"
    if row.rs_backup:
        rs_age = hours(row.rs_backup_age_seconds) if row.rs_backup_age_seconds is not None else "?"
    export_age = "-"
    if row.exports:
        export_age = hours(row.export_age_seconds) if row.export_age_seconds is not None else "?"
    return (
        row.cluster,
        row.database + uid,
        covered_cell(row),
        export_age,
        rs_age,
        row.problem or "ok",
    )


def _note(own: OwnRecords) -> str:
    if own.read:
        return ""
    return (
        f"own records not read: {own.error}; ages and --max-age are the cluster's "
        "last_export_time, which all exports of a database share"
    )


def text(
    rows: list[ExportStatus], own: OwnRecords, covers: list[Coverage], *, drills: bool = False
) -> str:
    kept = _kept(rows)
    lines = _table(_columns(drills, kept), [_cells(row, drills, kept) for row in rows])
    if covers:
        lines += ["", "Coverage:", *_table(COVERAGE_COLUMNS, [_coverage_cells(c) for c in covers])]
    if note := _note(own):
        lines += ["", one_line(note)]
    return "\n".join(lines)


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    table = [columns, *(tuple(one_line(c) for c in row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]


def markdown(
    rows: list[ExportStatus], own: OwnRecords, covers: list[Coverage], *, drills: bool = False
) -> str:
    kept = _kept(rows)
    lines = _markdown_table(_columns(drills, kept), [_cells(row, drills, kept) for row in rows])
    if covers:
        lines += ["", *_markdown_table(COVERAGE_COLUMNS, [_coverage_cells(c) for c in covers])]
    if note := _note(own):
        # In Markdown a paragraph's text is inline too: the pipe and the line are what matter.
        lines += ["", cell(note)]
    return "\n".join(lines)


def _markdown_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell(c) for c in cells) + " |"

    return [line(columns), "|" + "---|" * len(columns), *(line(r) for r in rows)]
