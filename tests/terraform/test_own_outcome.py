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
from typing import Any, cast

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from helpers import FakeClock, TerraformProject
from helpers.jobs import ClusterApi
from redis_enterprise_export.errors import (
    ClusterBusyError,
    InterruptedExportError,
    OutcomeUnknownError,
    ProtocolError,
    ServerError,
)
from redis_enterprise_export.rs.answers import ExportState
from redis_enterprise_export.run.export import ExportJob
from redis_enterprise_export.simulator import SimCluster, Simulator
from redis_enterprise_export.spec.export import Cluster, ExportSpec
from redis_enterprise_export.spec.locations import S3Location

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


@pytest.mark.parametrize("at", [3, 4])
def test_another_clients_export_after_ours_failed_is_never_followed_as_ours(
    cluster: SimCluster, clock: FakeClock, at: int
) -> None:
    """Ours fails, another client resets and exports before our next read: its progress
    went back, so the run stops with 'outcome unknown', naming the changed action uid too."""
    api = Interfering(cluster, at, fail_then_export_again)
    with pytest.raises(OutcomeUnknownError, match=r"went back .* action_uid changed"):
        job(api, clock).run()


def test_a_changed_action_uid_with_no_other_sign_is_only_noted(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """The documented limit without a lock: the other's export before our second read, its
    progress not below ours; the action uid alone (RS's own actions have theirs) does not
    end the run, but the run's output says that it changed."""
    api = Interfering(cluster, 2, fail_then_export_again)
    lines: list[str] = []
    run = job(api, clock)
    run.report = lines.append
    assert run.run().export_status == "succeeded"
    assert sum("action_uid is now" in line for line in lines) == 1


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
    with pytest.raises(ProtocolError, match="still 'failed' after 10 accepted resets") as info:
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
    A's export started: while it runs, just after it failed, and later. On one machine A
    never exits 0: the database lock keeps B out until A has read its own failure. Across
    machines (separate lock directories, no shared coordination) A reports the failure or
    that it lost track, or, where B's export shows no sign but a changed action uid (never
    evidence on its own, issue 26 M1), takes it for its own and says the uid changed."""
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

    a_text = " ".join(out_a.split())
    record = (projects[0].stack / ".results" / "orders.json").read_text()
    if machines == "two machines" and first.returncode == 0:
        # The documented limit without shared coordination: said, not hidden.
        assert "the bdb's action_uid is now" in a_text, out_a
    else:
        assert first.returncode != 0, out_a
        assert "failed: export_failure_reason 'general-error'" in a_text or "lost track" in a_text
        assert '"export_status": "succeeded"' not in record
    assert second.returncode == 0, out_b
    assert sim.cluster.exports_started(1) == 2


# Found by an adversarial review of the fixes above -----------------------------


def test_a_reset_refused_as_busy_is_retried_to_the_deadline_not_counted_as_a_reset(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """409 to the status reset is temporary (RS): 15 of them, then an accepted reset, and the
    export runs; before, the 10th refusal ended the run as 'survives 10 resets'."""
    cluster.databases[1].export_status = "failed"
    said: list[str] = []

    class Busy(ClusterApi):
        refusals = 15

        def reset_export_status(self, uid: int) -> None:
            if self.refusals:
                self.refusals -= 1
                self.calls.append("PUT")
                raise ClusterBusyError(409, "PUT", "/reset", error_code="busy")
            super().reset_export_status(uid)

    run = job(Busy(cluster), clock)
    run.report = said.append
    assert run.run().export_status == "succeeded"
    assert run.conflicts == 15
    assert sum("busy (409) to the status reset" in line for line in said) == 1


def test_an_undocumented_status_that_stays_is_reset_after_a_grace_then_exported(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A status RS does not document ('cancelled') that never changes: waited out 30 s, then
    reset (RS resets only when no export runs), then this run's export; not a timeout."""
    cluster.databases[1].export_status = "cancelled"
    api = ClusterApi(cluster)
    run = job(api, clock)
    assert run.run().export_status == "succeeded"
    first_put = api.calls.index("PUT")
    assert "POST" in api.calls[first_put:]
    assert clock.now() >= 30.0


def test_a_post_answered_500_every_time_ends_after_three_saying_no_export_was_seen(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """500 to every POST, nothing ever running: three lost answers, each looked for, then one
    line quoting the 500 (before: reposted until the deadline, then 'raise timeout_seconds')."""

    class Failing(ClusterApi):
        def start_export(self, uid: int, body: dict[str, Any]) -> None:
            self.calls.append("POST")
            raise ServerError("POST /x answered 500 (internal: boom)", maybe_sent=True)

    api = Failing(cluster)
    with pytest.raises(ServerError, match=r"answered 500 \(internal: boom\).*after 3 POSTs"):
        job(api, clock).run()
    assert api.calls.count("POST") == 3
    assert clock.now() < 600


def test_the_accepted_line_is_said_with_the_export_already_marked_as_posted(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """An interrupt while the 'accepted' line is written must say the export may run: the
    job counts it as posted from the 2xx on (before, there was a moment it said none)."""
    seen: list[bool] = []
    run = job(ClusterApi(cluster), clock)
    run.report = lambda line: seen.append(run.posted) if line.endswith("accepted") else None
    run.run()
    assert seen == [True]


def test_an_interrupt_while_the_post_is_in_flight_says_the_export_may_run(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A signal after the cluster took the POST but before its answer came back: the job
    counts the export as posted (before, the unwinding POST cleared that, and the helper
    said no export was started while one ran)."""

    class CutOff(ClusterApi):
        def start_export(self, uid: int, body: dict[str, Any]) -> None:
            super().start_export(uid, body)
            raise InterruptedExportError("SIGTERM")

    run = job(CutOff(cluster), clock)
    with pytest.raises(InterruptedExportError):
        run.run()
    assert cluster.databases[1].export_status == "exporting"
    assert run.posted


class Signalled:
    """The job's API and clock, with a SIGTERM raised at step ``at`` (a call or a pause),
    before that step takes effect or right after it."""

    def __init__(self, api: ClusterApi, clock: FakeClock, at: int, after: bool) -> None:
        self.api, self.clock, self.at, self.after = api, clock, at, after
        self.steps = 0
        self.posts = 0

    def _step(self, act: Callable[[], Any]) -> Any:
        self.steps += 1
        if self.steps == self.at and not self.after:
            raise InterruptedExportError("SIGTERM")
        done = act()
        if self.steps == self.at:
            raise InterruptedExportError("SIGTERM")
        return done

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.api, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if name.startswith("start_"):
                self.posts += 1
            return self._step(lambda: real(*args, **kwargs))

        return call

    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self._step(lambda: self.clock.sleep(seconds))


@settings(max_examples=40, deadline=None)
@given(at=st.integers(min_value=1, max_value=40), after=st.booleans(), busy=st.booleans())
def test_a_signal_at_any_step_says_an_export_may_run_whenever_the_cluster_took_one(
    at: int, after: bool, busy: bool
) -> None:
    """Wherever SIGTERM lands (any call or pause, before or after it takes effect, with
    another client's export to wait out first or not): if the cluster took this run's
    POST, the job counts it as posted; if no POST was sent, it does not."""
    clock = FakeClock()
    cluster = SimCluster(clock=clock.now)
    cluster.add_database(1, "orders")
    cluster.scenario.export_seconds = 20.0
    if busy:
        cluster.start_export(1, "admin", OTHER)
        clock.sleep(5)
    before = cluster.exports_started(1)
    signalled = Signalled(ClusterApi(cluster), clock, at, after)
    run = job(cast(ClusterApi, signalled), cast(FakeClock, signalled))
    try:
        run.run()
    except InterruptedExportError:
        ours = cluster.exports_started(1) - before
        if ours:
            assert run.posted
        if not signalled.posts:
            assert not run.posted
    else:
        assume(False)  # the run ended before step ``at``
