"""The export job's decisions, on the simulator's cluster model with an injected clock.

No sockets: ``ClusterApi`` calls the model directly and raises what the real
client raises, so each case runs in milliseconds and its timing is exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from helpers import FakeClock
from helpers.jobs import ClusterApi, build
from redis_enterprise_export.errors import (
    ApiError,
    ExportFailedError,
    ExportTimeoutError,
    OutcomeUnknownError,
)
from redis_enterprise_export.polling import Deadline
from redis_enterprise_export.rs.failures import refusal
from redis_enterprise_export.run.export import ExportJob
from redis_enterprise_export.simulator import SimCluster
from redis_enterprise_export.spec.export import Cluster, ExportSpec
from redis_enterprise_export.spec.locations import S3Location


def spec(timeout: float = 600, database: int | str = 1) -> ExportSpec:
    return ExportSpec(
        name="orders",
        cluster=Cluster(url="https://rs.example.com:9443"),
        database=database,
        location=S3Location(bucket_name="b", access_key_id="a", secret_access_key_env="S3_SECRET"),
        timeout_seconds=timeout,
    )


def make_job(api: ClusterApi, clock: FakeClock, **kwargs: Any) -> tuple[ExportJob, list[str]]:
    return build(ExportJob, api, clock, spec=kwargs.pop("spec", spec()), **kwargs)


def test_success_reports_the_final_state_after_the_export_really_finished(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """Success is reported only once the export is done, just after it finished, started once."""
    api = ClusterApi(cluster)
    job, lines = make_job(api, clock)
    state = job.run()
    assert state.export_status == "succeeded"
    assert cluster.databases[1].export is not None
    assert cluster.databases[1].export.done
    assert 20.0 <= clock.now() <= 20.3
    assert cluster.exports_started(1) == 1
    assert "exporting database 1: 0%" in lines


def test_previous_result_is_never_taken_for_this_one_even_when_status_is_stale(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """The last export succeeded and reads lag 3 behind every action: a helper that
    polled right after its POST would see 'succeeded' at once and stop early."""
    api = ClusterApi(cluster)
    make_job(api, clock)[0].run()
    first_finished = clock.now()
    cluster.scenario.stale_reads = 3
    job, _ = make_job(api, clock)
    state = job.run()
    assert state.export_status == "succeeded"
    assert clock.now() - first_finished >= 20.0
    assert cluster.exports_started(1) == 2


def test_a_previous_failure_is_cleared_before_posting(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A previous failed export is cleared with a PUT before the next POST, and only then."""
    cluster.scenario.fail_reason = "no-permission"
    api = ClusterApi(cluster)
    with pytest.raises(ExportFailedError):
        make_job(api, clock)[0].run()
    cluster.scenario.fail_reason = None
    first_run = len(api.calls)
    assert make_job(api, clock)[0].run().export_status == "succeeded"
    second = api.calls[first_run:]
    assert "PUT" not in api.calls[:first_run]
    assert second.index("PUT") < second.index("POST")


def test_409_is_retried_with_backoff_until_accepted(cluster: SimCluster, clock: FakeClock) -> None:
    """A 409 is retried with backoff until the cluster accepts, and only one export starts."""
    cluster.scenario.conflicts = 3
    api = ClusterApi(cluster)
    job, lines = make_job(api, clock)
    assert job.run().export_status == "succeeded"
    assert job.conflicts == 3
    assert api.calls.count("POST") == 4
    assert cluster.exports_started(1) == 1
    assert sum("busy (409); retrying in 2.0 s" in line for line in lines) == 3


def test_409_until_the_deadline_times_out_with_the_seconds_in_the_message(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """409s until the deadline time out exactly at it, naming the timeout in seconds."""
    cluster.scenario.conflicts = 10_000
    job, _ = make_job(ClusterApi(cluster), clock, spec=spec(timeout=30))
    with pytest.raises(ExportTimeoutError, match="did not finish within 30 s"):
        job.run()
    assert clock.now() == pytest.approx(30.0)


@pytest.mark.parametrize("reason", ["no-permission", "wrong-file-path", "general-error"])
def test_a_failed_export_raises_with_its_documented_reason(
    cluster: SimCluster, clock: FakeClock, reason: str
) -> None:
    """A failed export raises naming the cluster's failure reason, and the state says failed."""
    cluster.scenario.fail_reason = reason
    job, _ = make_job(ClusterApi(cluster), clock)
    with pytest.raises(ExportFailedError, match=f"export_failure_reason '{reason}'"):
        job.run()
    assert job.state is not None
    assert job.state.export_status == "failed"


def test_a_stuck_export_times_out(cluster: SimCluster, clock: FakeClock) -> None:
    """An export that never finishes times out at its deadline, naming the last status."""
    cluster.scenario.export_seconds = 10_000
    job, _ = make_job(ClusterApi(cluster), clock, spec=spec(timeout=120))
    with pytest.raises(ExportTimeoutError, match="last export_status 'exporting'"):
        job.run()
    assert 120 <= clock.now() <= 121


def test_a_lost_post_response_is_followed_not_posted_again(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A POST whose answer is lost is checked on and followed, not POSTed again."""
    api = ClusterApi(cluster)
    api.lose_post_responses = 1
    job, lines = make_job(api, clock)
    assert job.run().export_status == "succeeded"
    assert cluster.exports_started(1) == 1
    assert api.calls.count("POST") == 1
    assert sum("checking whether the export started" in line for line in lines) == 1


def test_a_lost_post_response_with_stale_reads_still_starts_only_one(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """Reads lag for longer than the grace period: the re-POST meets a 409, and the
    job then finds the export running instead of starting a second one."""
    cluster.scenario.stale_reads = 40
    api = ClusterApi(cluster)
    api.lose_post_responses = 1
    job, _ = make_job(api, clock)
    assert job.run().export_status == "succeeded"
    assert cluster.exports_started(1) == 1


def test_an_export_already_running_is_waited_for_then_ours_runs(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """An export already running is reported and waited for, then ours starts once."""
    cluster.start_export(1, "admin", {"export_location": {"type": "mount_point", "path": "/x"}})
    job, lines = make_job(ClusterApi(cluster), clock)
    assert job.run().export_status == "succeeded"
    assert cluster.exports_started() == 1  # the log holds the job's POSTs only
    assert clock.now() >= 40.0
    assert "already exporting (not this run's export)" in lines[0]


def test_connection_trouble_while_polling_is_ridden_out(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """Refused reads while polling are retried until answered; the export is POSTed once."""
    api = ClusterApi(cluster)
    api.refuse_reads, api.refuse_reads_after_post = 2, 4
    job, _ = make_job(api, clock)
    assert job.run().export_status == "succeeded"
    assert (api.refuse_reads, api.refuse_reads_after_post) == (0, 0)
    served = sum(r.method == "GET" for r in cluster.log)
    assert api.calls.count("GET") == served + 6
    assert api.calls.count("POST") == 1


def test_a_database_name_is_resolved_to_its_uid(cluster: SimCluster, clock: FakeClock) -> None:
    """A database given by name is resolved to its uid, and the first line says so."""
    job, lines = make_job(ClusterApi(cluster), clock, spec=spec(database="orders"))
    job.run()
    assert job.uid == 1
    assert lines[0] == "database 'orders' is uid 1"


def test_a_database_renamed_while_the_export_waits_for_its_lock_is_not_exported(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A name is resolved before the database's lock: if the uid it gave is named
    otherwise once the lock is held (renamed, or replaced), no export is posted, so
    another database's export never passes for this one's."""
    from redis_enterprise_export.errors import ConfigError

    @contextmanager
    def renamed_meanwhile(uid: int, _deadline: Deadline) -> Iterator[None]:
        cluster.databases[uid].name = "orders-old"
        yield

    job, _ = make_job(
        ClusterApi(cluster), clock, spec=spec(database="orders"), gate=renamed_meanwhile
    )
    with pytest.raises(ConfigError, match=r"now named 'orders-old'.*no export was started"):
        job.run()
    assert cluster.exports_started() == 0


def test_a_missing_secret_fails_before_any_request(cluster: SimCluster, clock: FakeClock) -> None:
    """An unset secret fails the job before any request reaches the cluster."""
    api = ClusterApi(cluster)
    job = ExportJob(spec=spec(), client=api, environ={}, clock=clock, report=print)
    with pytest.raises(ValueError, match="secret_access_key_env: got 'S3_SECRET'"):
        job.run()
    assert api.calls == []


OTHER = {"export_location": {"type": "mount_point", "path": "/x"}}


def test_the_slot_is_taken_only_once_the_database_is_settled(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """Another client's export is waited out without a slot; the slot holder's first
    request is its POST, so a slot goes from one export's end straight to the next POST."""
    cluster.start_export(1, "admin", OTHER)
    api = ClusterApi(cluster)
    entered: list[tuple[float, int]] = []

    @contextmanager
    def slot(_uid: int, _deadline: Deadline) -> Iterator[None]:
        entered.append((clock.now(), len(api.calls)))
        yield

    job, _ = make_job(api, clock, slot=slot)
    assert job.run().export_status == "succeeded"
    [(at, calls_before)] = entered
    assert at >= 20.0  # the other export (20 s) had ended
    assert api.calls[calls_before] == "POST"
    assert "PUT" in api.calls[:calls_before]  # its final status was cleared first
    assert job.marks["slot"] == at


def test_another_clients_export_met_after_the_slot_is_settled_again(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """Another client starts an export of the database while this run waits for its
    slot, and reads lag: the 409 sends the run back to settling, so the other export's
    stale 'succeeded' is never taken for this run's."""
    api = ClusterApi(cluster)

    @contextmanager
    def slot(_uid: int, _deadline: Deadline) -> Iterator[None]:
        cluster.start_export(1, "admin", OTHER)  # 20 s, from 0
        cluster.scenario.stale_reads = 1
        yield

    job, _ = make_job(api, clock, slot=slot)
    assert job.run().export_status == "succeeded"
    assert job.conflicts >= 1
    assert cluster.exports_started(1) == 1  # the log holds the job's POSTs only
    assert clock.now() >= 40.0  # this run's own 20 s, after the other's
    assert api.calls.index("PUT") > api.calls.index("POST")


def test_the_cluster_is_asked_for_its_turn_before_every_post(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """With the cluster's count as coordination, a POST refused with 409 is not
    retried blindly: the count is waited for again before the next POST."""
    api = ClusterApi(cluster)
    cluster.scenario.max_concurrent_exports = 1
    cluster.add_database(2, "other")
    cluster.start_export(2, "admin", OTHER)  # 20 s, from 0: the cluster is full
    admitted: list[int] = []

    def admit(_uid: int, _deadline: Deadline) -> None:
        admitted.append(len(api.calls))
        if len(admitted) == 1:
            return  # the first look says "room", wrongly: another runner won the race
        clock.sleep(max(0.0, 20.0 - clock.now()))  # until the other export ends

    job, _ = make_job(api, clock, admit=admit)
    assert job.run().export_status == "succeeded"
    assert job.conflicts == 1
    assert len(admitted) == 2
    assert api.calls[admitted[1] - 1 :].count("POST") == 1  # the one POST after the wait
    assert clock.now() >= 20.0


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_a_final_status_read_after_the_lock_was_lost_is_outcome_unknown(
    cluster: SimCluster, clock: FakeClock, outcome: str
) -> None:
    """The lock is reported lost only when asked before a final status: that status,
    success or failure, is not taken as this run's; the run ends outcome unknown."""
    if outcome == "failed":
        cluster.scenario.fail_reason = "general-error"
    asked: list[bool] = []

    def lost(final: bool) -> str:
        asked.append(final)
        return "the PostgreSQL session holding the export locks was lost" if final else ""

    job, _ = make_job(ClusterApi(cluster), clock, lock_lost=lost)
    with pytest.raises(OutcomeUnknownError, match="session holding the export locks was lost"):
        job.run()
    assert asked[-1] is True
    assert asked.count(True) == 1


def test_a_lock_dropped_while_following_ends_the_run_outcome_unknown_at_once(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A session that shows its loss mid-export ends the run then, outcome unknown,
    before any final status is read."""
    job, _ = make_job(ClusterApi(cluster), clock, lock_lost=lambda _final: "lost it")
    with pytest.raises(OutcomeUnknownError, match="lost it while this run's export"):
        job.run()
    assert job.state is not None
    assert job.state.export_status == "exporting"


def test_another_action_uid_on_the_bdb_alone_never_ends_a_healthy_export(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """RS's own actions show their uids on the bdb mid-export: the run notes it once and
    follows its export to its success, rather than ending with 'lost track'."""
    cluster.scenario.export_seconds = 30.0
    cluster.scenario.foreign_action_uid = "SMUpdateBDB-7"
    job, lines = make_job(ClusterApi(cluster), clock)
    assert job.run().export_status == "succeeded"
    notes = [line for line in lines if "'SMUpdateBDB-7'" in line]
    assert len(notes) == 1
    assert "alone is no sign" in notes[0]
    assert cluster.exports_started(1) == 1


class ResetAnswers406(ClusterApi):
    """The status reset answers 406 (its RS page lists one, copied from the export's);
    ``takes``: whether the reset took effect all the same."""

    def __init__(self, cluster: SimCluster, *, takes: bool) -> None:
        super().__init__(cluster)
        self.takes = takes

    def reset_export_status(self, uid: int) -> None:
        if self.takes:
            self.cluster.reset_export_status(uid, "admin")
        self.calls.append("PUT")
        path = f"/v1/bdbs/{uid}/actions/export_reset_status"
        raise refusal(406, {"error_code": "not_acceptable"}, "PUT", path, user="admin",
                      permission="reset_bdb_current_export_status")  # fmt: skip


def test_a_406_to_the_status_reset_is_read_again_and_the_export_goes_on_if_it_cleared(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A 406 to the reset of a finished status that cleared all the same: the job reads the
    status again, sees it cleared, and runs its export (it used to end the run)."""
    cluster.databases[1].export_status = "failed"
    api = ResetAnswers406(cluster, takes=True)
    job, lines = make_job(api, clock)
    assert job.run().export_status == "succeeded"
    assert api.calls.count("PUT") == 1
    assert cluster.exports_started(1) == 1
    assert any("answered 406, but the export status cleared" in line for line in lines)


def test_a_406_to_the_status_reset_that_did_not_clear_it_ends_the_run_before_any_post(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A 406 and the status still 'failed' on the read after it: the 406 is the run's error,
    and nothing is posted."""
    cluster.databases[1].export_status = "failed"
    api = ResetAnswers406(cluster, takes=False)
    job, _ = make_job(api, clock)
    with pytest.raises(ApiError, match="406"):
        job.run()
    assert "POST" not in api.calls
