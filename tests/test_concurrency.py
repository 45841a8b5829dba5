"""Two pipelines at once on one shared state: Terraform's lock holds, one export per run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import PostgresServer, Result, TerraformProject
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e


def checkout(project: TerraformProject, name: str) -> Path:
    """Another CI runner's copy of the synthesized stack, initialized against the shared state."""
    path = project.root / name
    path.mkdir()
    shutil.copy(project.stack / "cdk.tf.json", path)
    project.init(cwd=path)
    return path


def apply_together(project: TerraformProject, checkouts: list[Path], run_id: str) -> list[Result]:
    runs = [
        subprocess.Popen(
            [
                "terraform",
                "apply",
                "-auto-approve",
                "-no-color",
                "-lock-timeout=120s",
                f"-var=run_id={run_id}",
            ],
            cwd=path,
            env=project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in checkouts
    ]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        results.append(Result(run.returncode, out, err))
    return results


def test_two_applies_at_once_on_pg_state_export_each_database_once_per_run_id(
    sim: Simulator, export_dir: Path, project: TerraformProject, postgres: PostgresServer
) -> None:
    """Two applies at once on shared pg state both succeed; each export runs once per run_id."""
    sim.cluster.scenario.export_seconds = 1.0
    project.env["PG_CONN_STR"] = postgres.conn_str
    schema = f"exports_{project.root.parent.name.replace('-', '_')}"
    location = {"type": "mount_point", "path": str(export_dir)}
    project.synth(
        {
            "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
            "exports": {
                "orders": {"cluster": "sim", "database": 1, "location": location},
                "orders_again": {"cluster": "sim", "database": "orders", "location": location},
            },
        },
        extra=f'[state]\nbackend = "pg"\nschema_name = "{schema}"\n',
    )
    stack = (project.stack / "cdk.tf.json").read_text()
    assert postgres.conn_str not in stack
    assert '"pg"' in stack

    first, second = checkout(project, "runner-a"), checkout(project, "runner-b")
    for run_id, expected in (("r1", 2), ("r2", 4)):
        results = apply_together(project, [first, second], run_id)
        assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
        assert sim.cluster.exports_started(1) == expected
    assert any("Acquiring state lock" in r.stdout for r in results)
    # A plain plan reads the last run id back from PostgreSQL: no changes.
    assert project.plan_changes(None, cwd=first) == 0
