"""The helper as Terraform runs it: a process, its exit codes, output, result file and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    ADMIN,
    PASSWORD,
    S3_SECRET,
    run_helper,
    start_helper,
    terraform_env,
    toml_text,
    write_helper_config,
)
from redis_enterprise_export.contract import RECORDED_FAILURE_ENV
from redis_enterprise_export.errors import ExitCode
from redis_enterprise_export.simulator import Simulator


def test_success_writes_the_result_and_exits_0(sim: Simulator, tmp_path: Path) -> None:
    """Success: exit 0, one summary line, the result record; the secret goes only in the body."""
    result = tmp_path / "r" / "orders.json"
    code, out, err = run_helper(write_helper_config(sim.url, sim.ca_path, tmp_path), result)
    assert (code, err) == (0, "")
    assert "[orders] export of database 1 succeeded" in out
    record = json.loads(result.read_text())
    assert record["export_status"] == "succeeded"
    assert record["run_id"] == "nightly-7"
    assert record["database_uid"] == 1
    assert sim.cluster.export_bodies[0]["export_location"]["secret_access_key"] == S3_SECRET


@pytest.mark.parametrize(
    ("change", "scenario", "code", "status", "message"),
    [
        ({"database": 2}, {}, 3, "error", "answered 406"),
        ({"timeout_seconds": 1}, {"export_seconds": 30}, 5, "timeout", "did not finish within 1 s"),
        (
            {},
            {"fail_reason": "general-error"},
            4,
            "failed",
            "export_failure_reason 'general-error'",
        ),
    ],
    ids=["refused", "timeout", "failed"],
)
def test_failures_exit_non_zero_and_still_write_the_result(
    sim: Simulator,
    tmp_path: Path,
    change: dict[str, Any],
    scenario: dict[str, Any],
    code: int,
    status: str,
    message: str,
) -> None:
    """Each failure has its exit code and one error line, and its result is written, secret-free."""
    for key, value in scenario.items():
        setattr(sim.cluster.scenario, key, value)
    result = tmp_path / "orders.json"
    got, out, err = run_helper(
        write_helper_config(sim.url, sim.ca_path, tmp_path, **change), result
    )
    assert got == code
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in out + err
    record = json.loads(result.read_text())
    assert record["export_status"] == status
    assert message in record["message"]
    assert S3_SECRET not in out + err + result.read_text()


def test_when_the_stack_judges_the_record_a_recorded_failure_exits_0(
    sim: Simulator, tmp_path: Path
) -> None:
    """With REDIS_EXPORT_RECORDED_FAILURE=1 (the stack fails the apply from the record), a
    failed export exits 0, its failure recorded and said; one whose record cannot be
    written still exits non-zero, so Terraform taints it."""
    sim.cluster.scenario.fail_reason = "general-error"
    config = write_helper_config(sim.url, sim.ca_path, tmp_path)
    judged = {RECORDED_FAILURE_ENV: "1"}
    result = tmp_path / "orders.json"
    code, _, err = run_helper(config, result, env=judged)
    assert code == 0
    assert "export_failure_reason 'general-error'" in err
    assert json.loads(result.read_text())["export_status"] == "failed"
    unwritable = tmp_path / "a-folder"
    unwritable.mkdir()
    code, _, err = run_helper(config, unwritable, env=judged)
    assert code != 0, err


def test_unreachable_cluster_exits_6_without_a_traceback(tmp_path: Path) -> None:
    """No cluster at the URL: exit 6 and one line naming it, no traceback."""
    config = tmp_path / "exports.toml"
    config.write_text(
        toml_text(
            {
                "clusters": {"c": {"url": "https://127.0.0.1:9"}},
                "exports": {"orders": {"cluster": "c", "database": 1, "timeout_seconds": 2,
                                       "location": {"type": "mount_point", "path": "/m"}}},
            }
        )
    )  # fmt: skip
    code, _, err = run_helper(config, tmp_path / "r.json")
    assert code == 6
    assert "could not reach https://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_a_python_without_a_dependency_is_a_set_up_error_naming_it(
    sim: Simulator, tmp_path: Path
) -> None:
    """Terraform's python3 lacks truststore (a dependency): exit 2, one line naming the
    module and the Python, and the result recorded; before, an 'internal error (a bug)'."""
    config = write_helper_config(sim.url, sim.ca_path, tmp_path)
    result = tmp_path / "r.json"
    blocked = "import sys; sys.modules['truststore'] = None; import runpy; "
    run = subprocess.run(
        [sys.executable, "-c", blocked + "runpy.run_module('redis_enterprise_export', run_name='__main__')",
         "export", "--config", str(config), "--name", "orders", "--result", str(result)],
        env=terraform_env(S3_SECRET=S3_SECRET), capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert run.returncode == ExitCode.BAD_INPUT, run.stderr
    assert (
        f"the Python running the helper ({sys.executable}) cannot import 'truststore'" in run.stderr
    )
    assert "internal error" not in run.stderr
    assert json.loads(result.read_text())["export_status"] == "error"
    assert sim.cluster.exports_started() == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"S3_SECRET": ""},
            "secret_access_key_env: got 'S3_SECRET'; expected the name of an "
            "environment variable that is set",
        ),
        ({"REDIS_ENTERPRISE_PASSWORD": ""}, "password_env: got 'REDIS_ENTERPRISE_PASSWORD'"),
    ],
)
def test_a_missing_secret_is_bad_input_exit_2(
    sim: Simulator, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    """An unset secret or password variable is bad input (exit 2), found before any request."""
    code, _, err = run_helper(
        write_helper_config(sim.url, sim.ca_path, tmp_path), tmp_path / "r.json", env
    )
    assert code == 2
    assert message in err
    assert sim.cluster.log == []


def test_the_insecure_opt_in_warns(sim: Simulator, tmp_path: Path) -> None:
    """REDIS_ENTERPRISE_INSECURE=true turns verification off, with a warning on the run."""
    code, _, err = run_helper(
        write_helper_config(sim.url, sim.ca_path, tmp_path),
        tmp_path / "r.json",
        {"REDIS_ENTERPRISE_INSECURE": "true"},
    )
    assert code == 0
    assert "warning: TLS verification of https://127.0.0.1" in err
    assert "is OFF (REDIS_ENTERPRISE_INSECURE=true)" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_records_interrupted_and_exits_promptly(
    sim: Simulator, tmp_path: Path, sig: signal.Signals
) -> None:
    """SIGTERM or SIGINT: exit 130 while the export still runs (the helper does not wait for
    it), 'interrupted' recorded, no secret in argv or output."""
    sim.cluster.scenario.export_seconds = 60
    result = tmp_path / "orders.json"
    process = start_helper(write_helper_config(sim.url, sim.ca_path, tmp_path), result)
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    _wait_for(lambda: sim.cluster.exports_started(1) == 1)
    argv = cmdline.read_bytes().decode()
    process.send_signal(sig)
    out, err = process.communicate(timeout=10)
    # Ordered against the cluster, not timed: the 60 s export is still running.
    assert sim.cluster.databases[1].export_status == "exporting"
    assert process.returncode == 130
    assert f"interrupted by {sig.name}; the export may still be running" in err
    assert json.loads(result.read_text())["export_status"] == "interrupted"
    for secret in (S3_SECRET, PASSWORD):
        assert secret not in argv + out + err
    assert ADMIN not in argv


def test_an_interrupt_before_any_post_says_no_export_was_started(
    sim: Simulator, tmp_path: Path
) -> None:
    """Interrupted while the database is still being settled: exit 130, and the message
    says no export was started (it used to say the export may still be running)."""
    sim.cluster.scenario.export_seconds = 60
    sim.cluster.start_export(1, "admin", {"export_location": {"type": "mount_point",
                                                              "path": str(tmp_path)}})  # fmt: skip
    result = tmp_path / "orders.json"
    process = start_helper(write_helper_config(sim.url, sim.ca_path, tmp_path), result)
    out = ""
    while "already exporting" not in out:
        line = process.stdout.readline() if process.stdout else ""
        assert line, "the helper ended before it waited"
        out += line
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 130
    assert "interrupted by SIGTERM; no export was started by this run" in err
    assert sim.cluster.exports_started(1) == 0  # counts POSTs over HTTP: the helper made none


def _wait_for(condition: Any, seconds: float = 20) -> None:
    until = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < until, "timed out waiting"
        time.sleep(0.02)


def test_help_lists_the_exit_codes() -> None:
    """--help ends with the exit codes, generated from ExitCode."""
    run = subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", "export", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert " ".join(run.stdout.split()).endswith(f"exit codes: {ExitCode.describe()}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--spec", "/nonexistent.json"],
            "--spec: got '/nonexistent.json'; expected a readable JSON file",
        ),
        ([], "spec: got None; expected --config and --name, --spec FILE, or $REDIS_EXPORT_SPEC"),
    ],
)
def test_a_missing_spec_is_bad_input_not_a_traceback(argv: list[str], message: str) -> None:
    """No spec, or an unreadable one, is bad input (exit 2) in one line, not a traceback."""
    run = subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", "export", *argv],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "REDIS_EXPORT_SPEC"},
    )
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_a_drilled_export_run_by_hand_records_its_files_unproven_and_prunes_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    """`export --config` of an export the file drills: as in the stack, its drill proves
    the files, so the run records them unproven and deletes nothing (before, a hand run
    counted as proven and pruned the older copies before any drill)."""
    from redis_enterprise_export.run.retention import MANIFEST_DIR, record
    from redis_enterprise_export.spec.config import load_config

    folder = tmp_path / "exports"
    folder.mkdir()
    config = write_helper_config(sim.url, sim.ca_path, tmp_path, retention={"keep_last": 1},
                                 location={"type": "mount_point", "path": str(folder)})  # fmt: skip
    with config.open("a") as toml:
        toml.write('\n[drills.orders]\nexport = "orders"\ninto = "orders-drill"\n'
                  'erase = "orders-drill"\n')  # fmt: skip
    (folder / "orders-night-1.rdb.gz").write_bytes(b"x" * 10)
    spec = next(s for s in load_config(config).exports if s.name == "orders")
    record(spec, {}, files=["orders-night-1.rdb.gz"], run_id="n1", proven=True,
           report=lambda _: None)  # fmt: skip
    code, out, err = run_helper(config, tmp_path / "orders.json")
    assert code == 0, err
    assert (folder / "orders-night-1.rdb.gz").exists()
    manifest = json.loads((folder / MANIFEST_DIR / "orders.json").read_text())
    assert [e["proven"] for e in manifest["entries"]] == [True, False]
    assert "proven once its drill succeeds" in out
