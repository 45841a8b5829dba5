"""A real-Terraform project: a config file, its synthesized stack, and terraform runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ADMIN, PASSWORD, REPO, STACK, VENV_BIN
from .toml import toml_text


def terraform_env(**extra: str) -> dict[str, str]:
    """Terraform quiet and offline, the venv's python3 first on PATH, credentials set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_ENTERPRISE_", "REDIS_EXPORT_", "TF_VAR_"))
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        CHECKPOINT_DISABLE="1",
        TF_INPUT="0",
        TF_IN_AUTOMATION="1",
        TF_CLI_CONFIG_FILE=str(REPO / "tools" / "terraform.rc"),
        REDIS_ENTERPRISE_USER=ADMIN,
        REDIS_ENTERPRISE_PASSWORD=PASSWORD,
    )
    env.update(extra)
    return env


def run_main(
    config: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python main.py`` on ``config``, as ``cdktf synth`` runs it, in ``cwd``."""
    return subprocess.run(
        [sys.executable, str(REPO / "main.py")],
        cwd=cwd,
        env=dict(env or terraform_env()) | {"REDIS_EXPORT_CONFIG": str(config)},
        capture_output=True,
        text=True,
        check=False,
    )


@dataclass
class TerraformProject:
    """A config file, its synthesized stack, and real terraform runs in it."""

    root: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return self.root / "exports.toml"

    @property
    def stack(self) -> Path:
        return self.root / "cdktf.out" / "stacks" / STACK

    def synth(self, tables: Mapping[str, Mapping[str, Mapping[str, Any]]], extra: str = "") -> Path:
        """Write the config (``extra`` is appended TOML text) and run main.py on it."""
        self.config.write_text(toml_text(tables) + extra)
        run = run_main(self.config, self.root, self.env)
        assert run.returncode == 0, run.stderr
        return self.stack

    def terraform(self, *args: str, check: bool = True, cwd: Path | None = None) -> Result:
        run = subprocess.run(
            ["terraform", *args],
            cwd=cwd or self.stack,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        result = Result(run.returncode, run.stdout, run.stderr)
        if check:
            assert run.returncode == 0, f"terraform {args[0]} failed:\n{run.stdout}\n{run.stderr}"
        return result

    def init(self, *args: str, cwd: Path | None = None) -> Result:
        return self.terraform("init", "-input=false", "-no-color", *args, cwd=cwd)

    def start_state(self, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``start-state`` in the stack (or ``cwd``), as a pipeline runs it after init."""
        return subprocess.run(
            [sys.executable, "-m", "redis_enterprise_export", "start-state",
             "--stack", str(cwd or self.stack)],
            env=self.env, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip

    def apply(self, run_id: str = "run-1", *, check: bool = True) -> Result:
        return self.terraform(
            "apply", "-auto-approve", "-no-color", f"-var=run_id={run_id}", check=check
        )

    def plan_changes(self, run_id: str | None = "run-1", cwd: Path | None = None) -> int:
        """Terraform's -detailed-exitcode: 0 no changes, 2 changes. ``run_id`` None: a
        plain plan, as a PR check or a drift check runs it."""
        given = [] if run_id is None else [f"-var=run_id={run_id}"]
        result = self.terraform(
            "plan", "-detailed-exitcode", "-no-color", *given, check=False, cwd=cwd
        )
        assert result.code in (0, 2), result.stderr
        return result.code

    def outputs(self, cwd: Path | None = None) -> dict[str, Any]:
        exports: dict[str, Any] = json.loads(
            self.terraform("output", "-json", "exports", cwd=cwd).stdout
        )
        return exports

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.stack / "terraform.tfstate").read_text())
        return state


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def checkout(project: TerraformProject, name: str) -> Path:
    """Another CI runner's copy of the synthesized stack, initialized against the shared state."""
    path = project.root / name
    path.mkdir()
    shutil.copy(project.stack / "cdk.tf.json", path)
    project.init(cwd=path)
    started = project.start_state(cwd=path)
    assert started.returncode == 0, started.stderr
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
