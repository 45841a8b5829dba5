"""A ``pg`` stack applied nightly with ``-var run_id``, as the examples run it: its
``exports`` output is each export's own latest outcome, from the first night on.

The stack reads its previous outputs back from its own state on every plan, so the
state must exist before the first one: ``start-state`` starts it, and never touches
one that exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import PostgresServer, TerraformProject
from helpers.tables import tables
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_project(
    sim: Simulator, export_dir: Path, project: TerraformProject, postgres: PostgresServer
) -> TerraformProject:
    """Two exports of one database, state in PostgreSQL, synthesized and initialized."""
    project.env["PG_CONN_STR"] = postgres.conn_str
    schema = f"outputs_{project.root.parent.name.replace('-', '_')}"
    location = {"type": "mount_point", "path": str(export_dir)}
    project.synth(
        {
            "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
            "exports": {
                "orders": {"cluster": "sim", "database": 1, "location": location},
                "orders_offsite": {"cluster": "sim", "database": 1, "location": location},
            },
        },
        extra=f'[state]\nbackend = "pg"\nschema_name = "{schema}"\n',
    )
    project.init()
    return project


def latest(project: TerraformProject) -> dict[str, str]:
    """Each export's status in its result file, this runner's latest attempt."""
    return {
        path.stem: json.loads(path.read_text())["export_status"]
        for path in (project.stack / ".results").glob("*.json")
    }


def pulled(project: TerraformProject) -> dict[str, Any]:
    """The state as pulled; its check results sorted, as Terraform lists them in no fixed
    order from one pull of a state to the next."""
    state: dict[str, Any] = json.loads(project.terraform("state", "pull").stdout)
    if isinstance(state.get("check_results"), list):
        state["check_results"].sort(key=lambda check: json.dumps(check, sort_keys=True))
    return state


def test_a_first_night_partial_failure_with_a_run_id_shows_in_exports(
    pg_project: TerraformProject, sim: Simulator
) -> None:
    """First night, -var run_id, pg state, one of two exports failing: the apply fails,
    and exports shows the failed one failed with no last success and the other's
    success. Before, the stack read no previous outputs on an apply given a run id, and
    a failed apply left exports as it was: absent on a first night."""
    assert pg_project.start_state().returncode == 0
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    assert pg_project.apply("r1", check=False).code != 0
    (failed,) = [name for name, status in latest(pg_project).items() if status == "failed"]
    exports = pg_project.outputs()
    assert (exports[failed]["export_status"], exports[failed]["run_id"]) == ("failed", "r1")
    assert exports[failed]["last_success"] is None
    (other,) = [name for name in exports if name != failed]
    assert exports[other]["export_status"] == "succeeded"
    assert exports[other]["last_success"]["run_id"] == "r1"


def test_a_later_night_partial_failure_with_a_run_id_keeps_the_last_success_beside_it(
    pg_project: TerraformProject, sim: Simulator
) -> None:
    """Night r1 succeeds, night r2 (-var run_id) fails one export: exports shows its r2
    failure with its r1 success beside it; a plain plan then reruns only that one."""
    assert pg_project.start_state().returncode == 0
    pg_project.apply("r1")
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    assert pg_project.apply("r2", check=False).code != 0
    (failed,) = [name for name, status in latest(pg_project).items() if status == "failed"]
    exports = pg_project.outputs()
    assert (exports[failed]["export_status"], exports[failed]["run_id"]) == ("failed", "r2")
    assert exports[failed]["last_success"]["run_id"] == "r1"
    plan = pg_project.terraform("plan", "-no-color").stdout
    replaced = [line.strip() for line in plan.splitlines() if "must be replaced" in line]
    assert replaced, plan
    assert all(line.startswith(f"# terraform_data.{failed}_") for line in replaced), replaced


def test_a_first_plan_without_a_started_state_fails_naming_what_terraform_could_not_find(
    pg_project: TerraformProject, sim: Simulator
) -> None:
    """Without start-state, the first plan fails, and exports nothing: Terraform's words,
    which the docs quote."""
    run = pg_project.apply("r1", check=False)
    assert run.code != 0
    assert "Unable to find remote state" in run.text
    assert sim.cluster.exports_started(1) == 0


def test_start_state_never_touches_a_state_that_exists(
    pg_project: TerraformProject, sim: Simulator
) -> None:
    """After an apply, start-state leaves the state as it was (an empty lineage pushed
    over it would have replaced it: Terraform allows that), and says so."""
    assert pg_project.start_state().returncode == 0
    pg_project.apply("r1")
    before = pulled(pg_project)
    again = pg_project.start_state()
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout
    assert pulled(pg_project) == before
    assert pg_project.plan_changes("r1") == 0


def test_two_runners_starting_one_state_at_once_both_succeed_with_one_state(
    pg_project: TerraformProject,
) -> None:
    """Two start-state runs at once on one pg state: both exit 0, one state results."""
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_enterprise_export",
                "start-state",
                "--stack",
                str(pg_project.stack),
            ],
            env=pg_project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [(run.wait(timeout=300), run.communicate()) for run in runs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    assert pulled(pg_project)["lineage"]
    assert pg_project.start_state().stdout.startswith("the stack's state exists")


def test_start_state_outside_a_stack_is_one_line_and_writes_nothing(
    project: TerraformProject, tmp_path: Path
) -> None:
    """A folder with no synthesized stack: exit 2, one line naming --stack, no state file."""
    empty = tmp_path / "not-a-stack"
    empty.mkdir()
    run = project.start_state(cwd=empty)
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "--stack" in run.stderr
    assert "cdk.tf.json" in run.stderr
    assert list(empty.iterdir()) == []


def test_start_state_on_a_local_stack_does_nothing(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """A local state is read even before it exists: nothing to start, no file written."""
    project.synth(tables(sim, export_dir))
    project.init()
    run = project.start_state()
    assert run.returncode == 0, run.stderr
    assert "nothing to do" in run.stdout
    assert not (project.stack / "terraform.tfstate").exists()
