"""The CI examples are valid pipelines, and their commands export against the simulator.

The linter is check-jsonschema with its vendored GitHub Actions and GitLab CI
schemas (offline). The harness reads each example's shell commands, sets the
variables the CI system would (secrets only where the example gives them), and
runs them in a temporary infrastructure repository: exports.toml and its lock
file, nothing else. The steps that download (marked ``online-``: the package
install and Terraform) are skipped, and the tests assert which: the tests' own
venv, Terraform and a ``redis-enterprise-export`` command on PATH stand in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import ADMIN, PASSWORD, REPO, S3_SECRET, VENV_BIN, terraform_env, toml_text
from redis_enterprise_export.commands.summary import HEADER
from redis_enterprise_export.simulator import Simulator

EXAMPLES = REPO / "examples"
GITHUB = EXAMPLES / "github-actions.yml"
GITLAB = EXAMPLES / "gitlab-ci.yml"
LINT = {
    GITHUB: ["--builtin-schema", "vendor.github-workflows"],
    GITLAB: ["--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci"],
}
# What the CI system's secret store holds; the harness gives each only where asked.
SECRETS = {
    "REDIS_ENTERPRISE_USER": ADMIN,
    "REDIS_ENTERPRISE_PASSWORD": PASSWORD,
    "S3_SECRET": S3_SECRET,
}
ONLINE = ("online-install", "online-terraform")
# Commands that talk to the cluster: only their steps may see its secrets.
NEEDS_SECRETS = re.compile(r"\b(preflight|status|discover|terraform apply)\b")
SECRET_EXPRESSION = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")


@dataclass(frozen=True)
class Reference:
    """GitLab's ``!reference [.job, key]``: lines pulled in from a hidden job."""

    path: tuple[str, ...]


def load(path: Path) -> Any:
    yaml = YAML(typ="safe", pure=True)
    yaml.constructor.add_constructor(
        "!reference", lambda loader, node: Reference(tuple(loader.construct_sequence(node)))
    )
    return yaml.load(path.read_text())


def lint(path: Path, example: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), *LINT[example], str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@dataclass
class Step:
    """One shell session of a pipeline: its commands, folder, and extra environment."""

    command: str
    directory: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # GitHub runs `shell: bash` as bash -eo pipefail, its default as bash -e; GitLab's
    # scripts are taken as bash -e, so a pipe needs their own `set -o pipefail`.
    flags: tuple[str, ...] = ("-e",)
    # Runs also after a step failed: GitHub's `if: always()`, GitLab's after_script.
    always: bool = False


@dataclass
class Pipeline:
    """A job's shell steps as the harness runs them, and the download steps it skipped."""

    env: dict[str, str]
    steps: list[Step]
    skipped: list[str]


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_examples_pass_their_ci_systems_schema(example: Path) -> None:
    """check-jsonschema with the CI system's vendored schema accepts the example."""
    run = lint(example, example)
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
    assert lint(broken, example).returncode != 0


def github_pipeline(job_name: str) -> Pipeline:
    """The workflow's env and one job's shell steps, each with its own step env."""
    workflow = load(GITHUB)
    job = workflow["jobs"][job_name]
    env = {**workflow.get("env", {}), **job.get("env", {})}

    def expand(text: str) -> str:
        return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], text)

    def step_env(step: dict[str, Any]) -> dict[str, str]:
        values = {}
        for key, value in step.get("env", {}).items():
            secret = SECRET_EXPRESSION.fullmatch(str(value))
            values[key] = SECRETS[secret.group(1)] if secret else expand(str(value))
        return values

    steps, skipped = [], []
    for step in job["steps"]:
        if "run" not in step:
            continue
        if step.get("id", "").startswith("online-"):
            skipped.append(step["id"])
            continue
        directory = expand(step["working-directory"]) if "working-directory" in step else None
        shell = step.get("shell", workflow.get("defaults", {}).get("run", {}).get("shell"))
        flags = ("-e", "-o", "pipefail") if shell == "bash" else ("-e",)
        always = str(step.get("if", "")).strip() in ("always()", "${{ always() }}")
        steps.append(Step(step["run"], directory, step_env(step), flags, always))
    return Pipeline(env, steps, skipped)


def gitlab_pipeline(job_name: str) -> Pipeline:
    """The job's variables; before_script with script as one shell session, after_script
    as another (as the runner does), the !reference'd download steps left out."""
    pipeline = load(GITLAB)
    job = pipeline[job_name]
    skipped = [
        line.path[0].lstrip(".") for line in job["before_script"] if isinstance(line, Reference)
    ]
    before = [line for line in job["before_script"] if not isinstance(line, Reference)]
    env = {k: str(v) for k, v in pipeline["variables"].items()}
    steps = [Step("\n".join([*before, *job["script"]]))]
    if "after_script" in job:
        steps.append(Step("\n".join(job["after_script"]), always=True))
    return Pipeline(env, steps, skipped)


def infra_repo(tmp_path: Path, sim: Simulator, export_dir: Path) -> Path:
    """An infrastructure repository as the examples expect it: exports.toml, with a
    selector, and the exports.lock.json that discover wrote for it."""
    root = tmp_path / "infra"
    root.mkdir()
    location = {"type": "mount_point", "path": str(export_dir)}
    (root / "exports.toml").write_text(
        toml_text(
            {
                "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
                "exports": {
                    "nightly": {"cluster": "sim", "databases": ["orders*"], "location": location}
                },
            }
        )
    )
    discover = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "redis_enterprise_export", "discover"],
        cwd=root, env=terraform_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert discover.returncode == 0, discover.stdout + discover.stderr
    return root


def stand_in_install(root: Path) -> Path:
    """What the skipped install step provides: the command on PATH (the tests' venv)."""
    bin_dir = root.parent / "stand-in-bin"
    bin_dir.mkdir(exist_ok=True)
    command = bin_dir / "redis-enterprise-export"
    command.write_text(f'#!/bin/sh\nexec "{VENV_BIN / "python"}" -m redis_enterprise_export "$@"\n')
    command.chmod(0o755)
    return bin_dir


def gitlab_expand(env: dict[str, str], ci_vars: dict[str, str]) -> dict[str, str]:
    """Variables with $NAME and ${NAME} expanded, as GitLab does; CI/CD variables win."""
    known = dict(ci_vars)
    out = {}
    for key, value in env.items():
        expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: known.get(m.group(1), m.group(0)), value)
        out[key] = known.setdefault(key, expanded)
    return out


def run_pipeline(
    root: Path, pipeline: Pipeline, ci_vars: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Run each step in order, as its CI system's bash would: after one fails, only the
    steps that run always."""
    path_file = root.parent / "github_path"
    path_file.write_text(f"{stand_in_install(root)}\n")
    # No cluster secret unless a step (GitHub) or the job (GitLab, in ci_vars) gives it.
    base = {k: v for k, v in terraform_env().items() if k not in SECRETS}
    base |= pipeline.env | ci_vars | {"CI": "true", "GITHUB_PATH": str(path_file)}
    runs: list[subprocess.CompletedProcess[str]] = []
    for step in pipeline.steps:
        if any(run.returncode != 0 for run in runs) and not step.always:
            continue
        assert "${{" not in step.command  # expressions in run: lines are an injection risk
        extra = [line for line in path_file.read_text().splitlines() if line]
        step_env = base | step.env | {"PATH": os.pathsep.join([*extra, base["PATH"]])}
        run = subprocess.run(
            ["bash", *step.flags, "-c", step.command],
            cwd=root / step.directory if step.directory else root,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        runs.append(run)
        assert "\x1b[" not in run.stdout + run.stderr  # -no-color everywhere
        for secret in (PASSWORD, S3_SECRET):  # the user name is shown, as preflight's
            assert secret not in run.stdout + run.stderr
    return runs


def assert_succeeded(runs: list[subprocess.CompletedProcess[str]]) -> None:
    for run in runs:
        assert run.returncode == 0, f"{run.args[-1]}\n{run.stdout}\n{run.stderr}"


def assert_summary_names_the_cluster(page: Path, sim: Simulator) -> None:
    """The job summary: the helper's table with the cluster column, then status's table."""
    text = page.read_text()
    assert HEADER in text
    host = sim.url.removeprefix("https://")
    assert f"| nightly-orders | {host} | orders (uid 1) | succeeded |" in text
    assert text.count("nightly-orders") == 2  # status's table has its row too


def test_github_secrets_reach_only_the_steps_that_talk_to_the_cluster() -> None:
    """No secret in the workflow's or a job's env; a step has them iff it runs preflight,
    the apply, status or discover."""
    workflow = load(GITHUB)
    assert "secrets." not in json.dumps(workflow.get("env", {}))
    for name, job in workflow["jobs"].items():
        assert "secrets." not in json.dumps(job.get("env", {})), name
        for step in job["steps"]:
            has = "secrets." in json.dumps(step.get("env", {}))
            assert has == bool(NEEDS_SECRETS.search(step.get("run", ""))), step.get("name")


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_examples_use_aws_oidc_and_verify_terraforms_checksum(example: Path) -> None:
    """AWS comes from a role through OIDC, never a stored key; Terraform is a pinned version
    checked with sha256sum against HashiCorp's SHA256SUMS; pip's cache is kept."""
    text = example.read_text()
    assert "AWS_ACCESS_KEY_ID" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
    if example == GITHUB:
        assert "role-to-assume:" in text
        assert "id-token: write" in text
        assert "cache: pip" in text
    else:
        assert "id_tokens:" in text
        assert "AWS_ROLE_ARN:" in text
        assert "AWS_WEB_IDENTITY_TOKEN_FILE:" in text
        assert "PIP_CACHE_DIR:" in text
    assert re.search(r'TERRAFORM_VERSION: "\d+\.\d+\.\d+"', text)
    assert "_SHA256SUMS" in text
    assert "sha256sum --check" in text
    assert "[cdktn] @ git+https://" in text
    assert "self-hosted" in text or "project runner" in text


@pytest.mark.e2e
def test_the_github_workflow_preflights_exports_checks_freshness_and_leaves_its_artifacts(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """The export job's steps (downloads skipped) synthesize, preflight, apply once with
    run_id gh-RUN-ATTEMPT, pass status --max-age 26h, and write the summary and artifacts."""
    root = infra_repo(tmp_path, sim, export_dir)
    pipeline = github_pipeline("export")
    assert pipeline.skipped == list(ONLINE)
    page = tmp_path / "step_summary.md"
    runs = run_pipeline(
        root,
        pipeline,
        {
            "GITHUB_RUN_ID": "4711",
            "GITHUB_RUN_ATTEMPT": "2",
            "GITHUB_WORKSPACE": str(root),
            "GITHUB_STEP_SUMMARY": str(page),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        },
    )
    assert_succeeded(runs)
    assert len(runs) == len(pipeline.steps)
    stack = root / pipeline.env["STACK_DIR"]
    outputs = json.loads((stack / "exports.json").read_text())
    assert outputs["nightly-orders"]["export_status"] == "succeeded"
    assert outputs["nightly-orders"]["run_id"] == "gh-4711-2"
    assert sim.cluster.exports_started(1) == 1
    assert_summary_names_the_cluster(page, sim)
    upload = next(
        s for s in load(GITHUB)["jobs"]["export"]["steps"] if "upload-artifact" in s.get("uses", "")
    )
    for line in upload["with"]["path"].splitlines():
        path = root / line.replace("${{ env.STACK_DIR }}", pipeline.env["STACK_DIR"])
        assert path.exists(), line


@pytest.mark.e2e
def test_the_gitlab_job_preflights_exports_checks_freshness_and_leaves_its_artifacts(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """The job's commands (downloads skipped) export once with run_id gl-PIPELINE, pass
    status --max-age 26h, and write every artifact path, the summary naming the cluster."""
    root = infra_repo(tmp_path, sim, export_dir)
    pipeline = gitlab_pipeline("redis-exports")
    assert pipeline.skipped == list(ONLINE)
    ci_vars = {
        "CI_PIPELINE_ID": "815",
        "CI_PROJECT_DIR": str(root),
        "AWS_ID_TOKEN": "a-job-id-token",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "aws-token"),
        "VENV": str(tmp_path / "venv"),
    } | SECRETS
    pipeline.env = gitlab_expand(pipeline.env, ci_vars)
    assert_succeeded(run_pipeline(root, pipeline, ci_vars))
    outputs = json.loads((root / "exports.json").read_text())
    assert outputs["nightly-orders"]["export_status"] == "succeeded"
    assert outputs["nightly-orders"]["run_id"] == "gl-815"
    assert sim.cluster.exports_started(1) == 1
    summary = (root / "summary.md").read_text() + (root / "status.md").read_text()
    (tmp_path / "page.md").write_text(summary)
    assert_summary_names_the_cluster(tmp_path / "page.md", sim)
    for path in load(GITLAB)["redis-exports"]["artifacts"]["paths"]:
        assert (root / path).exists(), path


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_the_freshness_gate_fails_the_job_when_the_newest_export_is_30_hours_old(
    tmp_path: Path, sim: Simulator, export_dir: Path, example: Path
) -> None:
    """The status --max-age 26h command, as the example runs it (piped to tee), fails the job
    on an export 30 hours old, as after an apply without a new run_id, and still shows why."""
    root = infra_repo(tmp_path, sim, export_dir)
    db = sim.cluster.databases[1]
    db.export_status, db.export_progress = "succeeded", 100.0
    db.last_export_time = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if example == GITHUB:
        pipeline, ci_vars = github_pipeline("export"), {"GITHUB_STEP_SUMMARY": str(tmp_path / "s")}
        pipeline.steps = [step for step in pipeline.steps if "--max-age" in step.command]
        status = root / pipeline.env["STACK_DIR"] / "status.json"
        status.parent.mkdir(parents=True)  # the folder synth made (no stack in it here)
    else:
        ci_vars = {"CI_PROJECT_DIR": str(root), "VENV": str(tmp_path / "venv")} | SECRETS
        pipeline = gitlab_pipeline("redis-exports")
        pipeline.env = gitlab_expand(pipeline.env, ci_vars)
        pipeline.steps = [Step(freshness_block(pipeline))]
        status = root / "status.json"
    (run,) = run_pipeline(root, pipeline, ci_vars)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "nightly-orders" in run.stdout
    (row,) = json.loads(status.read_text())["exports"]
    assert "newest good export is 30.0 h old (limit 26.0 h)" in row["problem"]


def freshness_block(pipeline: Pipeline) -> str:
    """The GitLab job's shell set-up and its freshness lines, from ``fresh=0`` on (not
    the apply's exit, which they carry)."""
    job = load(GITLAB)["redis-exports"]
    before = [line for line in job["before_script"] if not isinstance(line, Reference)]
    script: list[str] = job["script"]
    gate = [line for line in script[script.index("fresh=0") :] if "applied" not in line]
    return "\n".join([*before, *gate])


def status_commands(example: Path) -> list[str]:
    """Every ``redis-enterprise-export status`` command line in the example."""
    text = example.read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if "redis-enterprise-export status" in line]


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_the_freshness_check_reads_the_stack_runs_after_a_failed_apply_and_is_kept(
    example: Path,
) -> None:
    """status is given the stack the example synthesizes (--stack "$STACK_DIR", where synth
    writes), runs also when the apply failed (GitHub: if: always(); GitLab: the apply's
    failure is kept until the end), and its JSON is in the artifact."""
    commands = status_commands(example)
    assert len(commands) == 2
    assert all('--stack "$STACK_DIR"' in command for command in commands)
    assert [c for c in commands if "--json > " in c and "status.json" in c]
    if example == GITHUB:
        workflow = load(GITHUB)
        assert workflow["env"]["STACK_DIR"] == "cdktf.out/stacks/exports"
        steps = workflow["jobs"]["export"]["steps"]
        (fresh,) = [step for step in steps if "--max-age" in step.get("run", "")]
        assert fresh["if"] == "always()"
        upload = next(step for step in steps if "upload-artifact" in step.get("uses", ""))
        assert "${{ env.STACK_DIR }}/status.json" in upload["with"]["path"].splitlines()
    else:
        job = load(GITLAB)["redis-exports"]
        assert load(GITLAB)["variables"]["STACK_DIR"] == "cdktf.out/stacks/exports"
        (apply,) = [line for line in job["script"] if "terraform apply" in line]
        assert apply.endswith("|| applied=$?")
        assert job["script"][-2:] == ['[ "$applied" -eq 0 ] || exit "$applied"', 'exit "$fresh"']
        assert "status.json" in job["artifacts"]["paths"]
        assert job["artifacts"]["when"] == "always"


@pytest.mark.e2e
@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_a_failed_apply_still_leaves_each_exports_own_outcome_in_the_artifact(
    tmp_path: Path, sim: Simulator, export_dir: Path, example: Path
) -> None:
    """The export fails: the job fails, and the freshness check still ran: status.json in
    the artifact shows the export's own latest run failed, with the cluster's reason, and
    the job summary shows the same row."""
    root = infra_repo(tmp_path, sim, export_dir)
    sim.cluster.scenario.fail_reason = "general-error"
    page = tmp_path / "step_summary.md"
    if example == GITHUB:
        pipeline = github_pipeline("export")
        ci_vars = {"GITHUB_RUN_ID": "4711", "GITHUB_RUN_ATTEMPT": "1",
                   "GITHUB_WORKSPACE": str(root), "GITHUB_STEP_SUMMARY": str(page),
                   "RUNNER_TEMP": str(tmp_path / "runner-temp")}  # fmt: skip
        runs = run_pipeline(root, pipeline, ci_vars)
        names = [step.command for step in pipeline.steps]
        applied = next(i for i, name in enumerate(names) if "terraform apply" in name)
        assert runs[applied].returncode != 0
        assert runs[applied + 1].returncode == 1  # the freshness check ran, and failed
        status = root / pipeline.env["STACK_DIR"] / "status.json"
        run_id = "gh-4711-1"
        summary = page.read_text()
    else:
        ci_vars = {"CI_PIPELINE_ID": "815", "CI_PROJECT_DIR": str(root),
                   "AWS_ID_TOKEN": "t", "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "aws-token"),
                   "VENV": str(tmp_path / "venv")} | SECRETS  # fmt: skip
        pipeline = gitlab_pipeline("redis-exports")
        pipeline.env = gitlab_expand(pipeline.env, ci_vars)
        runs = run_pipeline(root, pipeline, ci_vars)
        assert runs[0].returncode != 0
        status = root / "status.json"
        run_id = "gl-815"
        summary = (root / "status.md").read_text()
    (row,) = json.loads(status.read_text())["exports"]
    assert row["own_latest"]["export_status"] == "failed"
    assert row["own_latest"]["export_failure_reason"] == "general-error"
    assert row["own_latest"]["run_id"] == run_id
    assert row["problem"].startswith(f"its latest run {run_id} failed: ")
    assert f"its latest run {run_id} failed" in summary
    stack = root / pipeline.env["STACK_DIR"]
    assert (stack / ".results" / "nightly-orders.json").exists()


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_the_scheduled_discover_check_passes_then_fails_when_a_database_comes(
    tmp_path: Path, sim: Simulator, export_dir: Path, example: Path
) -> None:
    """The discover job passes on the committed lock, and fails naming a new matching database."""
    root = infra_repo(tmp_path, sim, export_dir)
    if example == GITHUB:
        pipeline, ci_vars = github_pipeline("discover"), {}
    else:
        ci_vars = {"CI_PROJECT_DIR": str(root), "VENV": str(tmp_path / "venv")} | SECRETS
        pipeline = gitlab_pipeline("discover")
        pipeline.env = gitlab_expand(pipeline.env, ci_vars)
    assert pipeline.skipped == ["online-install"]
    assert_succeeded(run_pipeline(root, pipeline, ci_vars))
    sim.add_database(3, "orders-eu")
    runs = run_pipeline(root, pipeline, ci_vars)
    assert runs[-1].returncode == 1
    assert "orders-eu" in runs[-1].stdout


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


def test_readme_shows_the_job_summary_table_as_the_helper_writes_it() -> None:
    """The CI page's Use in CI section shows the summary's header (cluster column included) verbatim."""
    ci = (REPO / "docs" / "ci.md").read_text().split("\n## ")[0]
    assert HEADER in ci
    rows = [line for line in ci.split(HEADER)[1].splitlines() if line.startswith("|")]
    assert len(rows) == 2
    assert all(row.count("|") == HEADER.splitlines()[0].count("|") for row in rows)


def test_readme_and_examples_install_the_same_package() -> None:
    """The examples pin the package the CI page's Use in CI section tells you to install."""
    ci = (REPO / "docs" / "ci.md").read_text().split("\n## ")[0]
    github = load(GITHUB)["env"]["REDIS_EXPORT_PACKAGE"]
    assert f"pip install '{github}'" in ci
    assert load(GITLAB)["variables"]["REDIS_EXPORT_PACKAGE"].startswith(github.split(" @ ")[0])


@pytest.mark.e2e
def test_with_a_stale_password_the_github_job_makes_one_failed_login_a_night(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """Preflight's 401 is the night's only failed login: the status steps that run always
    honour the refusal recorded on the runner instead of asking again (RS locks a user
    after 5 in 15 minutes)."""
    root = infra_repo(tmp_path, sim, export_dir)
    pipeline = github_pipeline("export")
    for step in pipeline.steps:
        if "REDIS_ENTERPRISE_PASSWORD" in step.env:
            step.env["REDIS_ENTERPRISE_PASSWORD"] = "stale-Password-7"
    asked = len(sim.cluster.log)
    runs = run_pipeline(
        root,
        pipeline,
        {
            "GITHUB_RUN_ID": "4711",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
            "REDIS_EXPORT_SLOTS_DIR": str(tmp_path / "runner-slots"),
        },
    )
    assert any(run.returncode != 0 for run in runs)
    assert any("redis-enterprise-export status" in str(run.args) for run in runs)
    assert [r.status for r in sim.cluster.log[asked:]] == [401]
    assert sim.cluster.exports_started(1) == 0


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_examples_pin_a_branch_that_exists_and_ask_for_aws_only_with_a_role(
    example: Path,
) -> None:
    """The install pin is @main (no tag is published), the placeholder owner is called one,
    and the AWS steps run only when an AWS role is configured (backend = "s3")."""
    text = example.read_text()
    assert "@v0." not in text
    assert re.search(r'REDIS_EXPORT_PACKAGE: ".*@main"', text)
    assert re.search(r"# Replace (example-org|gitlab\.example\.com/platform) with", text)
    if example == GITHUB:
        (aws,) = [
            step
            for step in load(GITHUB)["jobs"]["export"]["steps"]
            if "configure-aws-credentials" in step.get("uses", "")
        ]
        assert aws["if"] == "vars.AWS_ROLE_ARN != ''"
    else:
        (token,) = [
            line
            for line in load(GITLAB)["redis-exports"]["before_script"]
            if "AWS_WEB_IDENTITY_TOKEN_FILE" in str(line)
        ]
        assert token.startswith('if [ -n "$AWS_ROLE_ARN" ]; then ')
