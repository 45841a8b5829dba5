"""The import job's decisions, on the simulator's cluster model with an injected clock.

The job is the export's (``job.ActionJob``), so these pin down what is the import's
own: its statuses (``initializing`` is running), its errors and hints, the
Active-Active refusal before any POST, and that it never starts two imports.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import FakeClock
from helpers.jobs import ClusterApi, build
from redis_enterprise_export.errors import (
    ActiveActiveError,
    ConfigError,
    ImportFailedError,
    ImportTimeoutError,
    OutcomeUnknownError,
)
from redis_enterprise_export.run.restore import ImportJob, RestoreSpec
from redis_enterprise_export.simulator import SimCluster
from redis_enterprise_export.spec import locations
from redis_enterprise_export.spec.export import Cluster
from redis_enterprise_export.spec.locations import Location, MountPointLocation, S3Location
from redis_enterprise_export.spec.values import check_file_name

# The export tests' S3_SECRET (build passes it), and the other location types' secrets.
ENV = {"S3_SECRET": "s3-secret", "FTP_PW": "ftp:pw@/x", "GS_KEY": "gs-key", "SAS": "sas-tok"}
S3 = S3Location(bucket_name="b", access_key_id="a", secret_access_key_env="S3_SECRET",
                subdir="nightly")  # fmt: skip
OTHER = {"dataset_import_sources": [{"type": "mount_point", "path": "/x/other.rdb"}]}


def restore_spec(
    timeout: float = 600, database: int | str = 1, location: Location = S3
) -> RestoreSpec:
    return RestoreSpec(
        cluster=Cluster(url="https://rs.example.com:9443"),
        database=database,
        location=location,
        files=("orders-1-20260101.rdb.gz",),
        timeout_seconds=timeout,
    )


def make_job(api: ClusterApi, clock: FakeClock, **kwargs: Any) -> tuple[ImportJob, list[str]]:
    return build(ImportJob, api, clock, spec=kwargs.pop("spec", restore_spec()), **kwargs)


@pytest.fixture
def model(cluster: SimCluster) -> SimCluster:
    cluster.scenario.import_seconds = 20.0
    return cluster


def test_an_import_is_posted_once_and_followed_to_its_success(
    model: SimCluster, clock: FakeClock
) -> None:
    """One POST with the file as a source; success only once the import really ended,
    'initializing' read as running, never as an undocumented status."""
    api = ClusterApi(model)
    job, lines = make_job(api, clock)
    state = job.run()
    assert (state.import_status, state.import_progress) == ("succeeded", 100.0)
    assert 20.0 <= clock.now() <= 20.3
    assert model.imports_started(1) == 1
    assert model.import_bodies == [{"dataset_import_sources": [
        {"type": "s3", "bucket_name": "b", "access_key_id": "a", "secret_access_key": "s3-secret",
         "subdir": "nightly", "filename": "orders-1-20260101.rdb.gz"}]}]  # fmt: skip
    assert (
        "import of database 1 from 'orders-1-20260101.rdb.gz' in s3://b/nightly accepted" in lines
    )
    assert "importing database 1: 0%" in lines
    assert not any("does not document" in line for line in lines)
    assert lines[-1] == "import of database 1 succeeded"


def test_a_previous_imports_status_is_cleared_and_never_taken_for_this_one(
    model: SimCluster, clock: FakeClock
) -> None:
    """The last import succeeded and reads lag 3 behind every action: the job resets the
    status (PUT before POST) and waits for its own import's end."""
    api = ClusterApi(model)
    make_job(api, clock)[0].run()
    first_finished, first_calls = clock.now(), len(api.calls)
    model.scenario.stale_reads = 3
    assert make_job(api, clock)[0].run().import_status == "succeeded"
    assert clock.now() - first_finished >= 20.0
    second = api.calls[first_calls:]
    assert second.index("PUT") < second.index("POST")
    assert model.imports_started(1) == 2


def test_409_is_backed_off_until_accepted_and_one_import_starts(
    model: SimCluster, clock: FakeClock
) -> None:
    """A busy database (409) is retried with backoff; one import starts."""
    model.scenario.conflicts = 3
    api = ClusterApi(model)
    job, lines = make_job(api, clock)
    assert job.run().import_status == "succeeded"
    assert (job.conflicts, api.calls.count("POST"), model.imports_started(1)) == (3, 4, 1)
    assert sum("busy (409); retrying in 2.0 s" in line for line in lines) == 3


def test_an_export_running_on_the_database_is_a_409_waited_out(
    model: SimCluster, clock: FakeClock
) -> None:
    """An export holds the database (409 busy): the import starts once it ended."""
    export = {"export_location": {"type": "mount_point", "path": "/x"}}
    assert model.start_export(1, "admin", export).status == 200
    job, _ = make_job(ClusterApi(model), clock)
    assert job.run().import_status == "succeeded"
    assert job.conflicts >= 1
    assert model.imports_started(1) == 1
    assert clock.now() >= 40.0


@pytest.mark.parametrize("lost", [1, 2])
def test_a_lost_post_answer_is_looked_for_and_never_posted_twice(
    model: SimCluster, clock: FakeClock, lost: int
) -> None:
    """The POST's answer is lost: the job looks, finds the import running and follows
    it; with reads lagging past the grace period, the re-POST meets a 409 and is
    followed too. Either way one import starts."""
    model.scenario.stale_reads = 40 if lost == 2 else 0
    api = ClusterApi(model)
    api.lose_post_responses = 1
    job, lines = make_job(api, clock)
    assert job.run().import_status == "succeeded"
    assert model.imports_started(1) == 1
    assert sum("checking whether the import started" in line for line in lines) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conflicts=st.integers(0, 3),
    stale=st.integers(0, 40),
    lost=st.integers(0, 1),
    refused=st.integers(0, 3),
)
def test_whatever_the_answers_exactly_one_import_starts(
    conflicts: int, stale: int, lost: int, refused: int
) -> None:
    """409s, lagging reads, a lost POST answer and refused reads in any mix: one import
    starts, and the job reports its success."""
    clock = FakeClock()
    model = SimCluster(clock=clock.now)
    model.add_database(1, "orders")
    model.scenario.import_seconds = 20.0
    model.scenario.conflicts, model.scenario.stale_reads = conflicts, stale
    api = ClusterApi(model)
    api.lose_post_responses, api.refuse_reads_after_post = lost, refused
    job, _ = make_job(api, clock)
    assert job.run().import_status == "succeeded"
    assert model.imports_started(1) == 1


@pytest.mark.parametrize(
    ("reason", "hint"),
    [
        ("file-corrupted", "The file is not a whole RDB or gzipped RDB"),
        ("download-error", "The cluster could not fetch the file"),
        ("general-error", "The cluster's event log says more"),
        ("file-larger-than-mem-limit:2048:1024", "(2048 bytes needed, a limit of 1024 bytes)"),
        ("out-of-memory", "raise its memory limit"),
        ("a-reason-rs-adds-later", "RS does not document what a failed import leaves"),
    ],
)
def test_a_failed_import_raises_its_reason_with_a_hint_on_one_line(
    model: SimCluster, clock: FakeClock, reason: str, hint: str
) -> None:
    """A failed import: exit 4's error, naming import_failure_reason (parameters too)
    and what to do, on one line."""
    model.scenario.import_fail_reason = reason
    job, _ = make_job(ClusterApi(model), clock)
    with pytest.raises(ImportFailedError) as info:
        job.run()
    message = str(info.value)
    assert message.startswith(f"import of database 1 failed: import_failure_reason '{reason}'.")
    assert hint in message
    assert "\n" not in message
    assert info.value.exit_code == 4


def test_an_import_that_does_not_end_times_out_naming_the_option(
    model: SimCluster, clock: FakeClock
) -> None:
    """A stuck import times out at the deadline, saying it may still run (and erase)."""
    model.scenario.import_seconds = 500
    job, _ = make_job(ClusterApi(model), clock, spec=restore_spec(timeout=120))
    with pytest.raises(ImportTimeoutError) as info:
        job.run()
    assert "(last import_status 'importing'); raise --timeout" in str(info.value)
    assert "The import may still finish on the cluster" in str(info.value)
    assert 120 <= clock.now() <= 121


def test_an_active_active_database_is_refused_before_any_post(
    model: SimCluster, clock: FakeClock
) -> None:
    """crdt: true: RS would merge, not restore; the job stops after its first read."""
    model.databases[1].crdt = True
    api = ClusterApi(model)
    job, _ = make_job(api, clock)
    with pytest.raises(ActiveActiveError, match=r"database 1 \('orders'\) is Active-Active"):
        job.run()
    assert api.calls == ["GET"]
    assert model.imports_started() == 0


def test_a_status_cleared_under_the_running_import_is_an_unknown_outcome(
    model: SimCluster, clock: FakeClock
) -> None:
    """Another client resets the status under this run's import: the outcome is unknown."""
    api = ClusterApi(model)
    job, _ = make_job(api, clock, spec=restore_spec())
    original = api.import_state

    def meddling(uid: int) -> Any:
        if api.calls.count("GET") == 4:  # the job's second read after its POST
            db = model.databases[1]
            assert db.load is not None
            db.load.done, db.import_status = True, "idle"
        return original(uid)

    api.import_state = meddling  # type: ignore[method-assign]
    with pytest.raises(OutcomeUnknownError, match="import_status was cleared while it ran"):
        job.run()


# The request body, per location type ----------------------------------------------


@pytest.mark.parametrize(
    ("location", "source"),
    [
        (MountPointLocation(path="/mnt/exports/"),
         {"type": "mount_point", "path": "/mnt/exports/f.rdb.gz"}),
        (locations.GcsLocation(bucket_name="g", client_id="c", client_email="e@x", private_key_id="k",
                     private_key_env="GS_KEY"),
         {"type": "gs", "bucket_name": "g", "client_id": "c", "client_email": "e@x",
          "private_key_id": "k", "private_key": "gs-key", "filename": "f.rdb.gz"}),
        (locations.AbsLocation(account_name="a", container="c", sas_token_env="SAS"),
         {"type": "abs", "account_name": "a", "container": "c", "sas_token": "sas-tok",
          "filename": "f.rdb.gz"}),
        (locations.FtpLocation(url="ftp://u@ftp.example.com/backups", password_env="FTP_PW"),
         {"type": "url", "url": "ftp://u:ftp%3Apw%40%2Fx@ftp.example.com/backups/f.rdb.gz"}),
        (locations.SftpLocation(sftp_url="sftp://u@sftp.example.com/"),
         {"type": "sftp", "sftp_url": "sftp://u@sftp.example.com/f.rdb.gz"}),
    ],
    ids=["mount_point", "gs", "abs", "ftp", "sftp"],
)  # fmt: skip
def test_each_location_type_names_the_file_as_the_import_docs_say(
    location: Location, source: dict[str, Any]
) -> None:
    """mount_point's path is the file; gs and abs add filename; url and sftp_url end
    with it (dataset_import_sources.md); secrets come from the environment."""
    spec = RestoreSpec(cluster=Cluster(url="https://rs:9443"), database=1, location=location,
                       files=("f.rdb.gz",))  # fmt: skip
    assert spec.request_body(ENV) == {"dataset_import_sources": [source]}


def test_one_source_per_file_in_order() -> None:
    """Several files (one per shard) are several sources of one import."""
    spec = RestoreSpec(cluster=Cluster(url="https://rs:9443"), database=1,
                       location=MountPointLocation(path="/m"), files=("a.rdb", "b.rdb"))  # fmt: skip
    sources = spec.request_body({})["dataset_import_sources"]
    assert [s["path"] for s in sources] == ["/m/a.rdb", "/m/b.rdb"]


@given(st.text(max_size=300))
def test_a_file_name_is_a_name_in_the_location_or_a_one_line_error(name: str) -> None:
    """Any text: accepted only as a plain name (no '/', no control characters, not '.'
    or '..', 1-255 characters); refused on one line naming --file, cut short when long."""
    plain = (
        0 < len(name) <= 255
        and "/" not in name
        and not any(ord(c) < 32 or ord(c) == 127 for c in name)
        and name not in (".", "..")
        and name.strip() != ""
    )
    if plain:
        assert check_file_name(name) == name
        return
    with pytest.raises(ConfigError) as info:
        check_file_name(name)
    message = str(info.value)
    assert message.startswith("--file: got ")
    assert "\n" not in message
    assert len(message) < 400


def test_another_action_uid_on_the_bdb_alone_never_ends_a_healthy_import(
    model: SimCluster, clock: FakeClock
) -> None:
    """The import's side of the same: a foreign action_uid mid-import is a note, and the
    import's success is reported."""
    model.scenario.foreign_action_uid = "SMUpdateBDB-7"
    job, lines = make_job(ClusterApi(model), clock)
    assert job.run().import_status == "succeeded"
    assert sum("'SMUpdateBDB-7'" in line for line in lines) == 1


LOOK_ALIKES = ["Staging", "staging ", " staging", "staging\n", "\u0455taging", "stag\u0456ng",
               "sta\u200bging", "staging-old", ""]  # fmt: skip


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(LOOK_ALIKES) | st.text(max_size=20).filter(lambda s: s != "staging"))
def test_a_target_no_longer_named_as_confirmed_is_never_posted_to(
    model: SimCluster, clock: FakeClock, renamed: str
) -> None:
    """Whatever else the database is named by the time the job reads it (a look-alike, a
    case or a space away), it is not the confirmed one: no import is posted to it."""
    model.databases[1].name = renamed
    spec = RestoreSpec(cluster=Cluster(url="https://rs.example.com:9443"), database=1,
                       location=S3, files=("f.rdb",), name="staging")  # fmt: skip
    job, _ = make_job(ClusterApi(model), clock, spec=spec)
    with pytest.raises(ConfigError, match="nothing was imported"):
        job.run()
    assert model.imports_started() == 0


def test_a_target_still_named_as_confirmed_is_imported_into(
    model: SimCluster, clock: FakeClock
) -> None:
    """The name check passes the database confirmed: one import runs."""
    model.databases[1].name = "staging"
    spec = RestoreSpec(cluster=Cluster(url="https://rs.example.com:9443"), database=1,
                       location=S3, files=("f.rdb",), name="staging")  # fmt: skip
    job, _ = make_job(ClusterApi(model), clock, spec=spec)
    job.run()
    assert model.imports_started(1) == 1
