"""Coverage counts RS's own scheduled backups beside this project's exports, and the
Prometheus file labels every database one way, so its series join."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO, toml_text
from helpers.day2 import config, day2, metric_samples
from helpers.tables import GOOD
from redis_enterprise_export.simulator import Simulator

SECRET = "sim-backup-secret"  # in the simulator's backup_location, as RS's full bdb has it


def _stamp(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rs_backups(sim: Simulator, uid: int, hours_ago: float | None, status: str = "succeeded",
               reason: str = "") -> None:  # fmt: skip
    """Turn on RS's scheduled backups of database ``uid``, last run ``hours_ago``."""
    db = sim.cluster.databases[uid]
    db.backup, db.backup_interval, db.backup_status, db.backup_failure_reason = (
        True, 43200, status, reason,
    )  # fmt: skip
    db.backup_location = {"type": "s3", "bucket_name": "rs-backups", "secret_access_key": SECRET}
    db.last_backup_time = _stamp(hours_ago) if hours_ago is not None else None


def coverage_of(out: str) -> dict[str, dict[str, Any]]:
    return {row["database"]: row for row in json.loads(out)["coverage"]}


def test_coverage_counts_an_export_rs_schedule_both_or_nothing_with_each_age(
    sim: Simulator, tmp_path: Path
) -> None:
    """orders: an export and RS's schedule; search: RS's schedule only; payments: nothing.
    Each says which covers it and the age of each; only payments is a problem. Before, search
    counted as uncovered and RS's backups were not shown."""
    db = sim.cluster.databases[1]
    db.export_status, db.last_export_time = "succeeded", _stamp(3)
    rs_backups(sim, 1, 5)
    rs_backups(sim, 2, 2)
    sim.cluster.add_database(7, "payments")
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    code, out, _ = day2("status", "--coverage", "--json", "--max-age", "26h", "--config", str(path))
    rows = coverage_of(out)
    assert code == 1
    assert {name: row["covered_by"] for name, row in rows.items()} == {
        "orders": "both", "search": "rs_schedule", "payments": "nothing",
    }  # fmt: skip
    assert {name: bool(row["problem"]) for name, row in rows.items()} == {
        "orders": False, "search": False, "payments": True,
    }  # fmt: skip
    assert rows["orders"]["exports"] == ["orders"]
    assert 3 * 3600 - 60 <= rows["orders"]["export_age_seconds"] <= 3 * 3600 + 60
    assert 5 * 3600 - 60 <= rows["orders"]["rs_backup_age_seconds"] <= 5 * 3600 + 60
    assert rows["search"]["rs_backup_interval_seconds"] == 43200
    assert rows["search"]["rs_backup_location"] == "s3 rs-backups"
    assert json.loads(out)["uncovered"] == [
        {"cluster": "sim", "database_uid": 7, "database": "payments"}
    ]
    code, out, _ = day2("status", "--coverage", "--config", str(path))
    lines = out.split("Coverage:\n")[1].split("\n\n")[0].splitlines()[1:]
    table = {line.split()[1]: " ".join(line.split()) for line in lines}
    rs = "RS schedule every 12.0 h to s3 rs-backups"
    assert f"export orders + {rs} 3.0 h 5.0 h ok" in table["orders"]
    assert f"{rs} - 2.0 h ok" in table["search"]


@pytest.mark.parametrize("status", ["", "failed"], ids=["never ran", "failed"])
def test_a_database_whose_only_export_never_succeeded_is_a_coverage_problem(
    sim: Simulator, tmp_path: Path, status: str
) -> None:
    """An export that never succeeded (never ran, or failed every time) covers nothing:
    coverage names it as the problem and fails, where before it said ok."""
    db = sim.cluster.databases[1]
    db.export_status, db.last_export_time = status, None
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    code, out, _ = day2("status", "--coverage", "--json", "--config", str(path))
    row = coverage_of(out)["orders"]
    assert row["covered_by"] == "export"
    assert row["problem"] == "no export of it has succeeded yet (orders)"
    assert code == 1


@pytest.mark.parametrize(
    ("argv", "status", "hours", "problem"),
    [
        ([], "failed", 1, "RS's last scheduled backup failed (no-permission)"),
        (["--max-age", "26h"], "succeeded", 30, "RS's newest scheduled backup is 30.0 h old (limit 26.0 h)"),
        (["--max-age", "26h"], "succeeded", None, "RS's schedule is on but shows no backup"),
        (["--max-age", "26h"], "succeeded", 2, ""),
    ],
    ids=["failed", "too old", "never ran", "fresh"],
)  # fmt: skip
def test_rs_backups_that_failed_or_are_older_than_max_age_are_a_problem(
    sim: Simulator, tmp_path: Path, argv: list[str], status: str, hours: float | None, problem: str
) -> None:
    """A database RS backs up (search, no export): a failed backup_status fails coverage,
    and with --max-age so does a last_backup_time too old or missing."""
    rs_backups(sim, 2, hours, status, "no-permission" if status == "failed" else "")
    db = sim.cluster.databases[1]
    db.export_status, db.last_export_time = "succeeded", _stamp(1)
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    code, out, _ = day2("status", "--coverage", "--json", *argv, "--config", str(path))
    found = coverage_of(out)["search"]["problem"]
    assert (code, bool(found), problem in found) == (1 if problem else 0, bool(problem), True)


def test_rs_backup_location_secrets_are_never_shown(sim: Simulator, tmp_path: Path) -> None:
    """status reads backup_location, which holds RS's keys: text, Markdown, JSON and the
    metrics show its type and bucket, never the secret."""
    rs_backups(sim, 2, 2)
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    metrics = tmp_path / "m.prom"
    for mode in ([], ["--markdown"], ["--json"]):
        _, out, err = day2("status", "--coverage", *mode, "--prometheus", str(metrics),
                           "--config", str(path))  # fmt: skip
        assert "rs-backups" in out
        assert SECRET not in out + err + metrics.read_text()


def test_preflight_counts_rs_scheduled_backups_as_coverage(sim: Simulator, tmp_path: Path) -> None:
    """search has no export but RS backs it up: a passed coverage check saying so, no warning."""
    rs_backups(sim, 2, 2)
    sim.cluster.add_database(7, "payments")
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    code, out, _ = day2("preflight", "--config", str(path))
    assert code == 0
    assert (
        "✔ cluster sim: coverage: database 'search' (uid 2) has no export; "
        "RS's own scheduled backups cover it every 12.0 h"
    ) in out
    assert "! cluster sim: coverage: database 'payments' (uid 7) has no export and no RS" in out
    assert "'search' (uid 2) has no export and" not in out


def test_every_series_labels_a_database_the_same_way_so_they_join(
    sim: Simulator, tmp_path: Path
) -> None:
    """An export configured by uid and one by name, and coverage: every series says
    database="orders", database_uid="1". Before, the uid's series said database="1"."""
    rs_backups(sim, 1, 2)
    db = sim.cluster.databases[1]
    db.export_status, db.last_export_time = "succeeded", "2026-11-27T01:02:03Z"
    path = config(
        tmp_path, {"sim": sim}, {"by_uid": {"database": 1}, "by_name": {"database": "orders"}}
    )
    metrics = tmp_path / "m.prom"
    code, _, _ = day2("status", "--coverage", "--prometheus", str(metrics), "--config", str(path))
    assert code == 1  # search is not covered
    samples = metric_samples(metrics)
    orders = (("cluster", "sim"), ("database", "orders"), ("database_uid", "1"))
    per_export = {labels for name, labels in samples if name == "redis_export_status"}
    where = {tuple(label for label in labels if label[0] in dict(orders)) for labels in per_export}
    assert where == {orders}
    assert {dict(labels)["export"] for labels in per_export} == {"by_uid", "by_name"}
    for series in ("redis_export_database_covered", "redis_export_rs_last_backup_timestamp_seconds",
                   "redis_export_database_last_export_timestamp_seconds"):  # fmt: skip
        assert samples[(series, orders)] > 0, series
    assert samples[("redis_export_database_covered_by", (("by", "rs_schedule"), *orders))] == 1
    # No stack beside the config: the own series falls back to the cluster's time, and says so.
    assert samples[("redis_export_own_records_read", ())] == 0
    last = ("redis_export_last_success_timestamp_seconds", (*orders, ("export", "by_uid")))
    assert samples[last] == datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC).timestamp()


def test_readme_names_every_series_status_writes(sim: Simulator, tmp_path: Path) -> None:
    """Each metric family in the textfile (with coverage and RS's backups) is on the day 2 page."""
    rs_backups(sim, 2, 2)
    db = sim.cluster.databases[1]
    db.export_status, db.export_progress, db.last_export_time = "succeeded", 100.0, _stamp(1)
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    metrics = tmp_path / "m.prom"
    day2("status", "--coverage", "--prometheus", str(metrics), "--config", str(path))
    names = {name for name, _ in metric_samples(metrics)}
    readme = (REPO / "docs" / "day2.md").read_text()
    assert len(names) >= 10
    assert [name for name in sorted(names) if name not in readme] == []


def drilled_config(sim: Simulator, tmp_path: Path, **drill: Any) -> Path:
    """The export 'orders' of database 1 and its drill into 'orders-drill'."""
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    path.write_text(path.read_text() + toml_text({"drills": {"orders": GOOD | drill}}))
    return path


def test_a_drills_scratch_database_is_covered_as_scratch_not_reported_uncovered(
    sim: Simulator, tmp_path: Path
) -> None:
    """Each drill erases its scratch database: status --coverage, its metrics and preflight
    count it as covered (by="drill_scratch"), where before it was an uncovered database
    and failed every night's --coverage check."""
    rs_backups(sim, 2, 2)
    db = sim.cluster.databases[1]
    db.export_status, db.last_export_time = "succeeded", _stamp(1)
    sim.cluster.add_database(7, "orders-drill")
    path = drilled_config(sim, tmp_path)
    metrics = tmp_path / "m.prom"
    code, out, _ = day2(
        "status", "--coverage", "--json", "--prometheus", str(metrics), "--config", str(path)
    )
    row = coverage_of(out)["orders-drill"]
    assert (code, row["covered_by"], row["problem"]) == (0, "drill_scratch", "")
    samples = metric_samples(metrics)
    where = (("cluster", "sim"), ("database", "orders-drill"), ("database_uid", "7"))
    by = tuple(sorted((*where, ("by", "drill_scratch"))))
    assert samples["redis_export_database_covered", where] == 1
    assert samples["redis_export_database_covered_by", by] == 1
    code, out, _ = day2("preflight", "--config", str(path))
    assert "coverage: database 'orders-drill'" not in out
    assert "✔ drill orders: scratch database: 'orders-drill' is uid 7; each drill ERASES it" in out


def test_preflight_fails_a_scratch_database_rs_backs_up_unless_the_drill_allows_it(
    sim: Simulator, tmp_path: Path
) -> None:
    """A scratch database with RS scheduled backups on (backup: true) got a tick, and the
    drill then erased it: preflight fails it, and passes it once the drill's table says
    erase_backed_up = true."""
    sim.add_database(7, "orders-drill")
    sim.cluster.databases[7].backup = True
    path = drilled_config(sim, tmp_path)
    code, out, _ = day2("preflight", "--config", str(path))
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("✘ drill orders")]
    assert "has RS scheduled backups on (backup: true)" in line
    assert "set erase_backed_up = true" in line
    path = drilled_config(sim, tmp_path, erase_backed_up=True)
    code, out, _ = day2("preflight", "--config", str(path))
    assert "✔ drill orders: scratch database: 'orders-drill' is uid 7; each drill ERASES it" in out


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda sim: None, "no database 'orders-drill': create the scratch database"),
        (lambda sim: sim.add_database(7, "orders-drill", crdt=True), "is Active-Active"),
        # The export names it by uid, the drill by name: only the cluster tells.
        (
            lambda sim: sim.cluster.databases[1].__setattr__("name", "orders-drill"),
            "'orders-drill' (uid 1) is exported by orders: a drill would ERASE it",
        ),
    ],
)
def test_preflight_fails_a_drill_whose_scratch_database_is_missing_or_active_active(
    sim: Simulator, tmp_path: Path, make: Any, detail: str
) -> None:
    """Tonight's drill would fail, or erase an exported database: preflight says so now,
    naming the drill. Before, a drill into the export's own database got a tick."""
    make(sim)
    path = drilled_config(sim, tmp_path)
    code, out, _ = day2("preflight", "--config", str(path))
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("✘ drill orders")]
    assert detail in line
