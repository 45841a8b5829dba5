"""The README's quick start, run as a new user would: from an empty folder outside the
checkout, its commands as written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO, VENV_BIN, terraform_env
from helpers.package import git_wheel, site_packages
from helpers.postgres import free_port

# What the quick start writes outside its folder, or listens on: each run gets its own.
PORT = "9443"
EXPORTS = "/tmp/redis-exports"


def quick_start() -> tuple[str, list[str]]:
    """The quick start's exports.toml and its shell blocks, in order."""
    quick = (REPO / "README.md").read_text().split("## Quick start")[1].split("\n## ")[0]
    (toml,) = re.findall(r"```toml\n(.*?)```", quick, re.DOTALL)
    return toml, re.findall(r"```sh\n(.*?)```", quick, re.DOTALL)


def offline_install(wheel: Path) -> str:
    """The README's pip install, without a network: the wheel built from a git URL, and the
    dependencies borrowed from the tests' venv after the install, so pip never touches it."""
    pth = "import site, sys; open(site.getsitepackages()[0] + '/deps.pth', 'w').write(sys.argv[1])"
    return (
        f"python -m pip install --quiet --no-index --no-deps {wheel}\n"
        f'python -c "{pth}" {site_packages()}'
    )


def last_json(text: str) -> Any:
    """The JSON document at the end of ``text`` (what ``terraform output -json`` printed)."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("{"))
    return json.loads("\n".join(lines[start:]))


def stop(ready: Path) -> None:
    """Stop the simulator the quick start left running in the background."""
    if not ready.exists():
        return
    pid = json.loads(ready.read_text())["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def test_the_quick_start_has_the_steps_a_new_user_needs() -> None:
    """The quick start installs from a git URL, names the simulator's user, password variable
    and CA file, and synthesizes, plans, applies and reads the exports output."""
    toml, blocks = quick_start()
    script = "\n".join(blocks)
    assert re.search(r"^pip install '.+ @ git\+https://.+@main'$", script, re.MULTILINE)
    assert "export REDIS_ENTERPRISE_USER=admin@redis.local" in script
    assert "export REDIS_ENTERPRISE_PASSWORD=" in script
    assert 'ca_cert = "sim/ca.pem"' in toml
    assert "python -m redis_enterprise_export.simulator --root sim --port 9443" in script
    for step in ("synth --config exports.toml", "terraform init", "terraform plan"):
        assert step in script
    assert "terraform apply" in script
    assert script.rstrip().endswith("terraform output -json exports")


@pytest.mark.e2e
def test_the_readme_quick_start_runs_as_written_and_ends_with_a_succeeded_export(
    tmp_path: Path,
) -> None:
    """In an empty folder outside the checkout, the README's quick start (its pip install made
    offline, its port and export folder this run's own) ends with a succeeded export."""
    toml, blocks = quick_start()
    wheel = git_wheel(tmp_path)
    port, exports = str(free_port()), str(tmp_path / "exports")

    def own(text: str) -> str:
        return re.sub(rf"\b{PORT}\b", port, text).replace(EXPORTS, exports)

    lines = own("\n".join(blocks)).splitlines()
    (pip,) = [i for i, line in enumerate(lines) if line.startswith("pip install ")]
    lines[pip] = offline_install(wheel)
    folder = tmp_path / "quickstart"  # empty but for the file the README says to write
    folder.mkdir()
    (folder / "exports.toml").write_text(own(toml))
    # Only Terraform's quiet, offline settings: the README sets the credentials and the venv.
    env = {
        k: v
        for k, v in terraform_env().items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("REDIS_ENTERPRISE_")
    }
    assert env["PATH"].startswith(str(VENV_BIN))  # python3 -m venv: the tests' Python
    try:
        run = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + "\n".join(lines)],
            env=env, cwd=folder, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
    finally:
        stop(folder / "sim" / "simulator.json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert (folder / ".venv" / "bin" / "redis-enterprise-export").exists()
    outputs = last_json(run.stdout)
    assert outputs["orders"]["export_status"] == "succeeded", outputs
    assert outputs["orders"]["database_name"] == "orders"
    assert outputs["orders"]["files"], outputs  # the file it wrote, in this run's folder
    assert list(Path(exports).glob("orders-*.rdb.gz"))
