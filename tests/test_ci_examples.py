"""The CI examples are valid pipelines, and their commands export against the simulator.

The linter is check-jsonschema with its vendored GitHub Actions and GitLab CI
schemas (offline). The harness reads each example's shell commands, sets the
variables the CI system would, and runs them in a temporary checkout; only the
install step (which builds a venv and downloads Terraform) is left out: the
tests' own venv and Terraform stand in for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import REPO, VENV_BIN, terraform_env, toml_text
from redis_enterprise_export.simulator import Simulator

EXAMPLES = REPO / "examples"
GITHUB = EXAMPLES / "github-actions.yml"
GITLAB = EXAMPLES / "gitlab-ci.yml"
SCHEMAS = {GITHUB: "vendor.github-workflows", GITLAB: "vendor.gitlab-ci"}


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", SCHEMAS[path], str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_examples_pass_their_ci_systems_schema(example: Path) -> None:
    """check-jsonschema with the CI system's vendored schema accepts the example."""
    run = lint(example)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("example", "breakage"),
    [
        (GITHUB, ("runs-on: ubuntu-latest", "runs_on: ubuntu-latest")),
        (GITLAB, ("when: always", "when: sometimes")),
    ],
    ids=["github", "gitlab"],
)
def test_the_linter_rejects_a_broken_pipeline(
    tmp_path: Path, example: Path, breakage: tuple[str, str]
) -> None:
    """The same lint fails on the example with one key or value broken, so it can fail."""
    broken = tmp_path / example.name
    text = example.read_text()
    assert breakage[0] in text
    broken.write_text(text.replace(breakage[0], breakage[1]))
    run = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", SCHEMAS[example], str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0


def github_steps() -> tuple[dict[str, str], list[tuple[str, str | None]]]:
    """The workflow's env and its shell steps as (command, working directory), install left out."""
    workflow = load(GITHUB)
    job = workflow["jobs"]["export"]
    env = {**workflow.get("env", {}), **job.get("env", {})}
    env = {k: v for k, v in env.items() if "${{" not in str(v)}  # secrets: the test sets them

    def expand(text: str) -> str:
        return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], text)

    steps = [
        (step["run"], expand(step["working-directory"]) if "working-directory" in step else None)
        for step in job["steps"]
        if "run" in step and step.get("id") != "install"
    ]
    return env, steps


def gitlab_steps() -> tuple[dict[str, str], list[tuple[str, str | None]]]:
    """The job's variables, and its script and after_script, each as one shell session."""
    pipeline = load(GITLAB)
    job = pipeline["redis-exports"]
    env = {k: str(v) for k, v in pipeline["variables"].items()}
    return env, [("\n".join(job["script"]), None), ("\n".join(job["after_script"]), None)]


def checkout(tmp_path: Path, sim: Simulator, export_dir: Path) -> Path:
    """A repository as a user of the example keeps it: main.py and an exports.toml."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "main.py", root)
    location = {"type": "mount_point", "path": str(export_dir)}
    (root / "exports.toml").write_text(
        toml_text(
            {
                "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
                "exports": {"orders": {"cluster": "sim", "database": 1, "location": location}},
            }
        )
    )
    return root


def run_pipeline(
    root: Path, env: dict[str, str], steps: list[tuple[str, str | None]], ci_vars: dict[str, str]
) -> None:
    path_file = root.parent / "github_path"
    path_file.touch()
    base = terraform_env() | env | ci_vars | {"CI": "true", "GITHUB_PATH": str(path_file)}
    for command, directory in steps:
        assert "${{" not in command  # expressions in run: lines are an injection risk
        extra = [line for line in path_file.read_text().splitlines() if line]
        step_env = base | {"PATH": os.pathsep.join([*extra, base["PATH"]])}
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", command],
            cwd=root / directory if directory else root,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert run.returncode == 0, f"{command}\n{run.stdout}\n{run.stderr}"
        assert "\x1b[" not in run.stdout + run.stderr  # -no-color everywhere


@pytest.mark.e2e
def test_the_github_workflow_exports_with_the_run_id_and_leaves_its_artifacts(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """The workflow's commands synthesize, init, apply once with run_id gh-RUN-ATTEMPT, and write every artifact path."""
    root = checkout(tmp_path, sim, export_dir)
    env, steps = github_steps()
    run_pipeline(
        root,
        env,
        steps,
        {"GITHUB_RUN_ID": "4711", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_WORKSPACE": str(root)},
    )
    stack = root / env["STACK_DIR"]
    outputs = json.loads((stack / "exports.json").read_text())
    assert outputs["orders"]["export_status"] == "succeeded"
    assert outputs["orders"]["run_id"] == "gh-4711-2"
    assert sim.cluster.exports_started(1) == 1
    upload = next(
        s for s in load(GITHUB)["jobs"]["export"]["steps"] if "upload-artifact" in s.get("uses", "")
    )
    for line in upload["with"]["path"].splitlines():
        path = root / line.replace("${{ env.STACK_DIR }}", env["STACK_DIR"])
        assert path.exists(), line


@pytest.mark.e2e
def test_the_gitlab_job_exports_with_the_pipeline_id_and_leaves_its_artifacts(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """The job's script and after_script export once with run_id gl-PIPELINE and write every artifact path."""
    root = checkout(tmp_path, sim, export_dir)
    env, steps = gitlab_steps()
    run_pipeline(
        root,
        env,
        steps,
        {"CI_PIPELINE_ID": "815", "CI_PROJECT_DIR": str(root), "CI_JOB_TOKEN": "job-token"},
    )
    outputs = json.loads((root / "exports.json").read_text())
    assert outputs["orders"]["export_status"] == "succeeded"
    assert outputs["orders"]["run_id"] == "gl-815"
    assert sim.cluster.exports_started(1) == 1
    for path in load(GITLAB)["redis-exports"]["artifacts"]["paths"]:
        assert (root / path).exists(), path


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_examples_run_nightly_and_keep_terraform_output_plain(example: Path) -> None:
    """Each example has a schedule, and every terraform command in it says -no-color."""
    text = example.read_text()
    assert "schedule" in text
    commands = [
        line
        for line in text.splitlines()
        if re.search(r"\bterraform (init|apply|plan|output)\b", line)
    ]
    assert len(commands) >= 3
    for command in commands:
        assert "-no-color" in command, command
