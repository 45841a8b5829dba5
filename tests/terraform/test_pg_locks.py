"""coordination = "postgres" across runners: the database locked for the whole job, and
a lost or stalled PostgreSQL session never spoils an export's outcome."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psycopg
import pytest

from helpers import PostgresServer, TerraformProject, start_helper, write_helper_config
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e


def runner(sim: Simulator, tmp_path: Path, name: str, postgres: PostgresServer,
           timeout: int = 60) -> tuple[Path, dict[str, str]]:  # fmt: skip
    """One runner's config and environment: its own lock directory, the shared PostgreSQL."""
    directory = tmp_path / name
    directory.mkdir()
    config = write_helper_config(
        sim.url, sim.ca_path, directory, cluster={"coordination": "postgres"},
        timeout_seconds=timeout,
    )  # fmt: skip
    env = {"PG_CONN_STR": postgres.conn_str, "REDIS_EXPORT_SLOTS_DIR": str(directory / "slots")}
    return config, env


def wait_for_post(sim: Simulator, count: int = 1) -> None:
    deadline = time.monotonic() + 30
    while sim.cluster.exports_started(1) < count:
        assert time.monotonic() < deadline, "the export never started"
        time.sleep(0.01)


def lock_holder(postgres: PostgresServer) -> int:
    """The pid of the backend holding an advisory lock (the helper's session)."""
    with psycopg.connect(postgres.conn_str, autocommit=True) as conn:
        for _ in range(300):
            row = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted LIMIT 1"
            ).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.01)
    raise AssertionError("no session holds an advisory lock")


@pytest.fixture
def terminate(postgres: PostgresServer) -> Iterator[list[int]]:
    """Backends to continue and end after the test, so none keeps its locks."""
    pids: list[int] = []
    yield pids
    with psycopg.connect(postgres.conn_str, autocommit=True) as conn:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_across_runners_a_failed_export_is_never_reported_as_the_next_runners_success(
    sim: Simulator, tmp_path: Path, postgres: PostgresServer
) -> None:
    """Runner A's export fails midway; runner B (its own lock directory) starts just after;
    the cluster shows no action uid. B waits on A's database lock in PostgreSQL, so A
    reports its own failure, never B's success, and B exports after A's end."""
    sim.cluster.scenario.export_seconds = 3.0
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    sim.cluster.scenario.action_uid = False
    (config_a, env_a), (config_b, env_b) = (runner(sim, tmp_path, n, postgres) for n in "ab")
    a = start_helper(config_a, config_a.parent / "r.json", env_a)
    wait_for_post(sim)
    time.sleep(1.6)  # A's export failed at 1.5 s; A has not read it yet
    b = start_helper(config_b, config_b.parent / "r.json", env_b)
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)

    record = json.loads((config_a.parent / "r.json").read_text())
    assert record["export_status"] != "succeeded", out_a
    assert a.returncode == 4, out_a + err_a
    assert "waiting for another runner's export, drill or restore of database 1 to end" in out_b
    assert b.returncode == 0, out_b + err_b
    assert sim.cluster.exports_started(1) == 2


def helper_pids(marker: str) -> list[int]:
    """The helper's processes (the supervisor and its worker) whose environment holds
    ``marker`` (KEY=value)."""
    for _ in range(500):
        pids = []
        for proc in Path("/proc").glob("[0-9]*"):
            with suppress(OSError):
                if b"redis_enterprise_export" in (proc / "cmdline").read_bytes() and (
                    marker.encode() in (proc / "environ").read_bytes().split(b"\0")
                ):
                    pids.append(int(proc.name))
        if len(pids) >= 2:
            return pids
        time.sleep(0.01)
    raise AssertionError(f"no helper process with {marker}")


def terminate_helper_sessions(postgres: PostgresServer) -> None:
    """End the helpers' PostgreSQL sessions, as a failover or an idle timeout would."""
    with psycopg.connect(postgres.conn_str, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name "
            "= 'redis-enterprise-export' AND pid <> pg_backend_pid()"
        )


def test_a_postgres_session_lost_during_the_export_makes_its_outcome_unknown(
    sim: Simulator, tmp_path: Path, postgres: PostgresServer
) -> None:
    """pg_terminate_backend on the helper's session while its export runs: its locks went
    with it, so the success it then reads is not proven its own: exit 7, 'unknown'."""
    sim.cluster.scenario.export_seconds = 1.5
    config, env = runner(sim, tmp_path, "a", postgres)
    helper = start_helper(config, config.parent / "r.json", env)
    wait_for_post(sim)
    lock_holder(postgres)
    terminate_helper_sessions(postgres)
    out, err = helper.communicate(timeout=60)
    assert helper.returncode == 7, out + err
    assert json.loads((config.parent / "r.json").read_text())["export_status"] == "unknown"
    assert "the PostgreSQL session holding the export locks was lost" in out + err


def test_apply_whose_session_is_lost_mid_export_never_claims_the_next_runners_success(
    sim: Simulator, tmp_path: Path, postgres: PostgresServer, project: TerraformProject
) -> None:
    """Runner A (terraform apply) and runner B (a helper), separate lock directories, one
    PostgreSQL. A's session is terminated mid-export and A's export fails; while A sleeps
    (stopped), B takes the freed lock, resets the failure and exports. A then reads B's
    'succeeded', yet its apply fails and records 'outcome unknown'; B's success is its own."""
    sim.cluster.scenario.export_seconds = 6.0
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    sim.cluster.scenario.action_uid = False
    slots_a = tmp_path / "slots-a"
    slots_a.mkdir(mode=0o700)
    project.env |= {"PG_CONN_STR": postgres.conn_str, "REDIS_EXPORT_SLOTS_DIR": str(slots_a)}
    export_dir = tmp_path / "exported"
    export_dir.mkdir()
    project.synth({
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path),
                             "coordination": "postgres"}},
        "exports": {"orders": {"cluster": "sim", "database": 1, "timeout_seconds": 60,
                               "location": {"type": "mount_point", "path": str(export_dir)}}},
    })  # fmt: skip
    project.init()
    apply = subprocess.Popen(
        ["terraform", "apply", "-auto-approve", "-no-color", "-var=run_id=r1"],
        cwd=project.stack, env=project.env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    helper_a: list[int] = []
    try:
        wait_for_post(sim)
        lock_holder(postgres)
        # Stopped first, so A cannot see its session end before B has done it all.
        helper_a = helper_pids(f"REDIS_EXPORT_SLOTS_DIR={slots_a}")
        for pid in helper_a:
            os.kill(pid, signal.SIGSTOP)
        terminate_helper_sessions(postgres)
        config_b, env_b = runner(sim, tmp_path, "b", postgres)
        b = start_helper(config_b, config_b.parent / "r.json", env_b)
        out_b, err_b = b.communicate(timeout=120)
        for pid in helper_a:
            os.kill(pid, signal.SIGCONT)
        out_a, _ = apply.communicate(timeout=180)
    finally:
        for pid in helper_a:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        apply.kill()

    assert apply.returncode != 0, out_a
    # The stack reads its previous outputs (a local state), so the helper records the
    # unknown outcome and exits 0, and the apply fails at the export's check.
    assert "export orders did not succeed" in out_a, out_a
    assert '\\"export_status\\": \\"unknown\\"' in out_a, out_a
    assert "session holding the export locks was lost" in out_a, out_a
    assert '\\"export_status\\": \\"succeeded\\"' not in out_a, out_a
    assert project.outputs()["orders"]["export_status"] == "unknown"
    record_b = json.loads((config_b.parent / "r.json").read_text())
    assert b.returncode == 0, out_b + err_b
    assert record_b["export_status"] == "succeeded"
    assert sim.cluster.exports_started(1) == 2


def test_a_stalled_postgres_never_holds_the_helper_past_its_deadline(
    sim: Simulator, tmp_path: Path, postgres: PostgresServer, terminate: list[int]
) -> None:
    """The helper's backend stopped (SIGSTOP) while the export runs: releasing its locks
    gives up (the call is bounded: without the bound it would hang past the wait below),
    and the success stands."""
    sim.cluster.scenario.export_seconds = 1.0
    config, env = runner(sim, tmp_path, "a", postgres, timeout=30)
    helper = start_helper(config, config.parent / "r.json", env)
    wait_for_post(sim)
    pid = lock_holder(postgres)
    terminate.append(pid)
    os.kill(pid, signal.SIGSTOP)
    try:
        out, err = helper.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        helper.kill()
        raise
    assert helper.returncode == 0, out + err
    assert json.loads((config.parent / "r.json").read_text())["export_status"] == "succeeded"
