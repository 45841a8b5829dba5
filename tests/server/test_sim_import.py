"""The simulator's import: the file's data really lands in the database's redis-server.

An exported file imported into another database gives the same keys; a cut or altered
file fails with ``file-corrupted`` and leaves the data; the documented permissions,
statuses, 409s and the status reset. Other tests trust this import as their witness.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import ADMIN, ORDERS, PASSWORD, FakeClock
from redis_enterprise_export.simulator import SimCluster, Simulator
from redis_enterprise_export.simulator.roles import ROLES

STAGING = {"stale:1": "old", "stale:2": "old"}


def post(sim: Simulator, path: str, body: Any, user: str = ADMIN) -> requests.Response:
    method = "PUT" if path.endswith("_reset_status") else "POST"
    return requests.request(
        method,
        f"{sim.url}/v1/bdbs/{path}",
        auth=(user, PASSWORD),
        verify=str(sim.ca_path),
        json=body,
        timeout=10,
    )


def fields(sim: Simulator, uid: int) -> dict[str, Any]:
    answer = requests.get(
        f"{sim.url}/v1/bdbs/{uid}", auth=(ADMIN, PASSWORD), verify=str(sim.ca_path), timeout=10
    )
    data: dict[str, Any] = answer.json()
    return data


def wait_final(sim: Simulator, uid: int, key: str) -> dict[str, Any]:
    """The database once ``key`` (export_status, import_status) is final; bounded."""
    until = time.monotonic() + 30
    while time.monotonic() < until:
        data = fields(sim, uid)
        if data[key] in ("succeeded", "failed"):
            return data
        time.sleep(0.05)
    raise AssertionError(f"{key} of database {uid} never became final")


def export_file(sim: Simulator, export_dir: Path, uid: int = 1) -> Path:
    """Export database ``uid`` to ``export_dir`` as the cluster does; the file it wrote."""
    body = {"export_location": {"type": "mount_point", "path": str(export_dir)}}
    assert post(sim, f"{uid}/actions/export", body).status_code == 200
    assert wait_final(sim, uid, "export_status")["export_status"] == "succeeded"
    return sim.cluster.databases[uid].files[-1]


def source(path: Path) -> dict[str, Any]:
    return {"dataset_import_sources": [{"type": "mount_point", "path": str(path)}]}


def test_an_exported_file_imported_into_another_database_gives_the_same_keys(
    sim: Simulator, export_dir: Path
) -> None:
    """Export 'orders', import its file into 'staging': staging then holds exactly the
    exported keys, values, types and TTLs, and its own keys are gone (the import erases)."""
    orders = sim.cluster.databases[1].redis
    assert orders is not None
    orders.client.hset("customer:1", mapping={"name": "Ada", "tier": "gold"})
    orders.client.set("session:1", "x", ex=3600)
    staging = sim.add_database(3, "staging", data=STAGING)
    path = export_file(sim, export_dir)
    assert post(sim, "3/actions/import", source(path)).status_code == 200
    final = wait_final(sim, 3, "import_status")
    assert (final["import_status"], final["import_progress"]) == ("succeeded", 100.0)
    assert final["import_failure_reason"] == ""
    assert staging.client.mget(list(ORDERS)) == list(ORDERS.values())
    assert set(staging.client.keys()) == set(ORDERS) | {"customer:1", "session:1"}
    assert staging.client.hgetall("customer:1") == {"name": "Ada", "tier": "gold"}
    assert 0 < staging.client.ttl("session:1") <= 3600
    assert sim.cluster.imports_started(3) == 1
    assert sim.cluster.exports_started() == 1  # an import is not counted as an export


def test_an_uncompressed_rdb_and_several_files_load_together(
    sim: Simulator, tmp_path: Path
) -> None:
    """RS takes RDB or gzipped RDB, and one file per shard: both files' keys arrive."""
    one = sim.add_database(4, "one", data={"a": "1"})
    two = sim.add_database(5, "two", data={"b": "2"})
    plain = tmp_path / "one.rdb"
    plain.write_bytes(one.dump().read_bytes())
    gzipped = tmp_path / "two.rdb.gz"
    gzipped.write_bytes(gzip.compress(two.dump().read_bytes()))
    target = sim.add_database(6, "target", data=STAGING)
    sources = {"dataset_import_sources": [source(plain)["dataset_import_sources"][0],
                                          source(gzipped)["dataset_import_sources"][0]]}  # fmt: skip
    assert post(sim, "6/actions/import", sources).status_code == 200
    assert wait_final(sim, 6, "import_status")["import_status"] == "succeeded"
    assert sorted(target.client.keys()) == ["a", "b"]


def damaged(whole: bytes, how: str) -> bytes:
    if how == "gzip-truncated":
        return whole[: len(whole) // 2]
    rdb = gzip.decompress(whole)
    if how == "rdb-truncated":
        return rdb[: len(rdb) - 20]
    if how == "rdb-bit-flipped":
        flipped = bytearray(rdb)
        flipped[len(rdb) // 2] ^= 0x40
        return bytes(flipped)
    if how == "not-an-rdb":
        return b"<html>403 Forbidden</html>\n"
    assert how == "empty"
    return b""


@pytest.mark.parametrize(
    "how", ["gzip-truncated", "rdb-truncated", "rdb-bit-flipped", "not-an-rdb", "empty"]
)
def test_a_corrupt_or_truncated_file_fails_with_file_corrupted_and_keeps_the_data(
    sim: Simulator, export_dir: Path, how: str
) -> None:
    """A file cut short, altered or not an RDB fails with file-corrupted; the database keeps
    its data (ours: RS does not document what a failed import leaves)."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path = export_file(sim, export_dir)
    path.write_bytes(damaged(path.read_bytes(), how))
    assert post(sim, "3/actions/import", source(path)).status_code == 200
    final = wait_final(sim, 3, "import_status")
    assert (final["import_status"], final["import_failure_reason"]) == ("failed", "file-corrupted")
    assert staging.client.mget(list(STAGING)) == list(STAGING.values())
    assert staging.client.dbsize() == len(STAGING)


@pytest.mark.parametrize("missing", ["no-such-file.rdb.gz", ""])
def test_a_missing_file_or_a_folder_fails_with_download_error(
    sim: Simulator, export_dir: Path, missing: str
) -> None:
    """mount_point's path names the file: none there (or a folder) is a download-error."""
    assert post(sim, "1/actions/import", source(export_dir / missing)).status_code == 200
    final = wait_final(sim, 1, "import_status")
    assert (final["import_status"], final["import_failure_reason"]) == ("failed", "download-error")
    assert sim.cluster.databases[1].redis is not None
    assert sim.cluster.databases[1].redis.client.dbsize() == len(ORDERS)


def test_a_scripted_failure_reason_fails_the_import_midway(
    sim: Simulator, export_dir: Path
) -> None:
    """Scenario.import_fail_reason: the import fails with it, parameters and all."""
    sim.cluster.scenario.import_fail_reason = "file-larger-than-mem-limit:2048:1024"
    path = export_file(sim, export_dir)
    post(sim, "1/actions/import", source(path))
    final = wait_final(sim, 1, "import_status")
    assert final["import_failure_reason"] == "file-larger-than-mem-limit:2048:1024"


def test_an_import_that_loses_keys_succeeds_with_that_many_fewer(
    sim: Simulator, export_dir: Path
) -> None:
    """Scenario.import_loses_keys: the import succeeds and the database holds that many keys
    fewer than the file (the bench's drill whose counts disagree)."""
    sim.cluster.scenario.import_loses_keys = 2
    staging = sim.add_database(3, "staging", data=STAGING)
    path = export_file(sim, export_dir)
    assert post(sim, "3/actions/import", source(path)).status_code == 200
    assert wait_final(sim, 3, "import_status")["import_status"] == "succeeded"
    assert staging.client.dbsize() == len(ORDERS) - 2
    assert set(staging.client.keys()) < set(ORDERS)


def test_an_active_active_database_shows_crdt_and_merges_instead_of_erasing(
    sim: Simulator, export_dir: Path
) -> None:
    """crdt: true on the bdb; its import merges the file's keys with those there."""
    staging = sim.add_database(3, "aa", data=STAGING, crdt=True)
    assert (fields(sim, 3)["crdt"], fields(sim, 1)["crdt"]) == (True, False)
    post(sim, "3/actions/import", source(export_file(sim, export_dir)))
    assert wait_final(sim, 3, "import_status")["import_status"] == "succeeded"
    assert set(staging.client.keys()) == set(ORDERS) | set(STAGING)


# The status on the fake clock ----------------------------------------------------

S3 = {"type": "s3", "bucket_name": "b", "access_key_id": "a", "secret_access_key": "s",
      "filename": "orders.rdb.gz"}  # fmt: skip


@pytest.fixture
def model(cluster: SimCluster) -> SimCluster:
    cluster.scenario.import_seconds = 20.0
    return cluster


def shown(cluster: SimCluster, uid: int = 1) -> dict[str, Any]:
    keys = ["status", "import_status", "import_progress", "import_failure_reason"]
    body: dict[str, Any] = cluster.get_database(uid, keys).body
    return body


def test_an_import_goes_initializing_importing_succeeded_and_the_bdb_is_import_pending(
    model: SimCluster, clock: FakeClock
) -> None:
    """import_status "" -> initializing -> importing -> succeeded with import_progress rising,
    and the bdb's status import-pending meanwhile, active before and after (status.md)."""
    assert shown(model) == {"status": "active", "import_status": "", "import_progress": 0.0,
                            "import_failure_reason": ""}  # fmt: skip
    assert model.start_import(1, "admin", {"dataset_import_sources": [S3]}).status == 200
    seen = [shown(model)]
    for _ in range(4):
        clock.sleep(5.0)
        seen.append(shown(model))
    assert [s["import_status"] for s in seen] == ["initializing", "importing", "importing",
                                                  "importing", "succeeded"]  # fmt: skip
    assert [s["status"] for s in seen] == ["import-pending"] * 4 + ["active"]
    assert [s["import_progress"] for s in seen] == [0.0, 25.0, 50.0, 75.0, 100.0]


def test_the_reset_sets_idle_and_clears_the_reason_but_not_while_importing(
    model: SimCluster, clock: FakeClock
) -> None:
    """import_reset_status: 409 while an import runs; afterwards idle, reason and progress
    cleared (import_reset_status.md)."""
    model.scenario.import_fail_reason = "general-error"
    model.start_import(1, "admin", {"dataset_import_sources": [S3]})
    assert model.reset_import_status(1, "admin").status == 409
    clock.sleep(20.0)
    assert shown(model)["import_failure_reason"] == "general-error"
    assert model.reset_import_status(1, "admin").status == 200
    assert shown(model) == {"status": "active", "import_status": "idle", "import_progress": 0.0,
                            "import_failure_reason": ""}  # fmt: skip


def test_a_running_import_or_export_makes_the_other_actions_409(
    model: SimCluster, clock: FakeClock
) -> None:
    """One action at a time: an import or export POST while either runs is 409 busy."""
    export = {"export_location": {key: S3[key] for key in S3 if key != "filename"}}
    imported = {"dataset_import_sources": [S3]}
    assert model.start_import(1, "admin", imported).status == 200
    assert model.start_import(1, "admin", imported).status == 409
    assert model.start_export(1, "admin", export).status == 409
    clock.sleep(20.0)
    assert model.start_export(1, "admin", export).status == 200
    answer = model.start_import(1, "admin", imported)
    assert (answer.status, answer.body["error_code"]) == (409, "busy")
    model.scenario.conflicts = 1
    clock.sleep(20.0)
    assert model.start_import(1, "admin", imported).status == 409  # the scripted one
    assert model.start_import(1, "admin", imported).status == 200


def test_404_for_no_such_database_and_406_for_a_module_without_backup_restore(
    sim: Simulator,
) -> None:
    """As for the export: 404 db_not_exist, 406 unsupported_module_capabilities."""
    body = {"dataset_import_sources": [S3]}
    assert post(sim, "99/actions/import", body).json()["error_code"] == "db_not_exist"
    refused = post(sim, "2/actions/import", body)
    assert (refused.status_code, refused.json()["error_code"]) == (
        406, "unsupported_module_capabilities")  # fmt: skip
    assert post(sim, "99/actions/import_reset_status", {}).status_code == 404


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (None, "dataset_import_sources: expected a non-empty array"),
        ({"dataset_import_sources": []}, "dataset_import_sources: expected a non-empty array"),
        ({"dataset_import_sources": [S3], "export_location": S3}, "unknown attribute"),
        ({"dataset_import_sources": [{k: v for k, v in S3.items() if k != "filename"}]},
         "dataset_import_sources[0].filename is required"),
        ({"dataset_import_sources": [{"type": "mount_point"}]},
         "dataset_import_sources[0].path is required"),
        ({"dataset_import_sources": [{"type": "swift", "path": "/x"}]}, "is not supported"),
        ({"dataset_import_sources": [S3], "email_notification": "yes"}, "expected a boolean"),
    ],
)  # fmt: skip
def test_a_malformed_import_body_is_400(model: SimCluster, body: Any, problem: str) -> None:
    """dataset_import_sources as documented (filename for s3, gs, abs; path for
    mount_point) and only email_notification beside it; anything else is 400."""
    answer = model.start_import(1, "admin", body)
    assert answer.status == 400
    assert problem in answer.body["description"]
    assert model.databases[1].import_status == ""


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1).filter(lambda k: k not in ("dataset_import_sources",
                                                      "email_notification")))  # fmt: skip
def test_any_other_top_level_attribute_is_refused(name: str) -> None:
    """Any attribute beside those two is 400: "Other attributes are not allowed and will
    cause the request to fail" (import.md)."""
    model = SimCluster(clock=FakeClock().now)
    model.add_database(1, "orders")
    answer = model.start_import(1, "admin", {"dataset_import_sources": [S3], name: True})
    assert (answer.status, answer.body["description"]) == (400, f"unknown attribute {name}")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_import_and_its_reset_are_for_the_roles_the_permissions_table_names(
    model: SimCluster, clock: FakeClock, role: str
) -> None:
    """start_bdb_import and reset_bdb_current_import_status: admin, cluster_member,
    db_member (permissions.md); every other role gets 403 naming the permission."""
    allowed = role in {"admin", "cluster_member", "db_member"}
    started = model.start_import(1, role, {"dataset_import_sources": [S3]})
    clock.sleep(20.0)
    reset = model.reset_import_status(1, role)
    assert (started.status, reset.status) == ((200, 200) if allowed else (403, 403))
    if not allowed:
        assert started.body["description"] == "user lacks start_bdb_import"
        assert reset.body["description"] == "user lacks reset_bdb_current_import_status"


def test_the_simulated_import_time_grows_with_the_files_it_reads(
    model: SimCluster, clock: FakeClock, tmp_path: Path
) -> None:
    """import_bytes_per_second adds the source files' bytes / rate to each import's time,
    as export_bytes_per_second does for the exported data; a remote source reads as 0 bytes."""
    model.scenario.import_seconds = 1.0
    model.scenario.import_bytes_per_second = 1_000_000
    large = tmp_path / "large.rdb.gz"
    large.write_bytes(b"\0" * 3_000_000)
    model.add_database(3, "scratch")
    assert model.start_import(1, "admin", {"dataset_import_sources": [S3]}).status == 200
    assert model.start_import(3, "admin", source(large)).status == 200
    clock.sleep(2.0)
    assert shown(model, 1)["import_status"] == "succeeded"
    assert (shown(model, 3)["import_status"], shown(model, 3)["import_progress"]) == (
        "importing",
        50.0,
    )
    clock.sleep(2.1)
    assert shown(model, 3)["import_status"] != "importing"  # ended (the bytes are no RDB)


def test_the_simulator_records_how_long_its_own_loading_and_writing_took(
    sim: Simulator, export_dir: Path
) -> None:
    """Run.work_seconds: the wall time the simulator spent writing the export's file or
    loading the import's, which a real cluster would not spend at that moment (the bench
    reports it apart)."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path = export_file(sim, export_dir)
    post(sim, "3/actions/import", source(path))
    assert wait_final(sim, 3, "import_status")["import_status"] == "succeeded"
    export, load = sim.cluster.databases[1].export, sim.cluster.databases[3].load
    assert export is not None
    assert load is not None
    assert export.work_seconds > 0
    assert load.work_seconds > 0
    assert staging.client.dbsize() == len(ORDERS)
