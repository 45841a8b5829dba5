"""``python -m redis_enterprise_export.simulator``: its help, its set-up errors, its flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from helpers import AWS_KEY_ID, AWS_SECRET, PASSWORD, MotoServer

COMMAND = [sys.executable, "-m", "redis_enterprise_export.simulator"]
MAIN = "redis_enterprise_export.simulator"


def run(*args: str, path: str | None = None, blocked: str = "") -> subprocess.CompletedProcess[str]:
    """The command with ``args``, the password set; ``path``: its PATH; ``blocked``: a
    Python package it cannot import."""
    env = {**os.environ, "REDIS_ENTERPRISE_PASSWORD": PASSWORD}
    if path is not None:
        env["PATH"] = path
    command = COMMAND
    if blocked:
        code = f"import runpy, sys; sys.modules[{blocked!r}] = None; runpy.run_module({MAIN!r}, run_name='__main__')"
        command = [sys.executable, "-c", code]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_help_names_the_users_the_password_variable_the_files_and_the_defaults() -> None:
    """--help says who signs in, which variable holds the password, the CA and ready files,
    every option's default, and the newcomer's flags."""
    shown = run("--help").stdout
    for text in (
        "admin@redis.local",
        "viewer@redis.local",
        "REDIS_ENTERPRISE_PASSWORD",
        "--password-env",
        "ROOT/ca.pem",
        "ROOT/simulator.json",
        "(default: 0)",
        "(default: 3.0)",
        "(default: admin@redis.local)",
        "--database NAME",
        "--scheduled-backups NAME",
        "--s3-endpoint-url URL",
    ):
        assert text in shown, text


def test_a_missing_redis_server_is_one_line_naming_the_debian_package(tmp_path: Path) -> None:
    """On a PATH without redis-server, the simulator exits 2 with one error line naming
    redis-server and apt-get install redis-server, not a traceback."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)  # a PATH with Python, without redis
    done = run("--root", str(tmp_path / "sim"), path=str(bin_dir))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: redis-server ")
    assert "apt-get install redis-server" in done.stderr
    assert not (tmp_path / "sim" / "simulator.json").exists()


@pytest.mark.parametrize("package", ["trustme", "redis"])
def test_a_missing_simulator_package_is_one_line_naming_the_extra(
    tmp_path: Path, package: str
) -> None:
    """Without one of the simulator extra's packages, it exits 2 with one error line naming
    the package and pip install 'redis-enterprise-export[simulator]'."""
    done = run("--root", str(tmp_path / "sim"), blocked=package)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: the Python package {package} ")
    assert "pip install 'redis-enterprise-export[simulator]'" in done.stderr


@pytest.fixture
def started(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The simulator started with two extra databases, scheduled backups on one of them
    and on orders; its ready file's contents."""
    root = tmp_path / "sim"
    flags = ["--database", "invoices", "--database", "carts"]
    flags += ["--scheduled-backups", "invoices", "--scheduled-backups", "orders"]
    env = {**os.environ, "REDIS_ENTERPRISE_PASSWORD": PASSWORD}
    process = subprocess.Popen(
        [*COMMAND, "--root", str(root), *flags], env=env, stdout=subprocess.DEVNULL
    )
    try:
        ready = root / "simulator.json"
        for _ in range(300):  # it writes the ready file last, once it serves
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), f"the simulator did not start (exit {process.poll()})"
        yield json.loads(ready.read_text())
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_flags_add_empty_databases_and_turn_rs_scheduled_backups_on(
    started: dict[str, str],
) -> None:
    """--database adds an empty database after the bundled three; --scheduled-backups shows
    backup on, a last_backup_time and backup_status succeeded on the named databases only."""
    rows = requests.get(
        f"{started['url']}/v1/bdbs",
        params={"fields": "uid,name,backup,backup_status,last_backup_time"},
        auth=("admin@redis.local", PASSWORD),
        verify=started["ca_cert"],
        timeout=10,
    ).json()
    by_name = {row["name"]: row for row in rows}
    assert [(row["uid"], row["name"]) for row in rows] == [
        (1, "orders"),
        (2, "search"),
        (3, "orders-drill"),
        (4, "invoices"),
        (5, "carts"),
    ]
    for name in ("invoices", "orders"):
        assert by_name[name]["backup"] is True
        assert by_name[name]["backup_status"] == "succeeded"
        assert by_name[name]["last_backup_time"]
    for name in ("search", "orders-drill", "carts"):
        assert by_name[name]["backup"] is False
        assert "last_backup_time" not in by_name[name]


def test_s3_endpoint_url_makes_an_s3_export_write_its_object_there(tmp_path: Path) -> None:
    """With --s3-endpoint-url (moto), an export to an s3 location succeeds and leaves one
    gzipped object, named after the database, under the location's subdir."""
    moto = MotoServer(tmp_path)
    try:
        moto.create_bucket("exports")
        root = tmp_path / "sim"
        env = {**os.environ, "REDIS_ENTERPRISE_PASSWORD": PASSWORD}
        process = subprocess.Popen(
            [*COMMAND, "--root", str(root), "--export-seconds", "0.2", "--s3-endpoint-url", moto.url],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            ready = root / "simulator.json"
            for _ in range(300):
                if ready.exists() or process.poll() is not None:
                    break
                time.sleep(0.1)
            sim = json.loads(ready.read_text())
            given: dict[str, Any] = {"auth": ("admin@redis.local", PASSWORD),
                                     "verify": sim["ca_cert"]}  # fmt: skip
            location = {"type": "s3", "bucket_name": "exports", "subdir": "nightly",
                        "access_key_id": AWS_KEY_ID, "secret_access_key": AWS_SECRET}  # fmt: skip
            posted = requests.post(f"{sim['url']}/v1/bdbs/1/actions/export",
                                   json={"export_location": location}, timeout=10, **given)  # fmt: skip
            assert posted.status_code == 200, posted.text
            status = ""
            for _ in range(300):
                status = requests.get(f"{sim['url']}/v1/bdbs/1", timeout=10, **given).json()[
                    "export_status"
                ]
                if status != "exporting":
                    break
                time.sleep(0.05)
            assert status == "succeeded"
            (key,) = moto.objects("exports")
            assert key.startswith("nightly/orders-1-")
            assert key.endswith(".rdb.gz")
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        moto.stop()
