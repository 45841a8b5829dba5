"""Synthesis brings its own supported Node: no system Node, no end-of-life banner, clear errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO, VENV_BIN, run_main, terraform_env, toml_text
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.synth import cdk, node

CONFIG: dict[str, dict[str, dict[str, Any]]] = {
    "clusters": {"a": {"url": "https://rs.example.com:9443"}},
    "exports": {
        "orders": {
            "cluster": "a",
            "database": 1,
            "location": {"type": "mount_point", "path": "/mnt/b"},
        }
    },
}


def node_free_env(**extra: str) -> dict[str, str]:
    """The test environment with no Node on PATH and no JSII_* variable."""
    env = {k: v for k, v in terraform_env().items() if not k.startswith(("JSII_", "NODE_"))}
    return env | {"PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin"} | extra


def synth(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "exports.toml"
    config.write_text(toml_text(CONFIG))
    return run_main(config, tmp_path, env)


def test_synth_runs_on_the_wheels_node_without_a_system_node_or_any_warning(
    tmp_path: Path,
) -> None:
    """With no node on PATH and no JSII_* variable, main.py synthesizes and prints nothing to stderr."""
    run = synth(tmp_path, node_free_env())
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert (tmp_path / "cdktf.out" / "stacks" / "exports" / "cdk.tf.json").exists()


def test_users_own_jsii_node_wins_over_the_wheel(tmp_path: Path) -> None:
    """A JSII_NODE the user set is the Node jsii starts."""
    wheel = node.wheel_node()
    assert wheel is not None
    witness = tmp_path / "node-was-used"
    wrapper = tmp_path / "my-node"
    wrapper.write_text(f'#!/bin/sh\n: > "{witness}"\nexec "{wheel}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    run = synth(tmp_path, node_free_env(JSII_NODE=str(wrapper)))
    assert run.returncode == 0, run.stderr
    assert witness.exists()


def test_fails_in_one_line_when_jsii_node_names_no_program(tmp_path: Path) -> None:
    """A JSII_NODE that does not exist is one error line naming it, exit 2, no traceback."""
    run = synth(tmp_path, node_free_env(JSII_NODE="/nonexistent/node"))
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("error: synthesis: JSII_NODE: got '/nonexistent/node'")


def test_fails_with_what_to_install_when_no_node_exists_at_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the wheel, JSII_NODE or node on PATH, choosing a Node raises ConfigError naming the extra."""
    monkeypatch.setattr(node, "wheel_node", lambda: None)
    monkeypatch.delenv("JSII_NODE", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match=r"synthesis: node: got 'no node on PATH'.*\[cdk\]"):
        cdk.choose_node()


def test_jsii_nodes_quieting_flag_does_not_leak_into_this_process() -> None:
    """NODE_OPTIONS is back to what it was after the framework import, so terraform never sees it."""
    code = "import os, redis_enterprise_export.synth.cdk; print(os.environ.get('NODE_OPTIONS'))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=node_free_env(PYTHONPATH=str(REPO / "constructs")),
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "None"


def test_an_empty_jsii_node_means_the_wheels_node(tmp_path: Path) -> None:
    """JSII_NODE="" (as CI templates often set it) is unset to jsii: synthesis uses the wheel's Node."""
    run = synth(tmp_path, node_free_env(JSII_NODE=""))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""


APP = """
import redis_enterprise_export
from {framework} import App, TerraformStack, TerraformOutput
app = App(outdir={outdir!r})
TerraformOutput(TerraformStack(app, "own"), "x", value="y")
app.synth()
"""


@pytest.mark.parametrize("jsii_node", [None, ""])
def test_an_app_importing_the_framework_itself_runs_on_the_wheels_node(
    tmp_path: Path, jsii_node: str | None
) -> None:
    """import redis_enterprise_export, then the app's own import of cdktf/cdktn: synthesis with no system Node."""
    code = APP.format(framework=cdk.FRAMEWORK, outdir=str(tmp_path / "out"))
    extra = {} if jsii_node is None else {"JSII_NODE": jsii_node}
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=node_free_env(PYTHONPATH=str(REPO / "constructs"), **extra),
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "stacks" / "own" / "cdk.tf.json").exists()
