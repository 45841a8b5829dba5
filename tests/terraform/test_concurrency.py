"""Two pipelines at once on one shared state: Terraform's lock holds, one export per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import PostgresServer, TerraformProject
from helpers.terraform import apply_together, checkout
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e


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
