"""Config values are never evaluated: template sequences reach the cluster as the bytes written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import ORDERS, TerraformProject, terraform_env
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e


def hostile(canary: Path) -> str:
    """Every kind of sequence Terraform might read as code, plus quotes, escapes and non-ASCII."""
    return (
        f'${{file("{canary}")}}|${{file("/etc/hostname")}}|%{{ if true }}IFTRUE%{{ endif }}'
        "|$${|%%{|$|\"q'|\\b\\|né€"
    )


def test_template_sequences_reach_the_cluster_and_state_literally(
    sim: Simulator, tmp_path: Path
) -> None:
    """After a real apply, every export body holds the config's exact bytes, and neither state
    nor plan holds an evaluated form (a file's contents, a directive's result)."""
    canary = tmp_path / "canary"
    canary.write_text("EVALUATED-CANARY-7f3a")
    w = hostile(canary)
    line = w + "\nsecond line"
    mount = tmp_path / ("m" + w.replace("/", "_"))
    mount.mkdir()
    names = {kind: f"{kind}:{line}" for kind in ("mount", "s3", "gs", "abs", "ftp", "sftp")}
    # The simulator names its export file after the database: no "/" in that one.
    names["mount"] = names["mount"].replace("/", "_")
    sim.add_database(11, names["mount"], data=ORDERS)
    for uid, kind in enumerate(("s3", "gs", "abs", "ftp", "sftp"), start=12):
        sim.cluster.add_database(uid, names[kind])
    url_path = "/p/" + w.replace("\\", "_") + "/"
    locations: dict[str, dict[str, Any]] = {
        "mount": {"type": "mount_point", "path": str(mount)},
        "s3": {"type": "s3", "bucket_name": line, "subdir": line, "access_key_id": line,
               "region_name": line, "secret_access_key_env": "S3_SECRET"},
        "gs": {"type": "gs", "bucket_name": line, "subdir": line, "client_id": line,
               "client_email": line, "private_key_id": line, "private_key_env": "GS_KEY"},
        "abs": {"type": "abs", "account_name": line, "container": line, "subdir": line,
                "sas_token_env": "ABS_SAS"},
        "ftp": {"type": "url", "url": f"ftp://u$${{x}}%{{y}}@ftp.example{url_path}"},
        "sftp": {"type": "sftp", "sftp_url": f"sftp://u$${{x}}@sftp.example{url_path}",
                 "key_env": "SFTP_KEY"},
    }  # fmt: skip
    ca = tmp_path / "ca.pem"
    ca.write_text(f"# {w}\n{sim.ca_path.read_text()}# {w}\n")
    secrets = {"S3_SECRET": "s3-secret", "GS_KEY": "gs-key", "ABS_SAS": "sas", "SFTP_KEY": "key"}
    root = tmp_path / "project"
    root.mkdir()
    project = TerraformProject(root, terraform_env(**secrets))
    project.synth(
        {
            "clusters": {"sim": {"url": sim.url, "ca_cert": str(ca),
                                 "max_concurrent_exports": 0}},
            "exports": {
                kind: {"cluster": "sim", "database": names[kind], "location": location,
                       "timeout_seconds": 60}
                for kind, location in locations.items()
            },
        }
    )  # fmt: skip
    project.init()
    applied = project.apply("run-1")
    plan = project.terraform("plan", "-refresh=false", "-no-color", "-var=run_id=run-2",
                             "-out=plan.bin")  # fmt: skip
    shown = project.terraform("show", "-json", "plan.bin").stdout

    sent = {body["export_location"]["type"]: body["export_location"] for body in
            sim.cluster.export_bodies}  # fmt: skip
    resolved = {"S3_SECRET": "secret_access_key", "GS_KEY": "private_key", "ABS_SAS": "sas_token",
                "SFTP_KEY": "key"}  # fmt: skip
    for location in locations.values():
        expected = {
            k.removesuffix("_env") if k.endswith("_env") else k: secrets[v]
            if k.endswith("_env")
            else v
            for k, v in location.items()
        }
        expected = {k: v for k, v in expected.items() if k not in resolved.values()}
        got = {k: v for k, v in sent[location["type"]].items() if k not in resolved.values()}
        assert got == expected  # fmt: skip
    assert len(sim.cluster.export_bodies) == len(locations)
    outputs = project.outputs()
    assert {o["export_status"] for o in outputs.values()} == {"succeeded"}

    state = (project.stack / "terraform.tfstate").read_text()
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    for text in (state, shown, applied.text, plan.text):
        assert "EVALUATED-CANARY" not in text
        assert "|IFTRUE|" not in text
        if len(hostname) >= 8:
            assert f"|{hostname}|" not in text
    # The literal itself is what state holds, JSON-escaped as Terraform writes strings.
    assert json.dumps(line, ensure_ascii=False)[1:-1] in state
    assert json.dumps(line, ensure_ascii=False)[1:-1] in shown
