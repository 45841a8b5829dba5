"""The ``prune`` command: a real folder and moto's S3, a dry run that lists, and two
prunes of one export at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import AWS_KEY_ID, AWS_SECRET, MotoServer, PostgresServer, toml_text
from redis_enterprise_export.contract import SLOTS_ENV
from redis_enterprise_export.run.retention import MANIFEST_DIR, record, retention_lock
from redis_enterprise_export.spec.config import load_config
from redis_enterprise_export.spec.export import ExportSpec

BUCKET = "exports"
CLUSTER = {"url": "https://rs.example.com:9443"}


def write_config(tmp_path: Path, location: dict[str, Any], keep_last: int = 2) -> Path:
    path = tmp_path / "exports.toml"
    export = {"cluster": "prod", "database": 1, "location": location,
              "retention": {"keep_last": keep_last}}  # fmt: skip
    plain = {"cluster": "prod", "database": 2, "location": location}
    path.write_text(toml_text({"clusters": {"prod": CLUSTER},
                               "exports": {"orders": export, "plain": plain}}))  # fmt: skip
    return path


def spec_of(config: Path, name: str = "orders") -> ExportSpec:
    return next(s for s in load_config(config).exports if s.name == name)


def prune_cli(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", "prune", "--config", str(config), *args],
        capture_output=True, text=True, check=False, timeout=120, env=env or dict(os.environ),
    )  # fmt: skip


def recorded_nights(spec: ExportSpec, write: Any, count: int, environ: dict[str, str]) -> list[str]:
    """``count`` proven nights, each file written by ``write`` and recorded, under the
    config's policy (keep_last = 5 here, so none is pruned yet)."""
    names = []
    for n in range(1, count + 1):
        name = f"orders-1-2026120{n}.rdb.gz"
        write(name, b"x" * (10 + n))
        outcome = record(
            spec, environ, files=[name], run_id=f"n{n}", proven=True, report=lambda _: None
        )
        assert outcome.note == ""
        names.append(name)
    return names


def test_a_dry_run_lists_what_would_go_and_why_and_deletes_nothing(
    tmp_path: Path, export_dir: Path
) -> None:
    """Recorded under keep_last = 5, then the policy is keep_last = 2: the dry run names
    the three oldest files with why, and every file is still there."""
    config = write_config(tmp_path, {"type": "mount_point", "path": str(export_dir)}, keep_last=5)
    names = recorded_nights(spec_of(config), lambda n, b: (export_dir / n).write_bytes(b), 5, {})
    config.write_text(config.read_text().replace("keep_last = 5", "keep_last = 2"))
    run = prune_cli(config, "--dry-run")
    assert run.returncode == 0, run.stderr
    for name in names[:3]:
        assert f"[orders] would delete {name}: keep the last 2 of 5 proven runs" in run.stdout
    assert "would keep 2 files" in run.stdout
    assert sorted(p.name for p in export_dir.iterdir() if p.is_file()) == names


def test_prune_deletes_only_the_policys_files_and_never_another_file(
    tmp_path: Path, export_dir: Path
) -> None:
    """Without --dry-run the three oldest recorded files go; RS's backup, a person's file
    and the manifest stay, and an export without a policy is left alone."""
    config = write_config(tmp_path, {"type": "mount_point", "path": str(export_dir)}, keep_last=5)
    names = recorded_nights(spec_of(config), lambda n, b: (export_dir / n).write_bytes(b), 5, {})
    strangers = {"orders-1-backup-by-rs.rdb.gz", "README.txt"}
    for name in strangers:
        (export_dir / name).write_text("not the export's")
    config.write_text(config.read_text().replace("keep_last = 5", "keep_last = 2"))
    run = prune_cli(config)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in export_dir.iterdir() if p.is_file()) == sorted(
        {*names[3:], *strangers}
    )
    assert (export_dir / MANIFEST_DIR / "orders.json").is_file()
    assert "[orders] deleted " in run.stdout
    assert "plain" not in run.stdout


def test_an_unknown_name_is_one_line_of_bad_input(tmp_path: Path, export_dir: Path) -> None:
    """--name of no export: exit 2, one line naming the file and the names allowed, no traceback."""
    config = write_config(tmp_path, {"type": "mount_point", "path": str(export_dir)})
    run = prune_cli(config, "--name", "nope")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().count("\n") == 0
    assert "--name: got 'nope'; expected one of orders, plain" in run.stderr


def test_a_prune_waits_while_another_holds_the_export_and_then_finishes(
    tmp_path: Path, export_dir: Path
) -> None:
    """Two prunes of one export at once: the second says it waits, deletes nothing while
    the first holds the export's lock, and finishes the job once it is let go. The lock
    is the folder's however its path is spelled (here with a trailing slash)."""
    config = write_config(tmp_path, {"type": "mount_point", "path": f"{export_dir}/"}, keep_last=5)
    spec = spec_of(config)
    names = recorded_nights(spec, lambda n, b: (export_dir / n).write_bytes(b), 5, {})
    config.write_text(config.read_text().replace("keep_last = 5", "keep_last = 2"))
    with retention_lock(spec_of(config), f"mount_point {export_dir}", dict(os.environ)):
        process = subprocess.Popen(
            [sys.executable, "-m", "redis_enterprise_export", "prune", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "waiting for another prune or record of export 'orders'" in first
        assert sorted(p.name for p in export_dir.iterdir() if p.is_file()) == names
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert sorted(p.name for p in export_dir.iterdir() if p.is_file()) == names[3:]


@pytest.fixture
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """moto's S3 with a bucket, the endpoint boto3 finds in AWS_ENDPOINT_URL_S3."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    server = MotoServer(tmp_path)
    server.create_bucket(BUCKET)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.url)
    monkeypatch.setenv("S3_SECRET", AWS_SECRET)
    yield server
    server.stop()


def test_prune_on_s3_deletes_the_old_objects_and_keeps_the_rest(
    tmp_path: Path, moto: MotoServer
) -> None:
    """On moto's S3: a dry run lists and keeps everything; the prune deletes the three
    oldest recorded objects; RS's object and the manifest stay; no secret in the output."""
    location = {"type": "s3", "bucket_name": BUCKET, "access_key_id": AWS_KEY_ID,
                "secret_access_key_env": "S3_SECRET", "subdir": "nightly", "region_name": "eu-west-1"}  # fmt: skip
    config = write_config(tmp_path, location, keep_last=5)
    s3 = moto.client()
    s3.put_object(Bucket=BUCKET, Key="nightly/orders-1-by-rs.rdb.gz", Body=b"RS's")

    def put(name: str, body: bytes) -> None:
        s3.put_object(Bucket=BUCKET, Key=f"nightly/{name}", Body=body)

    names = recorded_nights(spec_of(config), put, 5, dict(os.environ))
    config.write_text(config.read_text().replace("keep_last = 5", "keep_last = 2"))
    dry = prune_cli(config, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert all(f"would delete {name}" in dry.stdout for name in names[:3])
    assert len(moto.objects(BUCKET)) == 7
    run = prune_cli(config)
    assert run.returncode == 0, run.stderr
    left = sorted(moto.objects(BUCKET))
    assert left == sorted(["nightly/orders-1-by-rs.rdb.gz", f"nightly/{MANIFEST_DIR}/orders.json",
                           *(f"nightly/{n}" for n in names[3:])])  # fmt: skip
    assert AWS_SECRET not in run.stdout + run.stderr + dry.stdout


def test_prune_on_s3_with_a_wrong_secret_fails_in_one_line_without_the_secret(
    tmp_path: Path, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store refusing the credentials: exit 1, the reason on one line, the secret nowhere."""
    key = moto.require_signatures()
    wrong = "Wrong-Secret-Key-7c1d9"
    monkeypatch.setenv("S3_SECRET", wrong)
    location = {"type": "s3", "bucket_name": BUCKET, "access_key_id": key,
                "secret_access_key_env": "S3_SECRET", "region_name": "eu-west-1"}  # fmt: skip
    config = write_config(tmp_path, location)
    run = prune_cli(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "error: [orders] cannot read" in run.stderr
    assert wrong not in run.stdout + run.stderr


def test_two_runners_sharing_postgres_never_prune_one_export_at_once(
    tmp_path: Path, export_dir: Path, postgres: PostgresServer
) -> None:
    """Two runners (each its own lock directory) with coordination = "postgres": while one
    holds the export's retention lock, the other's prune waits, deletes nothing, then finishes."""
    config = write_config(tmp_path, {"type": "mount_point", "path": str(export_dir)}, keep_last=5)
    config.write_text(config.read_text().replace(
        'url = "https://rs.example.com:9443"',
        'url = "https://rs.example.com:9443"\ncoordination = "postgres"'))  # fmt: skip
    spec = spec_of(config)
    mine = {"PG_CONN_STR": postgres.conn_str, SLOTS_ENV: str(tmp_path / "runner-a")}
    names = recorded_nights(spec, lambda n, b: (export_dir / n).write_bytes(b), 5, mine)
    config.write_text(config.read_text().replace("keep_last = 5", "keep_last = 2"))
    theirs = dict(os.environ) | {"PG_CONN_STR": postgres.conn_str,
                                 SLOTS_ENV: str(tmp_path / "runner-b")}  # fmt: skip
    with retention_lock(spec_of(config), f"mount_point {export_dir}", mine):
        process = subprocess.Popen(
            [sys.executable, "-m", "redis_enterprise_export", "prune", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=theirs,
        )  # fmt: skip
        assert process.stdout is not None
        assert "waiting for another prune or record" in process.stdout.readline()
        assert sorted(p.name for p in export_dir.iterdir() if p.is_file()) == names
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert sorted(p.name for p in export_dir.iterdir() if p.is_file()) == names[3:]


def test_prune_on_s3_without_its_secret_variable_says_which_in_one_line(
    tmp_path: Path, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The location's secret variable unset: exit 1, one line naming the variable, nothing deleted."""
    monkeypatch.delenv("S3_SECRET")
    location = {"type": "s3", "bucket_name": BUCKET, "access_key_id": AWS_KEY_ID,
                "secret_access_key_env": "S3_SECRET", "region_name": "eu-west-1"}  # fmt: skip
    moto.client().put_object(Bucket=BUCKET, Key="orders-1-old.rdb.gz", Body=b"x")
    run = prune_cli(write_config(tmp_path, location))
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"error: [orders] cannot reach s3://{BUCKET}/: ")
    assert "S3_SECRET" in line
    assert list(moto.objects(BUCKET)) == ["orders-1-old.rdb.gz"]
