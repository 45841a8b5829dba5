"""The day-2 commands run as a person runs them, and what they print, read back."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from helpers.common import PASSWORD
from helpers.helper_process import S3_SECRET
from helpers.terraform import TerraformProject, terraform_env
from helpers.toml import toml_text
from redis_enterprise_export.simulator import Simulator

S3 = {
    "type": "s3",
    "bucket_name": "b",
    "access_key_id": "AKIA",
    "secret_access_key_env": "S3_SECRET",
}


def config(
    tmp_path: Path, sims: dict[str, Simulator], exports: dict[str, dict[str, Any]], **cluster: Any
) -> Path:
    """A config over ``sims`` (cluster name -> simulator) with ``exports``."""
    path = tmp_path / "exports.toml"
    path.write_text(toml_text({
        "clusters": {name: {"url": sim.url, "ca_cert": str(sim.ca_path)} | cluster
                     for name, sim in sims.items()},
        "exports": {name: {"cluster": "sim", "location": S3} | table
                    for name, table in exports.items()},
    }))  # fmt: skip
    return path


def day2(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    run = subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", *argv],
        env=terraform_env(S3_SECRET=S3_SECRET) | (env or {}),
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in run.stdout + run.stderr
    assert PASSWORD not in run.stdout + run.stderr
    assert S3_SECRET not in run.stdout + run.stderr
    return run.returncode, run.stdout, run.stderr


def checks(out: str) -> dict[tuple[str, str], dict[str, str]]:
    """The JSON checks keyed by (export, or "cluster NAME" for a cluster's own, check)."""
    rows = json.loads(out)
    return {(row["export"] or f"cluster {row['cluster']}", row["check"]): row for row in rows}


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def status(project: TerraformProject, *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = day2(
        "status", "--json", "--config", str(project.config), "--stack", str(project.stack), *argv
    )
    assert out, err
    return code, json.loads(out)


def metric_samples(path: Path) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
