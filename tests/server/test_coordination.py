"""Export slots across runners: PostgreSQL session advisory locks, on a real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from helpers import ADMIN, PASSWORD, PostgresServer, start_helper, toml_text
from redis_enterprise_export.errors import ExportTimeoutError, LocalSetupError
from redis_enterprise_export.polling import Deadline, SystemClock
from redis_enterprise_export.rs.client import RsClient
from redis_enterprise_export.run import coordination
from redis_enterprise_export.run.coordination import PgLocks, cluster_turn, pg_slot, slot_key
from redis_enterprise_export.simulator import Simulator

URL = "https://rs.example.com:9443"


def env(postgres: PostgresServer) -> dict[str, str]:
    return {"PG_CONN_STR": postgres.conn_str}


def test_at_most_limit_slots_are_held_across_connections(postgres: PostgresServer) -> None:
    """Each holder has its own connection, as runners do; a third waits and times out."""
    deadline = Deadline(SystemClock(), 1.0)
    with (
        pg_slot(URL, 2, deadline, database=1, environ=env(postgres)) as a,
        pg_slot(URL, 2, deadline, database=2, environ=env(postgres)) as b,
    ):
        assert {a, b} == {0, 1}
        with (
            pytest.raises(ExportTimeoutError, match="'waiting for an export slot'"),
            pg_slot(URL, 2, deadline, database=3, environ=env(postgres)),
        ):
            pass


def test_other_clusters_have_their_own_slots(postgres: PostgresServer) -> None:
    """Keys derive from the cluster's identity: one cluster's full slots do not block another's."""
    deadline = Deadline(SystemClock(), 1.0)
    with (
        pg_slot(URL, 1, deadline, database=1, environ=env(postgres)),
        pg_slot("https://other:9443", 1, deadline, database=1, environ=env(postgres)) as slot,
    ):
        assert slot == 0
    assert slot_key(URL, 0) != slot_key("https://other:9443", 0)


def test_a_release_wakes_a_waiter_without_polling(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With polling made too slow to matter, the waiter still gets the slot: the NOTIFY woke it."""
    monkeypatch.setattr(coordination, "POLL_SECONDS", 60.0)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with pg_slot(URL, 1, Deadline(SystemClock(), 10), database=1, environ=env(postgres)):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    threading.Timer(0.3, release.set).start()
    waits: list[bool] = []
    with pg_slot(URL, 1, Deadline(SystemClock(), 20), database=2, environ=env(postgres),
                 on_wait=lambda: waits.append(True)) as slot:  # fmt: skip
        assert slot == 0
    thread.join()
    assert waits == [True]


def test_a_killed_holder_frees_its_slot(postgres: PostgresServer, tmp_path: Path) -> None:
    """A runner that dies holding a slot frees it when its connection drops."""
    code = (
        "import time\n"
        "from redis_enterprise_export.run.coordination import pg_slot\n"
        "from redis_enterprise_export.polling import Deadline, SystemClock\n"
        f"with pg_slot({URL!r}, 1, Deadline(SystemClock(), 30), database=1,\n"
        f"             environ={{'PG_CONN_STR': {postgres.conn_str!r}}}):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    with (
        pytest.raises(ExportTimeoutError),
        pg_slot(URL, 1, Deadline(SystemClock(), 0.5), database=2, environ=env(postgres)),
    ):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate()
    with pg_slot(URL, 1, Deadline(SystemClock(), 10), database=2, environ=env(postgres)) as slot:
        assert slot == 0


def test_an_unreachable_database_is_a_local_setup_error_without_the_password() -> None:
    """No PostgreSQL: one line naming where it looked, never the password in the string."""
    secret = "pg-Secret-77"
    with (
        pytest.raises(LocalSetupError) as info,
        pg_slot(URL, 1, Deadline(SystemClock(), 1), database=1,
                environ={"PG_CONN_STR": f"postgresql://u:{secret}@127.0.0.1:9/db?connect_timeout=2"}),
    ):  # fmt: skip
        pass
    assert "cannot reach the PostgreSQL at 127.0.0.1 port 9 named by $PG_CONN_STR" in str(
        info.value
    )
    assert secret not in str(info.value)


def test_cluster_turn_waits_while_the_cluster_runs_its_limit(sim: Simulator) -> None:
    """Without a shared database, the cluster's own count of running exports is the gate."""
    sim.cluster.scenario.export_seconds = 1.0
    body = {"export_location": {"type": "s3", "bucket_name": "b", "access_key_id": "a",
                                "secret_access_key": "s"}}  # fmt: skip
    assert sim.cluster.start_export(1, "admin", body).status == 200
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    clock = SystemClock()
    waits: list[bool] = []
    cluster_turn(rs, 2, Deadline(clock, 5), database=3, on_wait=lambda: waits.append(True))
    assert waits == []  # 1 running, limit 2: go at once
    cluster_turn(rs, 1, Deadline(clock, 5), database=3, on_wait=lambda: waits.append(True))
    assert waits == [True]  # 1 running, limit 1: waited for it to finish
    assert sim.cluster.databases[1].export_status == "succeeded"
    assert sim.cluster.start_export(1, "admin", body).status == 200
    with pytest.raises(ExportTimeoutError, match="waiting for the cluster to run fewer exports"):
        cluster_turn(rs, 1, Deadline(clock, 0.3), database=3)


def three_runners(
    sim: Simulator, tmp_path: Path, coordination: str, env: dict[str, str]
) -> list[int]:
    """Three helpers, each with its own lock directory as on three runners, exporting three
    databases of a cluster that runs one export at once; their exit codes."""
    sim.cluster.scenario.export_seconds = 0.5
    sim.cluster.scenario.max_concurrent_exports = 1
    for uid in (11, 12, 13):
        sim.cluster.add_database(uid, f"db{uid}")
    location = {"type": "s3", "bucket_name": "b", "access_key_id": "a",
                "secret_access_key_env": "S3_SECRET"}  # fmt: skip
    cluster = {"url": sim.url, "ca_cert": str(sim.ca_path), "max_concurrent_exports": 1,
               "coordination": coordination}  # fmt: skip
    runs = []
    for uid in (11, 12, 13):
        config = tmp_path / f"runner-{uid}" / "exports.toml"
        config.parent.mkdir()
        config.write_text(toml_text({
            "clusters": {"sim": cluster},
            "exports": {"x": {"cluster": "sim", "database": uid, "location": location}},
        }))  # fmt: skip
        slots = {"REDIS_EXPORT_SLOTS_DIR": str(config.parent / "slots")}
        runs.append(start_helper(config, config.parent / "r.json", slots | env, name="x"))
    for run in runs:
        run.communicate(timeout=120)
    return [run.returncode for run in runs]


def test_runners_share_slots_through_postgres_and_never_exceed_the_limit(
    sim: Simulator, tmp_path: Path, postgres: PostgresServer
) -> None:
    """Separate lock directories, one PostgreSQL: every POST is accepted the first time."""
    assert three_runners(sim, tmp_path, "postgres", env(postgres)) == [0, 0, 0]
    assert [r.status for r in sim.cluster.log if r.method == "POST"] == [200] * 3


def test_runners_without_coordination_meet_409s(sim: Simulator, tmp_path: Path) -> None:
    """The control case: separate lock directories and nothing shared, so the cluster
    refuses the POSTs beyond its limit."""
    assert three_runners(sim, tmp_path, "local", {}) == [0, 0, 0]
    assert any(r.status == 409 for r in sim.cluster.log if r.method == "POST")


def test_runners_asking_the_cluster_first_all_finish(sim: Simulator, tmp_path: Path) -> None:
    """Without a shared database, each helper waits while the cluster runs its limit;
    racing helpers may still meet a 409 and back off, and all three finish."""
    assert three_runners(sim, tmp_path, "cluster", {}) == [0, 0, 0]
    assert sim.cluster.exports_started() == 3


def test_cluster_turn_rides_out_503s_as_a_status_read_does(sim: Simulator) -> None:
    """Eight 503s on GET /v1/bdbs (more than the client's own retries) delay the turn;
    they do not end the export."""
    sim.cluster.scenario.faults = {"GET": ["503"] * 8 + ["..."]}
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    said: list[str] = []
    cluster_turn(rs, 1, Deadline(SystemClock(), 60), database=1, report=said.append)
    assert said
    assert all("answered 503" in line for line in said)
    assert [r.status for r in sim.cluster.log] == [503] * 8 + [200]


def terminate_helpers(postgres: PostgresServer) -> None:
    """End every helper session but the caller's, as a failover or a DBA would."""
    with psycopg.connect(postgres.conn_str, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name "
            "= 'redis-enterprise-export' AND pid <> pg_backend_pid()"
        )


def test_held_locks_are_proven_held_by_the_backend_that_took_them(
    postgres: PostgresServer,
) -> None:
    """Holding a database's lock and a slot, the session shows no sign of loss and its
    backend is proven to hold both."""
    locks = PgLocks(env(postgres), lambda _: None)
    deadline = Deadline(SystemClock(), 5.0)
    try:
        with (
            locks.database(URL, 1, deadline, on_wait=lambda: None),
            locks.slot(URL, 3, deadline, database=1),
        ):
            assert not locks.dropped()
            assert locks.lost() == ""
    finally:
        locks.close()


def test_a_terminated_session_shows_without_a_round_trip_and_is_never_proven_held(
    postgres: PostgresServer,
) -> None:
    """pg_terminate_backend on the session holding a database's lock: the socket says so
    (dropped), and lost() names the lost session, even once another runner holds the key."""
    locks = PgLocks(env(postgres), lambda _: None)
    deadline = Deadline(SystemClock(), 5.0)
    other = PgLocks(env(postgres), lambda _: None)
    try:
        with locks.database(URL, 1, deadline, on_wait=lambda: None):
            terminate_helpers(postgres)
            for _ in range(500):
                if locks.dropped():
                    break
                time.sleep(0.01)
            assert locks.dropped()
            with other.database(URL, 1, deadline, on_wait=lambda: None):
                assert "session holding the export locks was lost" in locks.lost()
    finally:
        locks.close()
        other.close()


def test_a_stalled_session_that_still_holds_its_locks_is_proven_held_from_another(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder's backend stopped (SIGSTOP): its own session cannot answer, but a new
    session sees that backend still holding the lock, so the hold stands."""
    monkeypatch.setattr(coordination, "CALL_SECONDS", 1.0)
    locks = PgLocks(env(postgres), lambda _: None)
    deadline = Deadline(SystemClock(), 5.0)
    with locks.database(URL, 1, deadline, on_wait=lambda: None):
        with psycopg.connect(postgres.conn_str, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = "
                "'redis-enterprise-export'"
            ).fetchone()
        assert row is not None
        os.kill(row[0], signal.SIGSTOP)
        try:
            assert locks.lost() == ""
        finally:
            os.kill(row[0], signal.SIGCONT)
    locks.close()


def test_each_postgresql_call_is_bounded_by_the_time_left(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half a second left on the run's deadline (a fake clock): the session's set-up, its
    LISTEN and the lock's try are each cut at 1.5 s (the time left plus the grace), not
    the 5 s a call gets when time is ample."""
    from helpers import FakeClock

    bounds: list[float] = []
    bounded = coordination._bounded

    def recording(connection: object, seconds: float) -> object:
        bounds.append(seconds)
        return bounded(connection, seconds)  # type: ignore[arg-type]

    monkeypatch.setattr(coordination, "_bounded", recording)
    clock = FakeClock()
    deadline = Deadline(clock, 10.0)
    clock.t = 9.5
    with pg_slot(URL, 1, deadline, database=1, environ=env(postgres)):
        taken = list(bounds)
    # SET statement_timeout, lock_timeout, idle_session_timeout; the session's backend
    # (pid and start, which the lock-loss check compares); LISTEN; the try.
    assert taken == [1.5] * 6
