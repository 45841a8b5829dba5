"""A run reports only its own export's outcome: never another client's, never a stale one.

Unit cases run the job on the simulator's cluster model with a fake clock, with
"another client" acting between two of the job's reads. The end-to-end cases run
two real stacks on one database, the first export failing midway.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import FakeClock, TerraformProject
from redis_enterprise_export.client import ExportState
from redis_enterprise_export.errors import OutcomeUnknownError, ProtocolError
from redis_enterprise_export.export import ExportJob
from redis_enterprise_export.models import Cluster, ExportSpec, S3Location
from redis_enterprise_export.simulator import SimCluster, Simulator
from test_export_job import ClusterApi

OTHER = {"export_location": {"type": "s3", "bucket_name": "b", "access_key_id": "a",
                             "secret_access_key": "s"}}  # fmt: skip


class Interfering(ClusterApi):
    """The job's API, with another client acting on the cluster just before read ``at``
    (counted from the job's POST); ``show_action`` False hides the bdb's action_uid."""

    def __init__(self, cluster: SimCluster, at: int, act: Callable[[SimCluster], None],
                 *, show_action: bool = True) -> None:  # fmt: skip
        super().__init__(cluster)
        self.at, self.act, self.show_action = at, act, show_action
        self.reads_after_post = 0

    def export_state(self, uid: int) -> ExportState:
        if "POST" in self.calls:
            self.reads_after_post += 1
            if self.reads_after_post == self.at:
                self.act(self.cluster)
        state = super().export_state(uid)
        return state if self.show_action else _without_action(state)


def _without_action(state: ExportState) -> ExportState:
    from dataclasses import replace

    return replace(state, action_uid="")


def fail_then_export_again(cluster: SimCluster) -> None:
    """Our export fails midway; another client sees 'failed', resets it and exports."""
    db = cluster.databases[1]
    assert db.export is not None
    db.export.done = True
    db.export_status, db.export_failure_reason = "failed", "general-error"
    assert cluster.reset_export_status(1, "admin").status == 200
    assert cluster.start_export(1, "admin", OTHER).status == 200


def reset_only(cluster: SimCluster) -> None:
    """Another client resets the status under our running export (RS would refuse; a
    cluster that failed our export and was reset at once looks the same)."""
    db = cluster.databases[1]
    assert db.export is not None
    db.export.done = True
    db.export_status, db.export_progress = "", 0.0


def job(api: ClusterApi, clock: FakeClock) -> ExportJob:
    spec = ExportSpec(
        name="orders",
        cluster=Cluster(url="https://rs.example.com:9443"),
        database=1,
        location=S3Location(bucket_name="b", access_key_id="a", secret_access_key_env="S3"),
        timeout_seconds=600,
    )
    return ExportJob(spec=spec, client=api, environ={"S3": "x"}, clock=clock, report=lambda _: None)


@pytest.mark.parametrize("at", [2, 3, 4])
def test_another_clients_export_after_ours_failed_is_never_followed_as_ours(
    cluster: SimCluster, clock: FakeClock, at: int
) -> None:
    """Ours fails, another client resets and exports before our next read: the action
    uid differs, so the run stops with 'outcome unknown', never 'succeeded'."""
    api = Interfering(cluster, at, fail_then_export_again)
    with pytest.raises(OutcomeUnknownError, match="the running action is"):
        job(api, clock).run()


@pytest.mark.parametrize("at", [3, 4])
def test_without_an_action_uid_progress_going_back_gives_it_away(
    cluster: SimCluster, clock: FakeClock, at: int
) -> None:
    """A cluster that shows no action uid: the other export's progress starts again from
    0, below what this run saw of its own, and the run stops with 'outcome unknown'."""
    api = Interfering(cluster, at, fail_then_export_again, show_action=False)
    with pytest.raises(OutcomeUnknownError, match="export_progress went back"):
        job(api, clock).run()


def test_a_status_cleared_under_a_running_export_is_lost_track(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """Having seen its export running, a run that then reads a cleared status does not
    wait on: someone else acted on the database, and the outcome is unknown."""
    api = Interfering(cluster, 3, reset_only)
    with pytest.raises(OutcomeUnknownError, match="export_status was cleared while it ran"):
        job(api, clock).run()


def test_a_run_undisturbed_still_reports_its_own_success(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """The control case: the same interfering API, never acting, ends in 'succeeded'."""
    api = Interfering(cluster, 10_000, fail_then_export_again)
    assert job(api, clock).run().export_status == "succeeded"


def test_the_timeout_message_says_no_export_started_when_none_was_posted(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A run that never got its POST accepted must not say 'the export may still finish'."""
    cluster.scenario.conflicts = 10_000
    with pytest.raises(Exception, match="No export was started by this run") as info:
        job(ClusterApi(cluster), clock).run()
    assert "may still finish" not in str(info.value)


def test_a_status_that_survives_its_resets_is_given_up_on_after_ten_saying_why(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A reset that never takes: the job backs off, and after 10 resets stops (it used to
    loop GET+PUT until the deadline: about 720 pairs in the default hour), posting nothing."""
    cluster.databases[1].export_status = "failed"

    class Stuck(ClusterApi):
        def reset_export_status(self, uid: int) -> None:
            self.calls.append("PUT")  # accepted, but the status stays

    api = Stuck(cluster)
    with pytest.raises(ProtocolError, match="still 'failed' after 10 resets") as info:
        job(api, clock).run()
    assert "no export was started" in str(info.value)
    assert api.calls.count("PUT") == 10
    assert "POST" not in api.calls
    assert clock.sleeps == sorted(clock.sleeps)
    assert clock.sleeps[-1] == 5.0


# End to end: two real stacks, one database -----------------------------------


def stack_tables(sim: Simulator, export_dir: Path) -> dict[str, Any]:
    return {
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {"orders": {"cluster": "sim", "database": 1, "timeout_seconds": 60,
                               "location": {"type": "mount_point", "path": str(export_dir)}}},
    }  # fmt: skip


def _apply(project: TerraformProject, run_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["terraform", "apply", "-auto-approve", "-no-color", f"-var=run_id={run_id}"],
        cwd=project.stack, env=project.env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("machines", ["one machine", "two machines"])
@pytest.mark.parametrize("offset", [0.3, 1.6, 2.4])
def test_two_stacks_on_one_database_the_first_failing_never_reports_success(
    sim: Simulator, export_dir: Path, tmp_path: Path, machines: str, offset: float
) -> None:
    """Stack A's export fails midway (at 1.5 s of 3 s); stack B applies ``offset`` s after
    A's export started: while it runs, just after it failed, and later. A never exits 0:
    on one machine the database lock keeps B out until A has read its own failure; across
    machines (separate lock directories) A reports the failure or that it lost track."""
    from helpers import terraform_env

    sim.cluster.scenario.export_seconds = 3.0
    sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    projects = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        slots = tmp_path / ("slots" if machines == "one machine" else f"slots-{name}")
        slots.mkdir(mode=0o700, exist_ok=True)
        project = TerraformProject(root, terraform_env(REDIS_EXPORT_SLOTS_DIR=str(slots)))
        project.synth(stack_tables(sim, export_dir))
        project.init()
        projects.append(project)
    first = _apply(projects[0], "a-1")
    deadline = time.monotonic() + 60
    while sim.cluster.exports_started(1) == 0:
        assert time.monotonic() < deadline, "A's export never started"
        time.sleep(0.01)
    time.sleep(offset)
    second = _apply(projects[1], "b-1")
    out_a, _ = first.communicate(timeout=120)
    out_b, _ = second.communicate(timeout=120)

    assert first.returncode != 0, out_a
    a_text = " ".join(out_a.split())
    assert "failed: export_failure_reason 'general-error'" in a_text or "lost track" in a_text
    record = (projects[0].stack / ".results" / "orders.json").read_text()
    assert '"export_status": "succeeded"' not in record
    assert second.returncode == 0, out_b
    assert sim.cluster.exports_started(1) == 2
