"""The package as an infrastructure repository installs it: its extras, its console
command ``synth``, a wheel built from a git URL, and one line when an extra is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from helpers import REPO, STACK, run_main, terraform_env
from helpers.package import cli, config, git_wheel, site_packages
from redis_enterprise_export.commands.synth import default_stack
from redis_enterprise_export.extras import EXTRAS, PACKAGE
from redis_enterprise_export.simulator import Simulator

CDK_EXTRAS = ("cdk", "cdktf", "cdktn")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def closure(extra: str) -> set[str]:
    """The distribution names an install of ``PACKAGE[extra]`` brings, self-references followed."""
    names: set[str] = set()
    for line in PYPROJECT["project"]["optional-dependencies"][extra]:
        requirement = Requirement(line)
        if requirement.name == PACKAGE:
            for inner in requirement.extras:
                names |= closure(inner)
        else:
            names.add(requirement.name.lower().replace("_", "-"))
    return names


@pytest.mark.parametrize("extra", CDK_EXTRAS)
def test_every_cdk_extra_installs_every_optional_module(extra: str) -> None:
    """pip install '.[cdk]', '.[cdktf]' or '.[cdktn]' brings psycopg and prometheus_client."""
    providers = packages_distributions()
    brought = closure(extra)
    for module in EXTRAS:
        wanted = {name.lower().replace("_", "-") for name in providers[module]}
        assert wanted & brought, f"{extra} lacks {module}"


def test_each_optional_module_has_the_extra_its_error_names() -> None:
    """The extra a missing-module error tells the user to install exists and brings it."""
    providers = packages_distributions()
    for module, extra in EXTRAS.items():
        wanted = {name.lower().replace("_", "-") for name in providers[module]}
        assert wanted & closure(extra), f"{extra} lacks {module}"


def test_status_prometheus_without_prometheus_client_names_the_extra(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """status --prometheus where prometheus_client is missing: exit 2, one line naming the extra."""
    path = config(tmp_path, sim, {"type": "mount_point", "path": str(export_dir)})
    metrics = tmp_path / "metrics.prom"
    run = cli(
        "status", "--config", str(path), "--prometheus", str(metrics), without="prometheus_client"
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert f"pip install '{PACKAGE}[prometheus]'" in line
    assert not metrics.exists()


def test_postgres_coordination_without_psycopg_names_the_extra_and_exports_nothing(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """An export with coordination = "postgres" where psycopg is missing: exit 2, one line naming the extra, no export."""
    path = config(
        tmp_path, sim, {"type": "mount_point", "path": str(export_dir)}, coordination="postgres"
    )
    result = tmp_path / "result.json"
    run = cli(
        "export", "--config", str(path), "--name", "orders", "--result", str(result),
        without="psycopg",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1
    assert f"pip install '{PACKAGE}[postgres]'" in errors[0]
    assert json.loads(result.read_text())["export_status"] == "error"
    assert sim.cluster.exports_started(1) == 0


def test_synth_command_writes_the_stack_main_py_writes(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """``synth --config F --out D`` writes the same cdk.tf.json as main.py on F, and says where."""
    path = config(tmp_path, sim, {"type": "mount_point", "path": str(export_dir)})
    run = cli("synth", "--config", str(path), "--out", "built", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"built/stacks/{STACK}" in run.stdout
    by_main = tmp_path / "app"
    by_main.mkdir()
    assert run_main(path, by_main).returncode == 0
    ours = json.loads((tmp_path / "built" / "stacks" / STACK / "cdk.tf.json").read_text())
    theirs = json.loads((by_main / "cdktf.out" / "stacks" / STACK / "cdk.tf.json").read_text())
    assert ours == theirs


def test_synth_writes_the_stack_beside_the_config_where_status_looks(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """``synth --config infra/exports.toml`` run from elsewhere writes the stack beside the
    config, the folder ``status`` reads by default; before, it wrote into the current folder."""
    (tmp_path / "infra").mkdir()
    config(tmp_path / "infra", sim, {"type": "mount_point", "path": str(export_dir)})
    run = cli("synth", "--config", "infra/exports.toml", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / default_stack(Path("infra/exports.toml")) / "cdk.tf.json").is_file()
    assert not (tmp_path / "cdktf.out").exists()


def test_synth_command_on_a_bad_config_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """``synth`` on a config error: exit 2, one line naming file and key, no output folder."""
    path = tmp_path / "exports.toml"
    path.write_text(
        '[clusters.prod]\nurl = "https://rs.example.com:9443"\nulr = "x"\n'
        '[exports.orders]\ncluster = "prod"\ndatabase = 1\n'
        'location = { type = "mount_point", path = "/mnt/b" }\n'
    )
    run = cli("synth", "--config", str(path), cwd=tmp_path)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "exports.toml" in line
    assert "ulr" in line
    assert not (tmp_path / "cdktf.out").exists()


@pytest.mark.e2e
def test_a_wheel_from_a_git_url_installs_the_console_command_that_synthesizes(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """pip builds 'redis-enterprise-export[cdktn] @ git+file://…' into a wheel offline; installed
    into a fresh venv, the CI page's pipeline for an infrastructure repo (synth, preflight,
    terraform init and apply, outputs, status) runs as written, from exports.toml alone."""
    wheel = git_wheel(tmp_path)
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)
    env = {k: v for k, v in terraform_env().items() if k != "PYTHONPATH"}
    install = subprocess.run(
        [str(fresh / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
         "--no-deps", str(wheel)],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    # The dependencies come from the tests' venv (no network here), added after the
    # install so pip never sees, or touches, that venv's own copy of this package.
    (site,) = (fresh / "lib").glob("python*/site-packages")
    (site / "deps.pth").write_text(site_packages().as_posix())
    repo = tmp_path / "infra"  # an infrastructure repo: its exports.toml and nothing else
    repo.mkdir()
    shutil.copy(config(tmp_path, sim, {"type": "mount_point", "path": str(export_dir)}), repo)
    where = subprocess.run(
        [str(fresh / "bin" / "python"), "-c", "import redis_enterprise_export as m; print(m.__file__)"],
        env=env, capture_output=True, text=True, check=True, cwd=repo,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(site)
    usage = subprocess.run(
        [str(fresh / "bin" / "redis-enterprise-export"), "synth", "--help"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert usage.stdout.startswith("usage: redis-enterprise-export synth ")
    # The CI page's commands, as written, after its pip install line (done above, offline).
    # The stack's helper is the fresh venv's python3: it exports through the installed copy.
    pip_line, *commands = readme_pipeline()
    assert pip_line.startswith(f"pip install '{PACKAGE}[cdktn] @ git+https://")
    env |= {"PATH": f"{fresh / 'bin'}{os.pathsep}{env['PATH']}", "CI_PIPELINE_ID": "gl-1"}
    script = "set -euo pipefail\n" + "\n".join(commands)
    run = subprocess.run(
        ["bash", "-c", script], env=env, cwd=repo, capture_output=True, text=True,
        check=False, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert sim.cluster.exports_started(1) == 1
    assert (repo / "cdktf.out" / "stacks" / STACK / ".results" / "orders.json").exists()
    # And every other command the README and docs show being typed ("$ redis-enterprise-export …").
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    readme = "\n".join(page.read_text() for page in pages)
    shown = re.findall(r"^\$ (redis-enterprise-export .+)$", readme, re.MULTILINE)
    assert shown
    for line in shown:
        typed = subprocess.run(
            ["bash", "-c", line], env=env, cwd=repo, capture_output=True, text=True,
            check=False, timeout=300,
        )  # fmt: skip
        # 1: a check failed (the simulator's 'search' database has no export).
        assert typed.returncode in (0, 1), line + typed.stdout + typed.stderr
        assert "Traceback" not in typed.stdout + typed.stderr
    metadata = subprocess.run(
        [str(fresh / "bin" / "python"), "-c",
         "from importlib.metadata import requires; print('\\n'.join(requires('redis-enterprise-export')))"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert 'redis-enterprise-export[postgres,prometheus,s3]; extra == "cdktn"' in metadata.stdout
    assert os.access(fresh / "bin" / "redis-enterprise-export", os.X_OK)


def readme_pipeline() -> list[str]:
    """The command lines of the CI page's pipeline for an infrastructure repo."""
    ci = (REPO / "docs" / "ci.md").read_text().split("\n## ")[0]
    blocks = re.findall(r"```sh\n(.*?)```", ci, re.DOTALL)
    (block,) = [b for b in blocks if "pip install" in b]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_says_which_extra_brings_each_optional_module_and_installs_from_git() -> None:
    """The README and the install docs name the git-URL install, every extra and its module,
    and synth."""
    quick = (REPO / "README.md").read_text().split("## Quick start")[1].split("\n## ")[0]
    assert f"pip install '{PACKAGE}[cdktn,simulator] @ git+https://" in quick
    assert f"{PACKAGE} synth --config exports.toml" in quick
    install = (REPO / "docs" / "configuration.md").read_text()
    install = install.split("## Install: prerequisites and extras")[1].split("\n## ")[0]
    assert f"pip install '{PACKAGE}[cdktn] @ git+https://" in install
    for module, extra in EXTRAS.items():
        assert f"[{extra}]" in install
        assert module in install
    for extra in CDK_EXTRAS:
        assert f"`{extra}`" in install
    ci = (REPO / "docs" / "ci.md").read_text()
    assert f"{PACKAGE} synth --config exports.toml" in ci


@pytest.mark.e2e
def test_an_apply_whose_python_lacks_the_package_says_to_activate_its_environment(
    tmp_path: Path, sim: Simulator, export_dir: Path
) -> None:
    """A forgotten venv at apply time (a fresh venv without the package first on PATH): the
    apply fails with the helper's exit 2 and one line saying to activate the environment
    that has the package, not Python's "No module named" and exit 1 (a bug's code)."""
    from helpers import TerraformProject
    from helpers.tables import tables

    root = tmp_path / "project"
    root.mkdir()
    project = TerraformProject(root, terraform_env())
    project.synth(tables(sim, export_dir))
    project.init()
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    project.env["PATH"] = f"{bare / 'bin'}{os.pathsep}{project.env['PATH']}"
    project.env.pop("PYTHONPATH", None)
    result = project.apply(check=False)
    text = " ".join(result.text.split())
    assert result.code != 0
    assert "exit status 2" in text, result.text
    assert (
        f"error: {bare / 'bin' / 'python3'} has no redis_enterprise_export package: activate "
        "the environment that has the package"
    ) in text
    assert "No module named" not in text
    assert sim.cluster.exports_started(1) == 0
