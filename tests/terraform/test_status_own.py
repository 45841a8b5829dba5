"""``status`` per export: each export's own latest outcome and last success, from its own
records (Terraform state and the helper's result files), beside the cluster's shared fields.

The end-to-end cases apply two exports of one database with real Terraform, the
offsite one failing (its mount is gone: the simulator answers ``wrong-file-path``).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import TerraformProject, terraform_env, toml_text
from helpers.day2 import S3, day2, epoch, metric_samples, status
from redis_enterprise_export.commands.records import results_in_state
from redis_enterprise_export.contract import Result, unique_id
from redis_enterprise_export.simulator import Simulator


def two_exports(sim: Simulator, local: Path, offsite: Path) -> dict[str, Any]:
    """One database, two destinations: by name to ``local``, by uid to ``offsite``."""
    return {
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {
            "orders_local": {"cluster": "sim", "database": "orders", "timeout_seconds": 60,
                             "location": {"type": "mount_point", "path": str(local)}},
            "orders_offsite": {"cluster": "sim", "database": 1, "timeout_seconds": 60,
                               "location": {"type": "mount_point", "path": str(offsite)}},
        },
    }  # fmt: skip


@pytest.fixture
def offsite(tmp_path: Path) -> Path:
    path = tmp_path / "offsite"
    path.mkdir()
    return path


def by_export(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["export"]: row for row in report["exports"]}


def own_result(project: TerraformProject, name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((project.stack / ".results" / f"{name}.json").read_text())
    return record


@pytest.mark.e2e
def test_status_tells_two_exports_of_one_database_apart_by_their_own_records(
    sim: Simulator, export_dir: Path, offsite: Path, project: TerraformProject, tmp_path: Path
) -> None:
    """The offsite export fails, the local one succeeds: status shows the offsite one failed
    with its own reason and no success, the local one succeeded at its own time, while the
    cluster's fields, one set per database, are the same for both. --max-age fails on the
    offsite one only; the metrics carry each export's own last success."""
    project.synth(two_exports(sim, export_dir, offsite))
    project.init()
    offsite.rmdir()
    assert project.apply("r1", check=False).code != 0
    local = own_result(project, "orders_local")
    assert local["export_status"] == "succeeded"

    metrics = tmp_path / "exports.prom"
    code, report = status(project, "--max-age", "26h", "--prometheus", str(metrics))
    rows = by_export(report)
    assert code == 1
    assert report["own_records"] == {"stack": str(project.stack), "read": True, "error": ""}
    failed, good = rows["orders_offsite"], rows["orders_local"]
    assert failed["own_latest"]["export_status"] == "failed"
    assert failed["own_latest"]["export_failure_reason"] == "wrong-file-path"
    assert failed["own_latest"]["run_id"] == "r1"
    assert failed["own_last_success"] is None
    assert failed["problem"].startswith("its latest run r1 failed: ")
    assert "wrong-file-path" in failed["problem"]
    assert "no successful export of its own on record" in failed["problem"]
    assert good["own_latest"]["export_status"] == "succeeded"
    assert good["own_last_success"]["finished_at"] == local["finished_at"]
    assert good["own_age_seconds"] < 600
    assert good["problem"] == ""
    assert {row["freshness_from"] for row in rows.values()} == {"own records"}
    # The cluster's view cannot tell them apart: one status, one time, for both.
    assert failed["export_status"] == good["export_status"]
    assert failed["last_export_time"] == good["last_export_time"]

    found = metric_samples(metrics)
    labels = (("cluster", "sim"), ("database", "orders"), ("database_uid", "1"))
    last = "redis_export_last_success_timestamp_seconds"
    assert found[(last, (*labels, ("export", "orders_local")))] == epoch(local["finished_at"])
    assert (last, (*labels, ("export", "orders_offsite"))) not in found
    latest = "redis_export_latest_run_status"
    state = (*labels, ("export", "orders_offsite"), (latest, "failed"))
    assert found[(latest, state)] == 1
    assert found[("redis_export_own_records_read", ())] == 1

    code, out, _ = day2(
        "status", "--max-age", "26h", "--config", str(project.config), "--stack", str(project.stack)
    )
    assert code == 1
    problems = {line.split()[0]: line.rstrip().endswith(" ok") for line in out.splitlines()[1:]}
    assert problems == {"orders_local": True, "orders_offsite": False}


@pytest.mark.e2e
def test_after_a_good_night_a_failed_export_shows_the_previous_nights_success(
    sim: Simulator, export_dir: Path, offsite: Path, project: TerraformProject
) -> None:
    """Night r1: both succeed. Night r2: the offsite one fails. Its own last success is r1's
    (kept in state), its latest run r2 failed; the local one's last success is r2's."""
    project.synth(two_exports(sim, export_dir, offsite))
    project.init()
    project.apply("r1")
    first_night = own_result(project, "orders_offsite")
    shutil.rmtree(offsite)  # the offsite mount is gone
    assert project.apply("r2", check=False).code != 0
    tonight = own_result(project, "orders_local")

    code, report = status(project, "--max-age", "26h")
    rows = by_export(report)
    assert code == 1
    failed, good = rows["orders_offsite"], rows["orders_local"]
    assert (failed["own_latest"]["export_status"], failed["own_latest"]["run_id"]) == (
        "failed",
        "r2",
    )
    assert failed["own_last_success"]["run_id"] == "r1"
    assert failed["own_last_success"]["finished_at"] == first_night["finished_at"]
    assert failed["own_last_success"]["source"] == "state"
    assert failed["problem"].startswith("its latest run r2 failed: ")
    assert "no successful export" not in failed["problem"]
    assert (good["own_last_success"]["run_id"], good["problem"]) == ("r2", "")
    assert good["own_last_success"]["finished_at"] == tonight["finished_at"]


@pytest.mark.e2e
def test_a_runner_without_the_result_files_reads_the_last_successes_from_state(
    sim: Simulator, export_dir: Path, offsite: Path, project: TerraformProject
) -> None:
    """Another checkout sharing the state but not .results/ (the next night's runner):
    each export's last success comes from state, the same as on the runner that ran it.
    No --stack: the default is the stack synth writes beside the config."""
    project.synth(two_exports(sim, export_dir, offsite))
    project.init()
    project.apply("r1")
    shutil.rmtree(project.stack / ".results")
    code, out, _ = day2("status", "--json", "--max-age", "26h", "--config", str(project.config))
    report = json.loads(out)
    assert code == 0, report
    assert report["own_records"]["stack"] == str(project.stack)
    for row in report["exports"]:
        assert row["own_last_success"]["run_id"] == "r1"
        assert row["own_latest"]["source"] == "state"


def _uninitialized(tmp_path: Path) -> Path:
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "cdk.tf.json").write_text('{"terraform": {"backend": {"local": {}}}}')
    return stack


@pytest.mark.parametrize(
    ("where", "path", "said"),
    [
        ("no stack", "/nonexistent/stack", "no stack at /nonexistent/stack (no cdk.tf.json"),
        ("an empty folder", "/", "no stack at / (no cdk.tf.json: synthesize it"),
        ("not initialized", "", "failed: Error: Backend initialization required"),
        ("no terraform", "", "terraform is not on PATH"),
    ],
)
def test_own_records_not_read_are_said_once_and_the_cluster_judges(
    sim: Simulator, tmp_path: Path, where: str, path: str, said: str
) -> None:
    """No stack, an uninitialized one, or no terraform: status says 'own records not read'
    once, with why, and --max-age judges the cluster's last_export_time, as before."""
    db = sim.cluster.databases[1]
    db.export_status = "succeeded"
    db.last_export_time = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = tmp_path / "exports.toml"
    config.write_text(toml_text({
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {"orders": {"cluster": "sim", "database": 1, "location": S3}},
    }))  # fmt: skip
    stack = path or str(_uninitialized(tmp_path))
    env = {"PATH": str(tmp_path / "empty-bin")} if where == "no terraform" else {}
    argv = ("status", "--max-age", "26h", "--config", str(config), "--stack", stack)
    code, out, _ = day2(*argv, "--json", env=env)
    report = json.loads(out)
    assert code == 0
    assert report["own_records"]["read"] is False
    assert said in report["own_records"]["error"]
    (row,) = report["exports"]
    assert (row["freshness_from"], row["problem"], row["own_latest"]) == ("cluster", "", None)
    for mode in ((), ("--markdown",)):
        code, out, _ = day2(*argv, *mode, env=env)
        assert code == 0
        assert out.count("own records not read: ") == 1
        assert said in " ".join(out.split())


def test_a_result_file_that_cannot_be_read_is_an_unknown_latest_run(
    sim: Simulator, tmp_path: Path
) -> None:
    """State read (empty), and .results/orders.json is not JSON: the latest run is unknown,
    a problem naming the file, and no own success is on record: --max-age exits 1."""
    stack = _uninitialized(tmp_path)
    init = TerraformProject(tmp_path, terraform_env()).init(cwd=stack)
    assert init.code == 0
    (stack / ".results").mkdir()
    (stack / ".results" / "orders.json").write_text('{"export_status": "succ')
    config = tmp_path / "exports.toml"
    config.write_text(toml_text({
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {"orders": {"cluster": "sim", "database": 1, "location": S3}},
    }))  # fmt: skip
    argv = ("status", "--json", "--max-age", "1d", "--config", str(config), "--stack", str(stack))
    code, out, _ = day2(*argv)
    (row,) = json.loads(out)["exports"]
    assert code == 1
    assert row["own_latest"]["export_status"] == "unknown"
    assert row["problem"].startswith("its latest run unknown: ")
    assert f"{stack}/.results/orders.json could not be read" in row["problem"]
    assert "no successful export of its own on record" in row["problem"]


RECORD = Result(
    name="orders", run_id="r1", export_status="succeeded", finished_at="2026-01-01T00:00:00Z"
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(noise=JSON, where=st.sampled_from(["values", "root_module", "resources", "resource"]))
def test_any_state_shape_gives_the_records_it_holds_and_never_raises(
    noise: Any, where: str
) -> None:
    """``terraform show -json`` of any shape: the result records found by address, anything
    else ignored, never an exception; a deposed leftover is not a record."""
    good = {
        "address": f"terraform_data.{unique_id(['orders', 'result'])}",
        "mode": "managed",
        "type": "terraform_data",
        "values": {"output": RECORD.to_json()},
    }
    deposed = good | {"deposed_key": "abc", "values": {"output": Result(name="orders").to_json()}}
    resources: list[Any] = [good, deposed, noise]
    state: Any = {"values": {"root_module": {"resources": resources}}}
    if where == "values":
        state = {"values": noise}
    elif where == "root_module":
        state = {"values": {"root_module": noise}}
    elif where == "resources":
        state = {"values": {"root_module": {"resources": noise}}}
    found = results_in_state(state, ["orders"])
    assert found == ({"orders": [RECORD]} if where == "resource" else {})


def _with_fake_terraform(tmp_path: Path, script: str) -> tuple[Path, dict[str, str]]:
    """A config whose cluster is not there, and an environment whose ``terraform`` is a
    shell stand-in running ``script``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "terraform"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    config = tmp_path / "exports.toml"
    config.write_text(toml_text({
        "clusters": {"sim": {"url": "https://127.0.0.1:9", "request_timeout_seconds": 1}},
        "exports": {"orders": {"cluster": "sim", "database": 1, "location": S3}},
    }))  # fmt: skip
    return config, {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_status_reads_state_with_the_environment_it_was_given(tmp_path: Path) -> None:
    """The terraform it runs is the one on PATH (a stand-in that records its arguments):
    ``terraform -chdir=STACK show -json -no-color``, nothing that could change state."""
    stack = _uninitialized(tmp_path)
    log = tmp_path / "argv"
    config, env = _with_fake_terraform(
        tmp_path, f'echo "$@" > {log}\necho \'{{"format_version": "1.0"}}\''
    )
    code, out, _ = day2("status", "--json", "--config", str(config), "--stack", str(stack), env=env)
    assert code == 6  # the cluster is not there; the records were read all the same
    assert json.loads(out)["own_records"]["read"] is True
    assert log.read_text().split() == [f"-chdir={stack}", "show", "-json", "-no-color"]


def test_a_state_read_error_says_terraforms_error_without_the_backends_secrets(
    tmp_path: Path,
) -> None:
    """terraform show fails quoting the backend's connection string: status says 'own records
    not read' with Terraform's Error line, the password in it as ***."""
    stack = _uninitialized(tmp_path)
    conn = "postgres://backup:Pg-Secret-5ecr3t@db.example.com:5432/tfstate"
    config, env = _with_fake_terraform(
        tmp_path,
        "echo 'Initializing...' >&2\n"
        f"echo '│ Error: failed to connect to `{conn}`: password authentication failed' >&2\n"
        "exit 1",
    )
    env["PG_CONN_STR"] = conn
    code, out, err = day2(
        "status", "--json", "--config", str(config), "--stack", str(stack), env=env
    )
    error = json.loads(out)["own_records"]["error"]
    assert code == 6
    assert error.startswith(f"terraform show in {stack} failed: Error: failed to connect to `")
    assert "password authentication failed" in error
    assert "Pg-Secret-5ecr3t" not in out + err
