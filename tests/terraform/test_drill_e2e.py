"""Restore drills end to end: real ``terraform apply`` exports a database, then imports
the file it wrote into a scratch database of the simulator (real redis-servers) and
checks the key count; a corrupt file fails the drill and the apply, saying why."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from helpers import ORDERS, TerraformProject
from helpers.day2 import epoch, metric_samples, status
from helpers.tables import GOOD
from helpers.tables import tables as export_tables
from redis_enterprise_export.contract import unique_id
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e

SCRATCH_UID = 3
DRILL_ADDRESS = f"terraform_data.{unique_id(['drills', 'orders', 'drill'])}"


def tables(sim: Simulator, export_dir: Path, **drill: Any) -> dict[str, dict[str, Any]]:
    """The end-to-end tests' one export, and its drill into the scratch database."""
    drills = {"orders": GOOD | {"timeout_seconds": 60} | drill}
    return export_tables(sim, export_dir) | {"drills": drills}


@pytest.fixture
def scratch(sim: Simulator) -> Simulator:
    """The simulator with a scratch database holding keys of its own, which a drill erases."""
    sim.add_database(SCRATCH_UID, "orders-drill", data={"leftover:1": "x", "leftover:2": "y"})
    sim.cluster.scenario.stats_interval_seconds = 0.2
    return sim


@pytest.fixture
def drilled(scratch: Simulator, export_dir: Path, project: TerraformProject) -> TerraformProject:
    summary = project.root / "summary.md"
    project.env["GITHUB_STEP_SUMMARY"] = str(summary)
    project.synth(tables(scratch, export_dir))
    project.init()
    project.apply("run-1")
    return project


def keys_of(sim: Simulator, uid: int) -> set[str]:
    redis = sim.cluster.databases[uid].redis
    assert redis is not None
    return {str(key) for key in redis.client.keys("*")}


def drills(project: TerraformProject) -> dict[str, Any]:
    output: dict[str, Any] = json.loads(project.terraform("output", "-json", "drills").stdout)
    return output


def test_an_apply_exports_then_drills_and_the_scratch_database_holds_the_exported_keys(
    drilled: TerraformProject, scratch: Simulator, export_dir: Path
) -> None:
    """One apply: export, then drill; the scratch database holds exactly the source's keys."""
    outcome = drills(drilled)["orders"]
    assert outcome["drill_status"] == "succeeded", outcome["message"]
    assert outcome["keys_loaded"] == len(ORDERS)
    assert outcome["keys_expected_min"] == outcome["keys_expected_max"] == len(ORDERS)
    (file,) = [p.name for p in export_dir.iterdir()]
    assert outcome["files"] == [file]
    assert outcome["export"] == "orders"
    assert outcome["database_uid"] == SCRATCH_UID
    assert outcome["run_id"] == "run-1"
    # The scratch database holds exactly the source's keys: its own were erased.
    assert keys_of(scratch, SCRATCH_UID) == set(ORDERS)
    assert scratch.cluster.exports_started(1) == 1
    assert scratch.cluster.imports_started(SCRATCH_UID) == 1
    assert scratch.cluster.imports_started(1) == 0
    # The export recorded what the drill used.
    export = drilled.outputs()["orders"]
    assert (export["keys_before"], export["keys_after"], export["files"]) == (
        len(ORDERS),
        len(ORDERS),
        [file],
    )
    summary = (drilled.root / "summary.md").read_text()
    (row,) = [line for line in summary.splitlines() if "(drill orders)" in line]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "orders (drill orders)"
    assert (cells[2], cells[3]) == ("uid 3", "drill succeeded")
    assert cells[5] == f"keys {len(ORDERS)} → {len(ORDERS)} (±0%)"
    assert summary.count("| export | cluster |") == 1  # one table for exports and drills


def test_the_drill_runs_again_only_when_its_export_does(
    drilled: TerraformProject, scratch: Simulator
) -> None:
    """Same run id: nothing to do; a new one exports and drills once more."""
    assert drilled.plan_changes("run-1") == 0
    drilled.apply("run-2")
    assert scratch.cluster.exports_started(1) == 2
    assert scratch.cluster.imports_started(SCRATCH_UID) == 2
    assert drills(drilled)["orders"]["run_id"] == "run-2"


def test_a_corrupt_export_file_fails_the_drill_and_the_apply_says_why(
    drilled: TerraformProject, scratch: Simulator, export_dir: Path
) -> None:
    """The file rots at rest after the export; the drill, run again on its own
    (-replace), fails the apply with the import's reason and what it means."""
    (path,) = export_dir.iterdir()
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[: len(data) // 2]))
    before = keys_of(scratch, SCRATCH_UID)
    result = drilled.terraform(
        "apply", "-auto-approve", "-no-color", "-var=run_id=run-1", f"-replace={DRILL_ADDRESS}",
        check=False,
    )  # fmt: skip
    assert result.code != 0
    assert "file-corrupted" in result.text
    assert "not a whole RDB" in result.text
    assert "export 'orders' succeeded, but its files" in result.text
    assert "Export again (a new run_id)" in result.text
    assert scratch.cluster.exports_started(1) == 1  # the export did not run again
    record = json.loads((drilled.stack / ".results" / "drills" / "orders.json").read_text())
    assert record["drill_status"] == "failed"
    assert record["import_failure_reason"] == "file-corrupted"
    # The failed import left the scratch database as it was (the simulator's choice).
    assert keys_of(scratch, SCRATCH_UID) == before


def test_status_and_prometheus_show_the_last_good_drill(
    drilled: TerraformProject, scratch: Simulator
) -> None:
    """status and its Prometheus file show the drill's last success and latest outcome."""
    metrics = drilled.root / "metrics.prom"
    code, data = status(drilled, "--max-age", "1h", "--prometheus", str(metrics))
    assert code == 0, data
    (row,) = data["exports"]
    drill = drills(drilled)["orders"]
    assert row["own_last_good_drill"]["finished_at"] == drill["finished_at"]
    assert row["own_latest_drill"]["export_status"] == "succeeded"
    found = {
        (name, labels.get("export"), labels.get(name, "")): value
        for (name, pairs), value in metric_samples(metrics).items()
        for labels in [dict(pairs)]
    }
    good = found["redis_export_last_successful_drill_timestamp_seconds", "orders", ""]
    assert good == epoch(drill["finished_at"])
    assert found["redis_export_latest_drill_status", "orders", "succeeded"] == 1


@pytest.mark.parametrize(
    "garbage", ["[" * 100_000 + "]" * 100_000, '{"drill_status": "succ'], ids=["deep", "cut"]
)
def test_a_drill_record_that_is_garbage_is_an_unknown_latest_drill_not_a_crash(
    drilled: TerraformProject, garbage: str
) -> None:
    """status and its metrics read a drill record that is not a record (nested too deep
    for Python's parser, or cut short) as an unknown latest drill, a problem naming the
    file; the drill's last success in state still stands."""
    record = drilled.stack / ".results" / "drills" / "orders.json"
    record.write_text(garbage)
    metrics = drilled.root / "metrics.prom"
    _, data = status(drilled, "--prometheus", str(metrics))
    (row,) = data["exports"]
    assert row["own_latest_drill"]["export_status"] == "unknown"
    assert f"its latest restore drill unknown: {record} could not be read" in row["problem"]
    assert row["own_last_good_drill"]["finished_at"] == drills(drilled)["orders"]["finished_at"]
    found = {
        (name, dict(pairs).get(name, "")): value
        for (name, pairs), value in metric_samples(metrics).items()
    }
    assert found["redis_export_latest_drill_status", "unknown"] == 1


def test_a_scratch_database_rs_backs_up_fails_the_apply_before_any_import_until_allowed(
    scratch: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """RS's own scheduled backups on the scratch database (backup: true): the apply fails
    before any import, the scratch database's keys untouched (before, it was erased). Once
    the drill's table says erase_backed_up = true, the next apply drills it."""
    scratch.cluster.databases[SCRATCH_UID].backup = True
    before = keys_of(scratch, SCRATCH_UID)
    project.synth(tables(scratch, export_dir))
    project.init()
    result = project.apply("run-1", check=False)
    assert result.code != 0
    text = " ".join(result.text.split())
    assert "has RS scheduled backups on (backup: true)" in text
    assert "set erase_backed_up = true" in text
    assert scratch.cluster.imports_started() == 0
    assert keys_of(scratch, SCRATCH_UID) == before
    project.synth(tables(scratch, export_dir, erase_backed_up=True))
    project.apply("run-1")
    outcome = drills(project)["orders"]
    assert outcome["drill_status"] == "succeeded", outcome["message"]
    assert keys_of(scratch, SCRATCH_UID) == set(ORDERS)
    assert scratch.cluster.exports_started(1) == 1
