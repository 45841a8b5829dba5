"""Synthesis: the stack's JSON, pinned by a snapshot, relocatable and secret-free."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion

from helpers import REPO, STACK
from redis_enterprise_export.contract import HELPER_BOOTSTRAP, unique_id
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.export import Cluster, ExportSpec
from redis_enterprise_export.spec.locations import (
    AbsLocation,
    FtpLocation,
    GcsLocation,
    MountPointLocation,
    S3Location,
    SftpLocation,
)
from redis_enterprise_export.synth.cdk import App, Construct, TerraformResource, TerraformStack
from redis_enterprise_export.synth.export import DatabaseExport, DatabaseExportProps
from redis_enterprise_export.synth.stack import ExportStack, ExportStackProps

FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
CLUSTER = Cluster(url="https://rs.example.com:9443", ca_cert_pem=FAKE_CA)
LOCATIONS = {
    "ftp": FtpLocation(url="ftp://backup@ftp.example.com/redis/", password_env="FTP_PASSWORD"),
    "sftp": SftpLocation(sftp_url="sftp://backup@sftp.example.com/r/", key_env="SFTP_KEY"),
    "s3": S3Location(
        bucket_name="backups", access_key_id="AKIAEXAMPLE", secret_access_key_env="S3_SECRET"
    ),
    "gcs": GcsLocation(
        bucket_name="backups",
        client_id="1234",
        client_email="sa@project.iam.gserviceaccount.com",
        private_key_id="key-1",
        private_key_env="GCS_PRIVATE_KEY",
    ),
    "azure": AbsLocation(account_name="acct", container="redis", sas_token_env="ABS_SAS"),
    "nas": MountPointLocation(path="/mnt/redis-backups"),
}
SECRET_VALUES = {
    "FTP_PASSWORD": "ftp-Secret-1a",
    "SFTP_KEY": "sftp-Secret-2b",
    "S3_SECRET": "s3-Secret-3c",
    "GCS_PRIVATE_KEY": "gcs-Secret-4d",
    "ABS_SAS": "abs-Secret-5e",
    "REDIS_ENTERPRISE_PASSWORD": "cluster-Secret-6f",
}


def synth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    app = App(outdir=str(tmp_path / "out"))
    exports = [
        ExportSpec(name=name, cluster=CLUSTER, database=i + 1, location=location)
        for i, (name, location) in enumerate(LOCATIONS.items())
    ]
    ExportStack(app, STACK, ExportStackProps(exports=exports))
    app.synth()
    text = (tmp_path / "out" / "stacks" / STACK / "cdk.tf.json").read_text()
    return text, json.loads(text)


@pytest.fixture
def synthesized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    return synth(tmp_path, monkeypatch)


def test_synthesized_stack_matches_the_snapshot(
    synthesized: tuple[str, dict[str, Any]], snapshot: SnapshotAssertion
) -> None:
    """The synthesized stack is the reviewed snapshot: any change to it shows up for review."""
    _, stack = synthesized
    assert json.dumps(stack, indent=2, sort_keys=True) == snapshot


def test_no_secret_value_is_synthesized(synthesized: tuple[str, dict[str, Any]]) -> None:
    """Secret values in the environment at synth time never reach the stack."""
    text, _ = synthesized
    leaked = [name for name, value in SECRET_VALUES.items() if value in text]
    assert leaked == []


def test_no_absolute_path_of_this_machine(
    synthesized: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The stack holds no path of the machine that synthesized it, so it applies anywhere."""
    text, _ = synthesized
    for path in (str(tmp_path), str(REPO), str(Path.cwd()), str(Path.home())):
        assert path not in text


def test_only_built_in_resources_and_a_relative_local_backend(
    synthesized: tuple[str, dict[str, Any]],
) -> None:
    """Only terraform_data, no provider, and a local backend relative to the stack."""
    _, stack = synthesized
    assert set(stack["resource"]) == {"terraform_data"}
    assert "provider" not in stack
    assert stack["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}


def test_each_export_reruns_on_run_id_and_its_inputs_only(
    synthesized: tuple[str, dict[str, Any]],
) -> None:
    """An export is replaced by run_id and its secret-free inputs, not its CA; no destroy step."""
    _, stack = synthesized
    export = next(v for k, v in stack["resource"]["terraform_data"].items() if "s3_export" in k)
    trigger = export["triggers_replace"]
    # var.run_id when given, else the last one given (read back from state); after a
    # failure, the failed attempt's id too.
    assert trigger["rerun"].startswith("${local.redis_export_run_id}%{if try(")
    assert stack["locals"]["redis_export_run_id"].startswith('${var.run_id != "" ? var.run_id')
    assert trigger["export"]["location"]["secret_access_key_env"] == "S3_SECRET"
    assert "ca_cert_pem" not in json.dumps(trigger)
    local_exec = export["provisioner"][0]["local-exec"]
    assert local_exec["interpreter"] == ["python3", "-c", HELPER_BOOTSTRAP]
    assert "when" not in local_exec  # nothing runs on destroy


def test_the_exports_output_maps_each_name_to_its_result(
    synthesized: tuple[str, dict[str, Any]],
) -> None:
    """The exports output has one entry per export, keyed by its name."""
    _, stack = synthesized
    assert sorted(stack["output"]["exports"]["value"]) == sorted(LOCATIONS)


def props(**override: Any) -> DatabaseExportProps:
    kwargs: dict[str, Any] = {
        "cluster": CLUSTER,
        "database": 1,
        "location": MountPointLocation(path="/mnt"),
    } | override
    return DatabaseExportProps(**kwargs)


@pytest.mark.parametrize(
    ("construct_id", "override", "message"),
    [
        ("orders", {"database": -1}, "DatabaseExport 'orders': database: got -1; expected"),
        ("orders", {"timeout_seconds": -1}, "DatabaseExport 'orders': timeout_seconds: got -1"),
        ("orders", {"location": "s3://x"}, "DatabaseExport 'orders': location: got 's3://x'"),
        ("orders", {"python": ""}, "DatabaseExport 'orders': python: got ''"),
        ("bad id", {}, "DatabaseExport 'bad id': name: got 'bad id'; expected a letter"),
    ],
)
def test_fails_on_bad_props_naming_the_construct_and_prop(
    construct_id: str, override: dict[str, Any], message: str
) -> None:
    """A bad prop raises ConfigError naming the construct id, the prop and the value."""
    stack = TerraformStack(App(), "s")
    with pytest.raises(ConfigError) as info:
        DatabaseExport(stack, construct_id, props(**override))
    assert message in str(info.value)


def test_fails_when_two_exports_in_a_stack_share_an_id() -> None:
    """Two exports with one id in a stack are refused, even in different scopes."""
    stack = TerraformStack(App(), "s")
    DatabaseExport(stack, "orders", props())
    with pytest.raises(ConfigError, match="id: got 'orders'; expected an id no other"):
        DatabaseExport(Construct(stack, "team-b"), "orders", props())


def test_the_helper_never_imports_the_cdk_framework() -> None:
    """The helper's modules load without cdktf, jsii or constructs."""
    code = (
        "import sys, redis_enterprise_export.cli, redis_enterprise_export.run.export, "
        "redis_enterprise_export.rs.client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'constructs')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_the_readme_python_example_synthesizes_its_export(tmp_path: Path) -> None:
    """The configuration page's Python API example runs as printed and synthesizes its export."""
    page = (REPO / "docs" / "configuration.md").read_text()
    example = page.split("## Python API")[1].split("```python\n")[1].split("```")[0]
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))  # its open("ca.pem")
    run = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    stack = json.loads((tmp_path / "cdktf.out" / "stacks" / "backups" / "cdk.tf.json").read_text())
    resources = stack["resource"]["terraform_data"].values()
    export = next(r for r in resources if r["//"]["metadata"]["path"] == "backups/orders/export")
    assert export["input"]["database"] == "orders"
    assert export["input"]["location"]["secret_access_key_env"] == "S3_SECRET"
    assert "ca_cert_sha256" in export["input"]["cluster"]
    assert export["triggers_replace"]["rerun"] == "${var.run_id}"


# Construct ids: anything without "/" (the path separator); "Default" and
# "Resource" are the ids cdktf treats specially.
CONSTRUCT_IDS = st.one_of(
    st.sampled_from(["Default", "Resource", "orders", "ord", "team-b", "a.b"]),
    st.text(st.characters(exclude_characters="/", exclude_categories=["Cs"]), min_size=1),
)


@settings(max_examples=60, deadline=None)
@given(path=st.lists(CONSTRUCT_IDS, min_size=1, max_size=4).filter(lambda p: set(p) != {"Default"}))
def test_resource_addresses_are_the_ones_cdktf_gives_its_own_resources(path: list[str]) -> None:
    """The logical ids computed on the Python side equal cdktf's for the same
    construct path, so state written by earlier versions keeps its addresses."""
    stack = TerraformStack(App(), "s")
    scope: Construct = stack
    for part in path[:-1]:
        scope = Construct(scope, part)
    resource = TerraformResource(scope, path[-1], terraform_resource_type="terraform_data")
    # The ids as the construct tree keeps them (it rewrites some characters).
    ids = resource.node.path.split("/")[1:]
    assert unique_id(ids) == stack.get_logical_id(resource)


def test_an_export_inside_another_construct_is_addressed_by_its_whole_path(
    tmp_path: Path,
) -> None:
    """An export in a nested scope gets cdktf's address for that path: its result reads
    that export's id, its check the result's, its last success the check's."""
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "s")
    export = DatabaseExport(Construct(stack, "team-b"), "orders", props())
    app.synth()
    tf = json.loads((tmp_path / "stacks" / "s" / "cdk.tf.json").read_text())
    resources = tf["resource"]["terraform_data"]
    export_id = unique_id(["team-b", "orders", "export"])
    result_id, check_id, success_id = (
        unique_id(["team-b", "orders", kind]) for kind in ("result", "check", "last_success")
    )
    assert sorted(resources) == sorted([export_id, result_id, check_id, success_id])
    assert resources[export_id]["//"]["metadata"]["path"] == "s/team-b/orders/export"
    assert resources[result_id]["triggers_replace"] == f"${{terraform_data.{export_id}.id}}"
    assert resources[check_id]["triggers_replace"] == f"${{terraform_data.{result_id}.id}}"
    assert resources[success_id]["triggers_replace"] == f"${{terraform_data.{check_id}.id}}"
    assert export.result == f"${{jsondecode(terraform_data.{result_id}.output)}}"


def test_a_retention_prop_reaches_the_spec_the_helper_gets() -> None:
    """DatabaseExportProps(retention=...) is in the packed spec, keep_within in seconds."""
    from redis_enterprise_export import Retention

    stack = TerraformStack(App(), "s")
    export = DatabaseExport(
        stack, "orders", props(retention=Retention(keep_last=7, keep_within=86400))
    )
    assert export.packed_spec["retention"] == {"keep_last": 7, "keep_within": 86400}
    assert "retention" not in DatabaseExport(stack, "plain", props()).packed_spec


@pytest.mark.parametrize(
    "location",
    [
        FtpLocation(url="ftp://h/p/"),
        GcsLocation(
            bucket_name="b",
            client_id="c",
            client_email="e@x",
            private_key_id="k",
            private_key_env="GCS_KEY",
        ),
    ],
)
def test_retention_on_a_location_the_runner_cannot_delete_from_is_refused_at_synthesis(
    location: Any,
) -> None:
    """A retention prop on an ftp or gcs export fails synthesis, naming the construct and why."""
    from redis_enterprise_export import Retention

    stack = TerraformStack(App(), "s")
    with pytest.raises(ConfigError) as info:
        DatabaseExport(stack, "orders", props(location=location, retention=Retention(keep_last=3)))
    text = str(info.value)
    assert text.startswith("DatabaseExport 'orders': retention: got {'keep_last': 3")
    assert "only for mount_point or s3 (the runner can list and delete files only there)" in text


def test_a_drill_of_an_export_with_retention_tells_its_helper_a_drill_follows() -> None:
    """With retention, the drilled export's local-exec carries REDIS_EXPORT_DRILLED=1, so its
    files wait for the drill's proof; an export without retention is synthesized as before."""
    from redis_enterprise_export import DatabaseDrill, DatabaseDrillProps, Retention
    from redis_enterprise_export.contract import DRILLED_ENV

    stack = TerraformStack(App(), "s")
    kept = DatabaseExport(stack, "orders", props(retention=Retention(keep_last=3)))
    plain = DatabaseExport(stack, "plain", props(database=2))
    for export in (kept, plain):
        DatabaseDrill(
            stack,
            f"drill-{export.spec.name}",
            DatabaseDrillProps(export=export, into="scratch", erase="scratch"),
        )
    assert kept.helper_environment[DRILLED_ENV] == "1"
    assert DRILLED_ENV not in plain.helper_environment
