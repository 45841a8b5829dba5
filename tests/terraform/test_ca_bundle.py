"""The CA file: only its certificates travel, a bundle over 128 KiB works, and the stack stays relocatable."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import TerraformProject, terraform_env
from helpers.day2 import day2
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDPRIVATEKEYTEXT\n"
    "-----END PRIVATE KEY-----\n"
)


def tables(sim: Simulator, ca: Path, export_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(ca)}},
        "exports": {
            "orders": {
                "cluster": "sim",
                "database": "orders",
                "location": {"type": "mount_point", "path": str(export_dir)},
                "timeout_seconds": 60,
            }
        },
    }


def test_a_private_key_in_the_bundle_never_reaches_the_stack(
    sim: Simulator, export_dir: Path, project: TerraformProject, tmp_path: Path
) -> None:
    """A bundle holding a private key is copied without it, and still verifies the cluster."""
    ca = tmp_path / "bundle.pem"
    ca.write_text(KEY + sim.ca_path.read_text() + KEY.replace("PRIVATE", "RSA PRIVATE"))
    stack = project.synth(tables(sim, ca, export_dir))
    synthesized = "".join(p.read_text() for p in stack.rglob("*") if p.is_file())
    assert "PRIVATEKEYTEXT" not in synthesized
    assert "PRIVATE KEY" not in synthesized
    project.init()
    project.apply("run-1")
    assert project.outputs()["orders"]["export_status"] == "succeeded"


@pytest.mark.skipif(not SYSTEM_BUNDLE.exists(), reason="no system CA bundle on this machine")
def test_a_bundle_over_128_kib_applies_and_the_moved_stack_still_works(
    sim: Simulator, export_dir: Path, tmp_path: Path
) -> None:
    """The system bundle plus the cluster's CA (over Linux's 128 KiB per env string) applies,
    here and after the synthesized folder is moved elsewhere."""
    ca = tmp_path / "big.pem"
    ca.write_text(SYSTEM_BUNDLE.read_text() + sim.ca_path.read_text())
    assert ca.stat().st_size > 128 * 1024
    root = tmp_path / "project"
    root.mkdir()
    project = TerraformProject(root, terraform_env())
    project.synth(tables(sim, ca, export_dir))
    project.init()
    project.apply("run-1")
    assert project.outputs()["orders"]["export_status"] == "succeeded"

    # Move the synthesized folder (no state), and the CA file away: the stack carries its CA.
    moved = tmp_path / "elsewhere" / "stack"
    moved.parent.mkdir()
    shutil.copytree(project.stack, moved, ignore=shutil.ignore_patterns(
        ".terraform*", "terraform.tfstate*", ".results"))  # fmt: skip
    ca.unlink()
    project.init(cwd=moved)
    applied = project.terraform("apply", "-auto-approve", "-no-color", "-var=run_id=run-2",
                                cwd=moved)  # fmt: skip
    assert "argument list too long" not in applied.text
    assert project.outputs(cwd=moved)["orders"]["export_status"] == "succeeded"
    assert sim.cluster.exports_started(1) == 2


def test_a_ca_changed_after_synthesis_fails_preflight_and_the_apply_says_re_run_synth(
    sim: Simulator, export_dir: Path, project: TerraformProject, tmp_path: Path
) -> None:
    """The stack was synthesized with the old CA; then the cluster's CA rotated and ca_cert's
    file was updated. Preflight (which reads the config) fails its stack CA check, saying to
    re-run synth, where before it passed; the apply fails saying the same, not "set
    ca_cert"; after a new synth both pass."""
    old = Simulator(tmp_path / "old").start()
    old.stop()
    ca = project.root / "ca.pem"
    ca.write_text(old.ca_path.read_text())
    project.synth(tables(sim, ca, export_dir))
    ca.write_text(sim.ca_path.read_text())  # the rotation, after synthesis
    code, out, _ = day2("preflight", "--config", str(project.config))
    assert code == 1, out
    assert "stack CA: the stack in" in out
    assert (
        "synthesized with another CA than ca_cert names now (exports orders): re-run synth" in out
    )
    project.init()
    applied = project.apply("run-1", check=False)
    assert applied.code != 0
    assert "re-run synth" in applied.stdout + applied.stderr
    assert "Set ca_cert" not in applied.stdout + applied.stderr
    project.synth(tables(sim, ca, export_dir))
    code, out, _ = day2("preflight", "--config", str(project.config))
    assert code == 0, out
    assert "stack CA: the stack in" in out
    assert "carries the CA ca_cert names" in out
    project.apply("run-2")
    assert project.outputs()["orders"]["export_status"] == "succeeded"
