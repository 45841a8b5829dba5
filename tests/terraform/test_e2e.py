"""End to end: real `terraform init` / `apply` of the synthesized stack against the simulator."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from helpers import ORDERS, PASSWORD, VIEWER, TerraformProject
from helpers.tables import tables
from redis_enterprise_export.simulator import RedisServer, Simulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def applied(sim: Simulator, export_dir: Path, project: TerraformProject) -> TerraformProject:
    """The demo's shape: one export, synthesized, initialized and applied once."""
    project.synth(tables(sim, export_dir))
    project.init()
    project.apply("run-1")
    return project


def test_apply_exports_once_and_records_the_outcome_in_state(
    applied: TerraformProject, sim: Simulator
) -> None:
    """One apply starts one export and keeps its outcome in the exports output, in state."""
    outputs = applied.outputs()["orders"]
    assert outputs["export_status"] == "succeeded"
    assert outputs["export_progress"] == 100
    assert outputs["export_failure_reason"] == ""
    assert outputs["database_uid"] == 1
    assert outputs["run_id"] == "run-1"
    assert outputs["started_at"] <= outputs["finished_at"]
    assert sim.cluster.exports_started(1) == 1
    state_outputs = applied.state()["outputs"]["exports"]["value"]
    assert state_outputs["orders"]["export_status"] == "succeeded"


def test_init_downloads_nothing(applied: TerraformProject) -> None:
    """terraform init fetches no provider: the stack uses built-in resources only."""
    assert not (applied.stack / ".terraform" / "providers").exists()


def test_unchanged_inputs_plan_no_changes(applied: TerraformProject, sim: Simulator) -> None:
    """Same inputs and run_id: plan shows no changes, and apply exports nothing."""
    assert applied.plan_changes("run-1") == 0
    applied.apply("run-1")
    assert sim.cluster.exports_started(1) == 1


def test_a_plan_or_apply_without_a_run_id_after_a_run_changes_nothing(
    applied: TerraformProject, sim: Simulator
) -> None:
    """After an apply with -var run_id, a plain plan (a PR plan, a drift check) shows no
    changes, and a plain apply exports nothing: the last run id is read back from state.
    Before, every export showed as replaced."""
    assert applied.plan_changes(None) == 0
    applied.terraform("apply", "-auto-approve", "-no-color")
    assert sim.cluster.exports_started(1) == 1
    assert applied.outputs()["orders"]["run_id"] == "run-1"
    assert applied.plan_changes("run-2") == 2


def test_a_first_plan_without_a_run_id_plans_every_export(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """No state yet: a plain plan works (no run id to read back) and plans the exports."""
    project.synth(tables(sim, export_dir))
    project.init()
    assert project.plan_changes(None) == 2


@pytest.fixture
def partly_failed(sim: Simulator, export_dir: Path, project: TerraformProject) -> TerraformProject:
    """Two exports of one database applied with r1, then r2 failing the first to post."""
    location = {"type": "mount_point", "path": str(export_dir)}
    config = tables(sim, export_dir)
    config["exports"]["orders_offsite"] = {"cluster": "sim", "database": 1, "location": location}
    project.synth(config)
    project.init()
    project.apply("r1")
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    assert project.apply("r2", check=False).code != 0
    return project


def failed_and_other(project: TerraformProject) -> tuple[str, str]:
    """Which of the two exports failed in the last run (whichever posted first)."""
    latest = {
        path.stem: json.loads(path.read_text())["export_status"]
        for path in (project.stack / ".results").glob("*.json")
    }
    (failed,) = [name for name, status in latest.items() if status == "failed"]
    (other,) = [name for name in latest if name != failed]
    return failed, other


def test_after_a_partial_failure_exports_shows_each_exports_own_latest_outcome(
    partly_failed: TerraformProject,
) -> None:
    """Run r2 fails one of two exports: the exports output shows the failed one's r2
    failure with its r1 success beside it, and the other's r2 success. Before, it kept r1
    for both (an output over a failed resource is not saved)."""
    failed, other = failed_and_other(partly_failed)
    exports = partly_failed.outputs()
    assert (exports[failed]["export_status"], exports[failed]["run_id"]) == ("failed", "r2")
    assert exports[failed]["export_failure_reason"] == "general-error"
    last = exports[failed]["last_success"]
    assert (last["export_status"], last["run_id"]) == ("succeeded", "r1")
    assert (exports[other]["export_status"], exports[other]["run_id"]) == ("succeeded", "r2")
    assert exports[other]["last_success"]["run_id"] == "r2"


def test_after_a_partial_failure_a_plain_plan_reruns_only_the_failed_export(
    partly_failed: TerraformProject, sim: Simulator
) -> None:
    """Run r2 fails one of two exports: a plain plan replaces the failed one's resources
    only; applying it exports that one again, and then a plain plan shows no changes."""
    failed, other = failed_and_other(partly_failed)
    plan = partly_failed.terraform("plan", "-no-color").stdout
    actions = [
        line.strip() for line in plan.splitlines() if line.strip().startswith("# terraform_data")
    ]
    assert actions, plan
    assert all(line.startswith(f"# terraform_data.{failed}_") for line in actions), actions
    assert any(
        line.startswith(f"# terraform_data.{failed}_export_") and "must be replaced" in line
        for line in actions
    ), actions
    started = sim.cluster.exports_started(1)
    partly_failed.terraform("apply", "-auto-approve", "-no-color")
    assert sim.cluster.exports_started(1) == started + 1
    exports = partly_failed.outputs()
    assert exports[failed]["export_status"] == exports[other]["export_status"] == "succeeded"
    assert exports[failed]["last_success"]["run_id"] == "r2"
    assert partly_failed.plan_changes(None) == 0


def test_a_failed_export_keeps_its_last_success_in_state(
    partly_failed: TerraformProject,
) -> None:
    """Run r2 fails one of two exports: state's last successes are the failed one's r1
    (create-before-destroy: the failed apply never dropped it) and the other's r2, while
    the latest records are both r2's."""

    def records(kind: str) -> dict[str, tuple[str, str]]:
        return {
            record["name"]: (record["run_id"], record["export_status"])
            for resource in partly_failed.state()["resources"]
            if f"_{kind}_" in resource["name"]
            for instance in resource["instances"]
            if "deposed" not in instance  # the next apply destroys a deposed object
            for record in [json.loads(instance["attributes"]["output"]["value"])]
        }

    failed, other = failed_and_other(partly_failed)
    assert records("last_success") == {failed: ("r1", "succeeded"), other: ("r2", "succeeded")}
    assert records("result") == {failed: ("r2", "failed"), other: ("r2", "succeeded")}


def test_a_first_night_failure_shows_in_exports(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """An export that fails on the stack's first apply shows in the exports output, failed,
    with no last success; before, it was absent."""
    sim.cluster.scenario.fail_reason = "general-error"
    project.synth(tables(sim, export_dir))
    project.init()
    assert project.apply("r1", check=False).code != 0
    orders = project.outputs()["orders"]
    assert (orders["export_status"], orders["run_id"]) == ("failed", "r1")
    assert orders["last_success"] is None


def test_a_new_run_id_exports_again_exactly_once(applied: TerraformProject, sim: Simulator) -> None:
    """A new run_id exports again exactly once, and the output records that run_id."""
    assert applied.plan_changes("run-2") == 2
    applied.apply("run-2")
    assert sim.cluster.exports_started(1) == 2
    assert applied.outputs()["orders"]["run_id"] == "run-2"


def test_changed_export_inputs_export_again(
    applied: TerraformProject, sim: Simulator, export_dir: Path
) -> None:
    """A changed export input (email_notification) exports again, with the new body."""
    applied.synth(tables(sim, export_dir, email_notification=True))
    applied.apply("run-1")
    assert sim.cluster.exports_started(1) == 2
    assert sim.cluster.export_bodies[-1]["email_notification"] is True


def test_a_second_checkout_sharing_the_state_plans_no_changes(
    applied: TerraformProject, tmp_path: Path
) -> None:
    """A runner with the state but none of the helper's files plans no changes, same outputs."""
    other = tmp_path / "other-checkout"
    other.mkdir()
    shutil.copy(applied.stack / "cdk.tf.json", other)
    state = applied.stack / "terraform.tfstate"
    applied.init(f"-backend-config=path={state}", cwd=other)
    assert not (other / ".results").exists()
    assert applied.plan_changes("run-1", cwd=other) == 0
    assert applied.outputs(cwd=other) == applied.outputs()


def test_destroy_never_calls_the_cluster(applied: TerraformProject, sim: Simulator) -> None:
    """terraform destroy sends no request to the cluster."""
    requests_before = len(sim.cluster.log)
    applied.terraform("destroy", "-auto-approve", "-no-color", "-var=run_id=run-1")
    assert len(sim.cluster.log) == requests_before


def test_the_exported_rdb_restores_into_a_fresh_redis(
    applied: TerraformProject, sim: Simulator, tmp_path: Path
) -> None:
    """The export's file is a gzipped RDB that restores every key and value."""
    files = sim.cluster.databases[1].files
    assert len(files) == 1
    rdb = tmp_path / "restored.rdb"
    with gzip.open(files[0]) as src, rdb.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    with RedisServer(tmp_path / "fresh", rdb=rdb) as fresh:
        keys = fresh.client.keys("*")
        assert len(keys) == len(ORDERS)
        assert dict(zip(keys, fresh.client.mget(keys), strict=True)) == ORDERS


def test_409_then_success(sim: Simulator, export_dir: Path, project: TerraformProject) -> None:
    """409s are retried and counted in the output; the export starts once."""
    sim.cluster.scenario.conflicts = 2
    project.synth(tables(sim, export_dir))
    project.init()
    result = project.apply()
    assert "busy (409); retrying in" in result.stdout
    outputs = project.outputs()["orders"]
    assert outputs["export_status"] == "succeeded"
    assert outputs["conflicts"] == 2
    assert sim.cluster.exports_started(1) == 1


@pytest.mark.parametrize(
    ("database", "env", "expected"),
    [
        (
            2,
            {},
            "406 (unsupported_module_capabilities: module legacy-index does not support "
            "backup_restore). A module loaded in this database lacks the backup_restore capability",
        ),
        (99, {}, "404 (db_not_exist: database 99 does not exist). No such database"),
        (
            1,
            {"REDIS_ENTERPRISE_USER": VIEWER},
            f"403 (insufficient_permissions: user lacks "
            f"start_bdb_export). User '{VIEWER}' lacks the start_bdb_export permission",
        ),
    ],
    ids=["406", "404", "403"],
)
def test_a_refused_export_fails_the_apply_with_what_to_do(
    sim: Simulator,
    export_dir: Path,
    project: TerraformProject,
    database: int,
    env: dict[str, str],
    expected: str,
) -> None:
    """A refusal fails the apply with the cause and the fix, starts nothing, shows no password."""
    project.env |= env
    project.synth(tables(sim, export_dir, database=database))
    project.init()
    result = project.apply(check=False)
    assert result.code != 0
    assert expected in " ".join(result.text.split())
    assert sim.cluster.exports_started() == 0
    assert PASSWORD not in result.text


def test_a_failed_export_fails_the_apply_and_the_next_apply_exports_again(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """A failed export fails the apply, saying why; the next apply exports again."""
    sim.cluster.scenario.fail_reason = "no-permission"
    project.synth(tables(sim, export_dir))
    project.init()
    failed = project.apply(check=False)
    assert failed.code != 0
    assert "export_failure_reason 'no-permission'" in " ".join(failed.text.split())
    record = json.loads((project.stack / ".results" / "orders.json").read_text())
    assert (record["export_status"], record["export_failure_reason"]) == ("failed", "no-permission")

    sim.cluster.scenario.fail_reason = None
    project.apply()
    assert project.outputs()["orders"]["export_status"] == "succeeded"
    assert sim.cluster.exports_started(1) == 2


@pytest.mark.parametrize("path", ["st ${x} %{ if true }y.tfstate", "state-😀 é.tfstate", "/ABS"])
def test_the_run_id_is_read_back_from_a_state_path_of_any_spelling(
    sim: Simulator, export_dir: Path, project: TerraformProject, path: str
) -> None:
    """[state] path with template sequences, a character beyond U+FFFF, or absolute: the
    state file has exactly that name, and a plain plan after an apply shows no changes
    (before: the backend wrote '$${x}', and a non-BMP path failed every plan)."""
    if path == "/ABS":
        path = str(project.root / "elsewhere" / "exports.tfstate")
    state = f'[state]\nbackend = "local"\npath = {json.dumps(path, ensure_ascii=False)}\n'
    project.synth(tables(sim, export_dir), extra=state)
    project.init()
    project.apply("r1")
    assert (project.stack / path).is_file()
    assert project.plan_changes(None) == 0


def test_the_run_id_is_read_back_in_the_workspace_being_planned(
    applied: TerraformProject, sim: Simulator
) -> None:
    """In a second workspace, applied with its own run id, a plain plan keeps that one
    (before: it read the default workspace's, and planned every export replaced)."""
    applied.terraform("workspace", "new", "-no-color", "b")
    applied.apply("run-b")
    assert applied.plan_changes(None) == 0
    applied.terraform("workspace", "select", "-no-color", "default")
    assert applied.plan_changes(None) == 0
    assert sim.cluster.exports_started(1) == 2


def test_a_failed_retry_keeps_the_last_success(
    partly_failed: TerraformProject, sim: Simulator
) -> None:
    """Run r2 fails one export and its retry fails too: its r1 success is still in state
    and in the exports output (a success left deposed would be destroyed by the retry)."""
    failed, _ = failed_and_other(partly_failed)
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    assert partly_failed.terraform("apply", "-auto-approve", "-no-color", check=False).code != 0
    assert partly_failed.outputs()[failed]["last_success"]["run_id"] == "r1"
    assert partly_failed.outputs()[failed]["export_status"] == "failed"
    successes = [
        json.loads(instance["attributes"]["output"]["value"])
        for resource in partly_failed.state()["resources"]
        if resource["name"].startswith(f"{failed}_last_success_")
        for instance in resource["instances"]
        if "deposed" not in instance
    ]
    assert [record["run_id"] for record in successes] == ["r1"]


def test_a_helper_that_fails_by_itself_leaves_the_others_reruns_intact(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """Run r2: one export's helper cannot write its record (it fails by itself, tainted)
    while the other's export fails on the cluster. A plain plan then still plans (before,
    the failed one's check failed the plan: its rerun key sat in an output over both) and
    reruns both; applying it exports both."""
    location = {"type": "mount_point", "path": str(export_dir)}
    config = tables(sim, export_dir)
    config["exports"]["orders_offsite"] = {"cluster": "sim", "database": 1, "location": location}
    project.synth(config)
    project.init()
    project.apply("r1")
    unwritable = project.stack / ".results" / "orders_offsite.json"
    unwritable.unlink()
    unwritable.mkdir()  # its record cannot be written: the helper exits non-zero
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    assert project.apply("r2", check=False).code != 0
    assert (
        json.loads((project.stack / ".results" / "orders.json").read_text())["export_status"]
        == "failed"
    )
    unwritable.rmdir()
    plan = project.terraform("plan", "-no-color", check=False)
    assert plan.code == 0, plan.text
    for name in ("orders", "orders_offsite"):
        assert f"# terraform_data.{name}_export_" in plan.stdout, plan.stdout
    started = sim.cluster.exports_started(1)
    project.terraform("apply", "-auto-approve", "-no-color")
    assert sim.cluster.exports_started(1) == started + 2
    assert {e["export_status"] for e in project.outputs().values()} == {"succeeded"}
