"""Retention end to end: real ``terraform apply`` night after night against the
simulator, into a real folder and into moto's S3; old files go only after a newer
run is proven, and nothing the export did not write is ever touched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import AWS_KEY_ID, AWS_SECRET, MotoServer, TerraformProject
from helpers.day2 import day2, metric_samples, status
from helpers.tables import GOOD
from helpers.tables import tables as export_tables
from redis_enterprise_export.run.retention import MANIFEST_DIR
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e

BUCKET = "nightly-exports"
SUBDIR = "orders"
# A file RS's own schedule wrote into the same folder: named as RS names its files.
RS_BACKUP = "orders-1-20261201-030000-000000.rdb.gz"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def result(project: TerraformProject) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.stack / ".results" / "orders.json").read_text())
    return data


def nights(project: TerraformProject, first: int, last: int, listed: Any) -> list[list[str]]:
    """Apply one night each, from ``first`` to ``last``; what ``listed()`` showed after each."""
    seen = []
    for n in range(first, last + 1):
        project.apply(f"night-{n}")
        seen.append(listed())
    return seen


def test_nine_nights_with_keep_last_seven_leave_exactly_the_newest_seven_files(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """Nine successful nights: each night after the seventh deletes the oldest, and what
    is left is the newest seven files, as the result counts them."""
    project.synth(export_tables(sim, export_dir, retention={"keep_last": 7}))
    project.init()
    seen = nights(project, 1, 9, lambda: files_in(export_dir))
    assert [len(s) for s in seen] == [1, 2, 3, 4, 5, 6, 7, 7, 7]
    written = [s[-1] for s in seen]  # the names sort by time: the newest is last
    assert files_in(export_dir) == written[2:]
    record = result(project)
    assert record["export_status"] == "succeeded"
    assert record["pruned"] == [written[1]]
    assert record["retained_files"] == 7
    assert record["retained_bytes"] == sum((export_dir / f).stat().st_size for f in written[2:])
    assert record["oldest_retained"]
    assert record["retention_note"] == ""
    manifest = json.loads((export_dir / MANIFEST_DIR / "orders.json").read_text())
    assert [e["run_id"] for e in manifest["entries"]] == [f"night-{n}" for n in range(3, 10)]


def test_a_failed_night_deletes_nothing(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """A night whose export fails records nothing and deletes nothing: the newest proven
    file and everything the policy kept are still there."""
    project.synth(export_tables(sim, export_dir, retention={"keep_last": 1}))
    project.init()
    nights(project, 1, 2, lambda: None)
    before = files_in(export_dir)
    assert len(before) == 1
    sim.cluster.scenario.fail_reason = "general-error"
    failed = project.apply("night-3", check=False)
    assert failed.code != 0
    assert result(project)["export_status"] == "failed"
    assert files_in(export_dir) == before
    assert result(project)["pruned"] == []


def test_a_file_rs_own_schedule_wrote_into_the_same_folder_survives(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """RS's scheduled backup, named after the same database, is never the export's own:
    after three nights with keep_last = 1 it is still there beside the newest export."""
    (export_dir / RS_BACKUP).write_bytes(b"RS's own backup")
    project.synth(export_tables(sim, export_dir, retention={"keep_last": 1}))
    project.init()
    seen = nights(project, 1, 3, lambda: files_in(export_dir))
    newest = [f for f in seen[-1] if f != RS_BACKUP]
    assert files_in(export_dir) == sorted([RS_BACKUP, *newest])
    assert len(newest) == 1
    assert (export_dir / RS_BACKUP).read_bytes() == b"RS's own backup"


@pytest.fixture
def drilled(sim: Simulator, export_dir: Path, project: TerraformProject) -> TerraformProject:
    """keep_last = 1 on an export with a drill into a scratch database."""
    sim.add_database(3, "orders-drill", data={"leftover:1": "x"})
    sim.cluster.scenario.stats_interval_seconds = 0.2
    tables = export_tables(sim, export_dir, retention={"keep_last": 1})
    project.synth(tables | {"drills": {"orders": GOOD | {"timeout_seconds": 60}}})
    project.init()
    return project


def test_a_failed_drill_deletes_nothing_and_a_later_good_drill_prunes(
    drilled: TerraformProject, sim: Simulator, export_dir: Path
) -> None:
    """The export succeeds but its drill fails: its file is recorded unproven and nothing
    is deleted; the next night whose drill succeeds deletes both older files."""
    drilled.apply("night-1")
    (first,) = files_in(export_dir)
    drills = drilled.stack / ".results" / "drills" / "orders.json"
    assert json.loads(drills.read_text())["retained_files"] == 1
    sim.cluster.scenario.import_fail_reason = "out-of-memory"
    assert drilled.apply("night-2", check=False).code != 0
    assert json.loads(drills.read_text())["drill_status"] == "failed"
    two = files_in(export_dir)
    assert len(two) == 2
    assert first in two
    sim.cluster.scenario.import_fail_reason = None
    drilled.apply("night-3")
    (third,) = files_in(export_dir)
    assert third not in two
    record = json.loads(drills.read_text())
    assert record["drill_status"] == "succeeded"
    assert sorted(record["pruned"]) == two
    # The export's own record was written before its drill: nothing pruned there.
    assert result(drilled)["pruned"] == []


@pytest.fixture
def moto(tmp_path: Path, sim: Simulator) -> Iterator[MotoServer]:
    """moto's S3 with the bucket, which the simulator's exports write to."""
    server = MotoServer(tmp_path)
    server.create_bucket(BUCKET)
    sim.cluster.scenario.s3_endpoint_url = server.url
    yield server
    server.stop()


def keys(moto: MotoServer) -> list[str]:
    return sorted(moto.objects(BUCKET))


def test_nine_nights_on_s3_keep_the_newest_seven_and_a_failed_tenth_deletes_nothing(
    sim: Simulator, export_dir: Path, project: TerraformProject, moto: MotoServer
) -> None:
    """The same on S3 via moto: after nine nights the newest seven objects remain (and
    the manifest beside them); a tenth night that fails deletes nothing."""
    location = {"type": "s3", "bucket_name": BUCKET, "access_key_id": AWS_KEY_ID,
                "secret_access_key_env": "S3_SECRET", "subdir": SUBDIR,
                "region_name": "eu-west-1"}  # fmt: skip
    project.env |= {"S3_SECRET": AWS_SECRET, "AWS_ENDPOINT_URL_S3": moto.url}
    rs_backup = f"{SUBDIR}/{RS_BACKUP}"
    moto.client().put_object(Bucket=BUCKET, Key=rs_backup, Body=b"RS's own backup")
    tables = export_tables(sim, export_dir, location=location, retention={"keep_last": 7})
    project.synth(tables)
    project.init()
    manifest = f"{SUBDIR}/{MANIFEST_DIR}/orders.json"

    def exported() -> list[str]:
        return [k for k in keys(moto) if k not in (manifest, rs_backup)]

    seen = nights(project, 1, 9, exported)
    assert [len(s) for s in seen] == [1, 2, 3, 4, 5, 6, 7, 7, 7]
    written = [s[-1] for s in seen]
    assert exported() == written[2:]
    assert manifest in keys(moto)
    assert rs_backup in keys(moto)
    record = result(project)
    assert record["retained_files"] == 7
    assert record["pruned"] == [written[1].removeprefix(f"{SUBDIR}/")]
    assert AWS_SECRET not in json.dumps(record)
    sim.cluster.scenario.fail_reason = "general-error"
    assert project.apply("night-10", check=False).code != 0
    assert exported() == written[2:]
    assert rs_backup in keys(moto)


def test_status_the_summary_and_prometheus_show_what_the_policy_kept(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """After three nights with keep_last = 2: the job summary's row, status's kept column
    and JSON, and the retained gauges all say two files and their bytes."""
    summary = project.root / "summary.md"
    project.env["GITHUB_STEP_SUMMARY"] = str(summary)
    project.synth(export_tables(sim, export_dir, retention={"keep_last": 2}))
    project.init()
    nights(project, 1, 3, lambda: None)
    size = sum(p.stat().st_size for p in export_dir.iterdir() if p.is_file())
    last_row = summary.read_text().splitlines()[-1]
    assert f"kept 2 files, {size} bytes" in last_row
    assert "deleted 1: orders-1-" in last_row
    metrics = project.root / "metrics.prom"
    code, data = status(project, "--prometheus", str(metrics))
    assert code == 0, data
    (row,) = data["exports"]
    assert row["own_latest"]["retained_files"] == 2
    assert row["own_latest"]["retained_bytes"] == size
    found = {(name, dict(pairs).get("export")): value
             for (name, pairs), value in metric_samples(metrics).items()}  # fmt: skip
    assert found["redis_export_retained_files", "orders"] == 2
    assert found["redis_export_retained_bytes", "orders"] == size
    _, text, _ = day2("status", "--config", str(project.config), "--stack", str(project.stack))
    assert "kept" in text.splitlines()[0]
    assert f"2 files, {size} bytes, oldest " in text
