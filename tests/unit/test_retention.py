"""Retention: the policy, its spec, and a prune's records in a real folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import toml_text
from redis_enterprise_export.contract import SLOTS_ENV
from redis_enterprise_export.errors import ConfigError, ExportTimeoutError, InterruptedExportError
from redis_enterprise_export.run.retention import (
    MANIFEST_DIR,
    Entry,
    Manifest,
    MountStore,
    RetentionError,
    StoredFile,
    plan,
    prove,
    prune,
    prune_locked,
    record,
    retention_lock,
)
from redis_enterprise_export.spec.config import parse_config
from redis_enterprise_export.spec.export import Cluster, ExportSpec
from redis_enterprise_export.spec.locations import FtpLocation, MountPointLocation
from redis_enterprise_export.spec.retention import Retention

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
CLUSTER = {"url": "https://rs.example.com:9443"}


def entry(sequence: int, *, proven: bool = True, days_ago: float = 0.0) -> Entry:
    when = (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Entry(sequence, f"night-{sequence}", when, (StoredFile(f"f{sequence}.rdb", 10),), proven)


def spec_in(folder: Path, retention: Retention | None, name: str = "orders") -> ExportSpec:
    return ExportSpec(
        name=name,
        cluster=Cluster(url="https://rs.example.com:9443"),
        database=1,
        location=MountPointLocation(path=str(folder)),
        retention=retention,
    )


def night(spec: ExportSpec, folder: Path, n: int, *, proven: bool = True) -> str:
    """One successful night: its file written, then recorded (and, if proven, pruned)."""
    name = f"orders-night-{n}.rdb.gz"
    (folder / name).write_bytes(b"x" * (100 + n))
    outcome = record(spec, {}, files=[name], run_id=f"n{n}", proven=proven, report=lambda _: None)
    assert outcome.note == ""
    return name


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()}


def manifest_of(folder: Path, name: str = "orders") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / MANIFEST_DIR / f"{name}.json").read_text())
    return data


# The policy.


def test_keep_last_keeps_the_newest_proven_runs_and_lets_the_older_go() -> None:
    """keep_last = 3 over five proven runs lets runs 1 and 2 go, each with why."""
    decision = plan(
        Manifest("orders", 6, tuple(entry(i) for i in range(1, 6))), Retention(keep_last=3), NOW
    )
    assert [e.sequence for e in decision.keep] == [3, 4, 5]
    assert [e.sequence for e, _ in decision.go] == [1, 2]
    assert all("keep the last 3" in why for _, why in decision.go)


def test_keep_within_keeps_the_runs_younger_than_it() -> None:
    """keep_within = 2d keeps the runs of the last two days and lets older ones go."""
    entries = tuple(entry(i, days_ago=5 - i) for i in range(1, 6))  # 4, 3, 2, 1, 0 days old
    decision = plan(Manifest("orders", 6, entries), Retention(keep_within=2 * 86400), NOW)
    assert [e.sequence for e in decision.keep] == [3, 4, 5]


def test_unproven_runs_newer_than_the_newest_proven_one_are_never_candidates() -> None:
    """A run still waiting for its drill, and a failed drill's run, stay while nothing newer is proven."""
    entries = (entry(1), entry(2), entry(3, proven=False), entry(4, proven=False))
    decision = plan(Manifest("orders", 5, entries), Retention(keep_last=1), NOW)
    assert [e.sequence for e, _ in decision.go] == [1]
    assert [e.sequence for e in decision.keep] == [2, 3, 4]


def test_an_unproven_run_older_than_every_kept_run_goes_as_superseded() -> None:
    """A failed drill's run, superseded by newer proven runs, is a candidate, and says so."""
    entries = (entry(1, proven=False), entry(2), entry(3))
    decision = plan(Manifest("orders", 4, entries), Retention(keep_last=2), NOW)
    assert [(e.sequence, "superseded" in why) for e, why in decision.go] == [(1, True)]


@settings(max_examples=300, deadline=None)
@given(
    proven=st.lists(st.booleans(), min_size=1, max_size=30),
    ages=st.lists(st.floats(min_value=0, max_value=100), min_size=30, max_size=30),
    keep_last=st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
    keep_within=st.one_of(st.none(), st.floats(min_value=1, max_value=50 * 86400)),
)
def test_the_newest_proven_run_is_never_let_go(
    proven: list[bool], ages: list[float], keep_last: int | None, keep_within: float | None
) -> None:
    """Whatever the runs and the policy, the newest proven run is kept, and no run newer
    than it is a candidate."""
    if keep_last is None and keep_within is None:
        keep_last = 1
    entries = tuple(entry(i + 1, proven=p, days_ago=ages[i]) for i, p in enumerate(proven))
    decision = plan(Manifest("orders", len(entries) + 1, entries),
                    Retention(keep_last=keep_last, keep_within=keep_within), NOW)  # fmt: skip
    going = {e.sequence for e, _ in decision.go}
    newest = max((e.sequence for e in entries if e.proven), default=None)
    if newest is None:
        assert going == set()
    else:
        assert newest not in going
        assert all(s < newest for s in going)
        if keep_last is not None:
            kept_proven = [e for e in decision.keep if e.proven]
            assert len(kept_proven) >= min(keep_last, sum(proven))


# The spec.


def config_with(retention: Any, location: Any = None) -> str:
    export = {"cluster": "prod", "database": 1,
              "location": location or {"type": "mount_point", "path": "/m"}, "retention": retention}  # fmt: skip
    return toml_text({"clusters": {"prod": CLUSTER}, "exports": {"orders": export}})


def load_error(tmp_path: Path, text: str) -> str:
    import tomllib

    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), tmp_path / "exports.toml")
    return str(info.value)


@pytest.mark.parametrize(
    ("retention", "said"),
    [
        ({"keep_last": 0}, "retention.keep_last: got 0"),
        ({"keep_last": -3}, "retention.keep_last: got -3"),
        ({"keep_last": True}, "retention.keep_last: got True"),
        ({"keep_last": "7"}, "retention.keep_last: got '7'"),
        ({"keep_within": "14"}, "retention.keep_within: got '14'"),
        # A bare number in TOML: days or seconds? Seconds would prune nearly everything.
        ({"keep_within": 14}, "retention.keep_within: got 14; expected text: "),
        ({"keep_within": 1.5}, "retention.keep_within: got 1.5; expected text: "),
        ({"keep_within": "0d"}, "at most 10 years"),
        ({"keep_within": "4000d"}, "retention.keep_within: got '4000d'"),
        ({"keep_within": "-1d"}, "retention.keep_within: got '-1d'"),
        ({"keep_within": "1d; rm -rf /"}, "retention.keep_within: got '1d; rm -rf /'"),
        ({"keep_within": '${file("/etc/passwd")}'}, "retention.keep_within: got '${file"),
        ({"keep_within": "x" * 500}, "retention.keep_within: got 'xxxx"),
        ({}, "retention.keep_last: got nothing"),
        ({"keep_lats": 3}, "did you mean 'keep_last'?"),
    ],
)
def test_a_bad_retention_table_names_file_table_key_value_and_what_is_allowed(
    tmp_path: Path, retention: dict[str, Any], said: str
) -> None:
    """Each bad [retention] value is one error naming the file, [exports.NAME], the key
    and the value (long text clipped), and what is allowed."""
    text = config_with(retention)
    message = load_error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'exports.toml'} [exports.orders]: ")
    assert said in message
    assert "expected" in message
    assert "x" * 100 not in message
    assert "\n" not in message


def test_retention_on_s3_with_sse_c_is_refused_saying_why(tmp_path: Path) -> None:
    """SSE-C objects cannot be checked against their records without the key: refused."""
    location = {"type": "s3", "bucket_name": "b", "access_key_id": "a",
                "secret_access_key_env": "S3", "encryption": {
                    "type": "sse-c", "sse_customer_key_env": "SSE_KEY"}}  # fmt: skip
    message = load_error(tmp_path, config_with({"keep_last": 3}, location))
    assert "[exports.orders]: retention:" in message
    assert "no [retention] with SSE-C" in message


def test_retention_on_a_location_the_runner_cannot_list_is_refused_saying_why(
    tmp_path: Path,
) -> None:
    """An FTP location with a [retention] table is refused: the runner cannot delete there."""
    message = load_error(
        tmp_path, config_with({"keep_last": 3}, {"type": "url", "url": "ftp://h/p/"})
    )
    assert "[exports.orders]: retention:" in message
    assert "mount_point or s3" in message
    assert "the runner can list and delete files only there" in message
    with pytest.raises(ConfigError, match="only for mount_point or s3"):
        ExportSpec(name="o", cluster=Cluster(url="https://h:9443"), database=1,
                   location=FtpLocation(url="ftp://h/p/"), retention=Retention(keep_last=1))  # fmt: skip


def test_a_retention_table_reaches_the_spec_and_back_through_its_dict(tmp_path: Path) -> None:
    """keep_within "36h" becomes 129600 seconds, and the spec's dict reads back the same."""
    import tomllib

    config = parse_config(tomllib.loads(config_with({"keep_last": 7, "keep_within": "36h"})),
                          tmp_path / "exports.toml")  # fmt: skip
    spec = config.exports[0]
    assert spec.retention == Retention(keep_last=7, keep_within=129600.0)
    assert ExportSpec.from_dict(spec.to_dict()) == spec


def test_a_spec_without_retention_has_no_retention_key() -> None:
    """An export without a policy synthesizes as before: no retention key in its dict."""
    assert "retention" not in spec_in(Path("/m"), None).to_dict()


def test_a_selector_gives_its_retention_to_every_export_it_makes(tmp_path: Path) -> None:
    """[exports.NAME.retention] on a selector is each of its exports' policy."""
    import tomllib

    text = config_with({"keep_last": 2}).replace("database = 1", 'databases = "*"')
    config = parse_config(tomllib.loads(text), tmp_path / "exports.toml", resolve=False)
    assert config.selectors[0].template.retention == Retention(keep_last=2)


# Prunes in a real folder.


def test_nine_nights_with_keep_last_seven_leave_the_newest_seven(tmp_path: Path) -> None:
    """Each proven night is recorded and pruned: after nine, the newest seven files remain."""
    spec = spec_in(tmp_path, Retention(keep_last=7))
    names = [night(spec, tmp_path, n) for n in range(1, 10)]
    assert files(tmp_path) == set(names[2:])
    assert [e["sequence"] for e in manifest_of(tmp_path)["entries"]] == list(range(3, 10))


def test_files_the_records_do_not_hold_are_never_touched(tmp_path: Path) -> None:
    """RS's scheduled backup, another export's file and a person's file stay."""
    strangers = {"backup-orders-2026.rdb", "other-export.rdb", "notes.txt"}
    for name in strangers:
        (tmp_path / name).write_text("theirs")
    spec = spec_in(tmp_path, Retention(keep_last=1))
    names = [night(spec, tmp_path, n) for n in range(1, 4)]
    assert files(tmp_path) == strangers | {names[-1]}


def test_a_file_that_no_longer_matches_its_record_is_kept_and_reported(tmp_path: Path) -> None:
    """A recorded file whose size changed is not deleted; the note names it and why."""
    spec = spec_in(tmp_path, Retention(keep_last=1))
    first = night(spec, tmp_path, 1)
    (tmp_path / first).write_bytes(b"someone else's content, longer than it was")
    second = "orders-night-2.rdb.gz"
    (tmp_path / second).write_bytes(b"y" * 50)
    outcome = record(spec, {}, files=[second], run_id="n2", proven=True, report=lambda _: None)
    assert files(tmp_path) == {first, second}
    assert outcome.pruned == []
    assert f"kept run 1: {first} is " in outcome.note
    assert "not the 101 recorded" in outcome.note


def test_nothing_is_deleted_when_the_newest_proven_file_is_gone_or_changed(
    tmp_path: Path,
) -> None:
    """The newest proven copy removed (a person, a lifecycle rule) or truncated: the older
    runs it would replace all stay, and the note says why."""
    spec = spec_in(tmp_path, Retention(keep_last=5))
    names = [night(spec, tmp_path, n) for n in range(1, 4)]
    spec = spec_in(tmp_path, Retention(keep_last=1))
    (tmp_path / names[-1]).write_bytes(b"x")
    outcome = prune(spec, {}, dry_run=False, report=lambda _: None)
    assert files(tmp_path) == set(names)
    assert outcome.pruned == []
    assert "nothing deleted: the newest proven run 3" in outcome.note
    assert f"{names[-1]} is 1 bytes, not the 103 recorded" in outcome.note
    (tmp_path / names[-1]).unlink()
    outcome = prune(spec, {}, dry_run=True, report=lambda _: None)
    assert outcome.pruned == []
    assert f"{names[-1]} is not in mount_point {tmp_path}" in outcome.note
    assert files(tmp_path) == set(names[:2])


def test_a_file_name_a_kept_run_also_holds_is_never_deleted(tmp_path: Path) -> None:
    """An export that rewrote a name in place: the older run's record holds it too, and
    letting that run go must not delete the newest proven run's file."""
    spec = spec_in(tmp_path, Retention(keep_last=1))
    (tmp_path / "orders.rdb.gz").write_bytes(b"x" * 10)
    record(spec, {}, files=["orders.rdb.gz"], run_id="n1", proven=True, report=lambda _: None)
    outcome = record(spec, {}, files=["orders.rdb.gz"], run_id="n2", proven=True,
                     report=lambda _: None)  # fmt: skip
    assert files(tmp_path) == {"orders.rdb.gz"}
    assert outcome.pruned == []
    assert "kept run 1: orders.rdb.gz is also kept run 2's" in outcome.note


def test_an_unproven_run_deletes_nothing_until_its_drill_proves_it(tmp_path: Path) -> None:
    """A run recorded unproven (a drill follows) prunes nothing; proving it prunes."""
    spec = spec_in(tmp_path, Retention(keep_last=1))
    first = night(spec, tmp_path, 1)
    second = night(spec, tmp_path, 2, proven=False)
    assert files(tmp_path) == {first, second}
    outcome = prove(spec, {}, files=[second], report=lambda _: None)
    assert outcome.pruned == [first]
    assert files(tmp_path) == {second}


class KilledError(BaseException):
    """Stands for the process being killed mid-prune."""


class DyingStore(MountStore):
    """A real folder whose process dies right after the first file is deleted."""

    def delete(self, name: str) -> None:
        super().delete(name)
        raise KilledError


def test_an_interrupted_prune_keeps_the_newest_proven_file_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    """Killed between marking and dropping: the newest proven file is there, the records
    say what was being deleted, and the next prune deletes the rest and drops them."""
    spec = spec_in(tmp_path, Retention(keep_last=5))
    names = [night(spec, tmp_path, n) for n in range(1, 6)]
    spec = spec_in(tmp_path, Retention(keep_last=1))
    with pytest.raises(KilledError):
        prune_locked(spec, DyingStore(tmp_path), dry_run=False, report=lambda _: None)
    assert names[-1] in files(tmp_path)
    assert [e["deleting"] for e in manifest_of(tmp_path)["entries"]] == [True] * 4 + [False]
    outcome = prune(spec, {}, dry_run=False, report=lambda _: None)
    assert files(tmp_path) == {names[-1]}
    assert [e["sequence"] for e in manifest_of(tmp_path)["entries"]] == [5]
    assert outcome.retained_files == 1
    assert outcome.note == ""


def test_a_dry_run_lists_what_would_go_and_deletes_nothing(tmp_path: Path) -> None:
    """--dry-run's outcome names each file that would go with why, and the folder is unchanged."""
    spec = spec_in(tmp_path, Retention(keep_last=3))
    names = [night(spec, tmp_path, n) for n in range(1, 4)]
    outcome = prune(
        spec_in(tmp_path, Retention(keep_last=1)), {}, dry_run=True, report=lambda _: None
    )
    assert [name for name, _ in outcome.planned] == names[:2]
    assert files(tmp_path) == set(names)
    assert outcome.retained_files == 1


def test_a_manifest_that_is_not_one_stops_recording_and_deleting(tmp_path: Path) -> None:
    """A corrupt manifest is never overwritten or acted on: the note says so, nothing goes."""
    spec = spec_in(tmp_path, Retention(keep_last=1))
    first = night(spec, tmp_path, 1)
    (tmp_path / MANIFEST_DIR / "orders.json").write_text('{"version": 1, "export": "other"')
    (tmp_path / "second.rdb").write_text("new")
    outcome = record(
        spec, {}, files=["second.rdb"], run_id="n2", proven=True, report=lambda _: None
    )
    assert "cannot be read" in outcome.note
    assert files(tmp_path) == {first, "second.rdb"}
    with pytest.raises(RetentionError, match="nothing is recorded or deleted"):
        prune(spec, {}, dry_run=False, report=lambda _: None)


def test_a_manifest_lives_in_a_dot_folder_the_listing_ignores(tmp_path: Path) -> None:
    """The records folder never shows as a file an export wrote."""
    from redis_enterprise_export.run.listing import snapshot

    spec = spec_in(tmp_path, Retention(keep_last=1))
    name = night(spec, tmp_path, 1)
    listed = snapshot(spec.location, {}).files
    assert listed is not None
    assert set(listed) == {name}


def test_a_result_file_written_before_retention_reads_with_no_policy_counts() -> None:
    """An older helper's record, without the retention keys, reads back with none kept
    known and nothing pruned; status's record of it says the same."""
    from redis_enterprise_export.commands.records import Outcome
    from redis_enterprise_export.contract import DrillResult, Result

    old = {"name": "orders", "export_status": "succeeded", "finished_at": "2026-12-01T03:00:00Z"}
    result = Result.from_dict(old)
    assert (result.pruned, result.retained_files, result.retention_note) == ([], None, "")
    assert Outcome.of(result, "state").retained_files is None
    assert DrillResult.from_dict({"name": "d"}).retained_bytes is None


@pytest.mark.parametrize("value", [True, -1, "7", 1.5, [3], {"x": 1}])
def test_status_reads_a_retention_count_that_is_not_one_as_unknown(value: Any) -> None:
    """A record whose retained_files is not a whole number shows no count, not a crash."""
    from redis_enterprise_export.commands.records import Outcome
    from redis_enterprise_export.contract import Result

    result = Result.from_dict({"name": "orders", "retained_files": value, "retained_bytes": value})
    outcome = Outcome.of(result, "state")
    assert (outcome.retained_files, outcome.retained_bytes) == (None, None)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_any_keep_within_text_is_a_duration_or_one_clipped_config_error(text: str) -> None:
    """Whatever text keep_within holds, it is read as --max-age reads it, or refused in
    one ConfigError naming retention.keep_within and showing at most 64 characters of it."""
    from redis_enterprise_export.spec.values import parse_duration

    seconds = parse_duration(text)
    if seconds is not None and seconds <= 10 * 366 * 86400:
        assert Retention(keep_within=text).keep_within == seconds  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError) as info:
        Retention(keep_within=text)  # type: ignore[arg-type]
    assert info.value.key == "retention.keep_within"
    assert len(str(info.value.value)) <= 65


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "nul\x00byte", "..", "", "x" * 300])
def test_a_manifest_naming_a_file_outside_its_folder_is_refused_whole(
    tmp_path: Path, name: str
) -> None:
    """A manifest whose entry names no file of the folder (a path, a NUL, '..') is not
    acted on: the prune says it cannot be read, and nothing is deleted."""
    spec = spec_in(tmp_path, Retention(keep_last=1))
    entry = {"sequence": 1, "run_id": "r", "time": "2026-12-01T03:00:00Z", "proven": False,
             "deleting": True, "files": [{"name": name, "size": 1, "etag": ""}]}  # fmt: skip
    (tmp_path / MANIFEST_DIR).mkdir()
    (tmp_path / MANIFEST_DIR / "orders.json").write_text(json.dumps(
        {"version": 1, "export": "orders", "next_sequence": 2, "entries": [entry]}))  # fmt: skip
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(RetentionError, match="cannot be read"):
        prune(spec, {}, dry_run=False, report=lambda _: None)
    assert files(tmp_path) == {"keep.txt"}


@pytest.mark.parametrize(
    ("written", "namesakes", "said"),
    [
        (("backup-7.rdb.gz",), [], "not every new file carries the database's name: backup-7"),
        (("orders-1.rdb.gz", "misc.rdb"), [], "not every new file carries the database's name"),
        (("orders-archive-2.rdb.gz",), ["orders-archive"], "may be database 'orders-archive'"),
        # A namesake's files carry only its first 30 characters.
        ((f"{'orders-' + 'x' * 23}-5.rdb.gz",), ["orders-" + "x" * 40], "may be database"),
        (("orders-1.rdb.gz",), None, "whether another database's files also carry its name"),
    ],
)
def test_files_not_surely_the_exports_own_are_never_recorded(
    tmp_path: Path, written: tuple[str, ...], namesakes: list[str] | None, said: str
) -> None:
    """New files that do not all carry the database's name, or that carry the longer name
    of another database holding it (or when the other names are unknown): nothing
    recorded, so no prune can ever delete them."""
    from helpers import FakeClock
    from helpers.jobs import ClusterApi, build
    from redis_enterprise_export.run.export import ExportJob
    from redis_enterprise_export.simulator import SimCluster

    for name in written:
        (tmp_path / name).write_bytes(b"x")
    spec = spec_in(tmp_path, Retention(keep_last=1))
    clock = FakeClock()
    job, _ = build(ExportJob, ClusterApi(SimCluster(clock=clock.now)), clock, spec=spec)
    job.files = written
    fields = job._retain("orders", namesakes)
    assert said in fields["retention_note"]
    assert "nothing recorded or deleted" in fields["retention_note"]
    assert not (tmp_path / MANIFEST_DIR).exists()
    assert files(tmp_path) == set(written)


@pytest.mark.parametrize(
    "error", [InterruptedExportError("SIGTERM"), ExportTimeoutError(1, 30.0, "x")]
)
def test_what_a_prune_raises_under_its_lock_is_its_own_not_a_lock_error(
    tmp_path: Path, error: Exception
) -> None:
    """A SIGTERM (or a timeout) raised while the lock is held reaches the caller as it
    is: once it read 'cannot take the lock', and a record swallowed the signal as a note."""
    spec = spec_in(tmp_path, Retention(keep_last=1))
    environ = {SLOTS_ENV: str(tmp_path / "locks")}
    with pytest.raises(type(error)) as info, retention_lock(spec, "mount_point /m", environ):
        raise error
    assert info.value is error


def test_an_s3_store_uses_the_runs_own_client_when_given_one() -> None:
    """The run's listing client serves its retention too: no second client to make."""
    from redis_enterprise_export.run.retention import S3Store, store_for
    from redis_enterprise_export.spec.locations import S3Location

    location = S3Location(bucket_name="b", access_key_id="a", secret_access_key_env="S3")
    client = object()
    store = store_for(location, {"S3": "s"}, client)
    assert isinstance(store, S3Store)
    assert store.client is client


def test_a_namesake_whose_name_the_files_do_not_carry_leaves_them_recorded(
    tmp_path: Path,
) -> None:
    """orders and its drill's scratch database orders-drill: a file carrying 'orders' but
    not 'orders-drill' cannot be the scratch database's, so it is recorded."""
    from helpers import FakeClock
    from helpers.jobs import ClusterApi, build
    from redis_enterprise_export.run.export import ExportJob
    from redis_enterprise_export.simulator import SimCluster

    (tmp_path / "orders-1-20261208.rdb.gz").write_bytes(b"x")
    spec = spec_in(tmp_path, Retention(keep_last=1))
    clock = FakeClock()
    job, _ = build(ExportJob, ClusterApi(SimCluster(clock=clock.now)), clock, spec=spec)
    job.files = ("orders-1-20261208.rdb.gz",)
    fields = job._retain("orders", ["orders-drill"])
    assert fields["retention_note"] == ""
    assert fields["retained_files"] == 1
