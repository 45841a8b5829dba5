"""Drills below Terraform: the config's guards, the key range, the statistics'
freshness rule (fake clock), and the ``drill`` command against the simulator."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tomllib
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import ORDERS, FakeClock, toml_text
from helpers.identity import identity_of
from helpers.postgres import PostgresServer
from helpers.tables import GOOD
from helpers.tables import tables as export_tables
from redis_enterprise_export.cli import main
from redis_enterprise_export.contract import Result
from redis_enterprise_export.errors import (
    ApiError,
    ConfigError,
    DrillFailedError,
    ExitCode,
    TransportError,
)
from redis_enterprise_export.polling import Deadline, SystemClock
from redis_enterprise_export.rs.answers import KeyCount
from redis_enterprise_export.run.coordination import PgLocks
from redis_enterprise_export.run.drill import (
    FRESH_MISSES,
    STATS_POLL_SECONDS,
    STATS_WINDOW_SECONDS,
    Counted,
    KeyRange,
    count_keys,
)
from redis_enterprise_export.simulator import Simulator
from redis_enterprise_export.spec.config import load_config

MOUNT = {"type": "mount_point", "path": "/mnt/backups"}


def config(tmp_path: Path, drill: dict[str, Any], location: dict[str, Any] = MOUNT) -> Path:
    path = tmp_path / "exports.toml"
    path.write_text(
        toml_text(
            {
                "clusters": {"sim": {"url": "https://rs.example.com:9443"}},
                "exports": {
                    "orders": {"cluster": "sim", "database": "orders", "location": location}
                },
                "drills": {"nightly": drill},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("drill", "key", "allowed"),
    [
        ({"export": "orders", "into": "orders-drill"}, "erase", "into's value again"),
        (GOOD | {"erase": "orders-dril"}, "erase", "every drill ERASES that database"),
        (GOOD | {"into": 3, "erase": "3"}, "erase", "into's value again, exactly (3, a number)"),
        (GOOD | {"into": "orders", "erase": "orders"}, "into", "not export 'orders''s own"),
        (GOOD | {"export": "order"}, "export", "the name of an export: orders"),
        (GOOD | {"files": ["a/b.rdb"]}, "files", "no '/'"),
        (GOOD | {"key_tolerance_percent": -1}, "key_tolerance_percent", "from 0 to 100"),
        (GOOD | {"key_tolerance_percent": math.nan}, "key_tolerance_percent", "from 0 to 100"),
        (GOOD | {"timeout_seconds": 0}, "timeout_seconds", "above 0"),
        (GOOD | {"schedule": "nightly"}, "schedule", "export, "),
    ],
)
def test_a_bad_drill_is_refused_naming_the_file_table_and_key(
    tmp_path: Path, drill: dict[str, Any], key: str, allowed: str
) -> None:
    """Each wrong drill value stops synthesis with one line: file, table, key, what is allowed."""
    path = config(tmp_path, drill)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"{path} [drills.nightly]" in message
    assert key in message
    assert allowed in message


def test_a_scratch_database_that_another_export_exports_is_refused(tmp_path: Path) -> None:
    """A drill may not erase a database that any export of its cluster exports."""
    path = config(tmp_path, GOOD)
    staging = {"cluster": "sim", "database": "orders-drill", "location": MOUNT}
    path.write_text(path.read_text() + toml_text({"exports": {"staging": staging}}))
    with pytest.raises(ConfigError, match=r"\[drills.nightly\].*export 'staging' exports it"):
        load_config(path)


@pytest.mark.parametrize(
    ("exported", "admin"),
    [
        ("https://rs.example.com:9443", "https://RS.example.com:9443"),
        ("https://rs.example.com:9443", "https://rs.example.com:9443/"),
        ("https://rs.example.com:443", "HTTPS://rs.example.com."),
    ],
)
def test_a_scratch_database_exported_through_another_table_of_the_cluster_is_refused(
    tmp_path: Path, exported: str, admin: str
) -> None:
    """A second [clusters] table for the same cluster (other settings, the URL spelled
    otherwise) is the same cluster: a drill may not erase what an export through it exports."""
    path = config(tmp_path, GOOD)
    data = tomllib.loads(path.read_text())
    data["clusters"]["sim"]["url"] = exported
    data["clusters"]["admin"] = {"url": admin, "request_timeout_seconds": 17}
    data["exports"]["staging"] = {"cluster": "admin", "database": "orders-drill", "location": MOUNT}
    path.write_text(toml_text(data))
    with pytest.raises(ConfigError, match=r"\[drills.nightly\].*export 'staging' exports it"):
        load_config(path)


def test_a_location_whose_files_cannot_be_listed_needs_them_named(tmp_path: Path) -> None:
    """A location the drill cannot list needs its files named; named, it is accepted."""
    ftp = {"type": "url", "url": "ftp://backup.example.com/redis"}
    with pytest.raises(ConfigError, match=r"files.*only in mount_point and s3 locations, not url"):
        load_config(config(tmp_path, GOOD, ftp))
    named = load_config(config(tmp_path, GOOD | {"files": ["orders-1.rdb.gz"]}, ftp))
    assert named.drills[0].files == ("orders-1.rdb.gz",)


def test_a_good_drill_is_read_with_its_defaults(tmp_path: Path) -> None:
    """A minimal drill table reads back with no files, no tolerance and one hour."""
    (drill,) = load_config(config(tmp_path, GOOD)).drills
    assert (drill.name, drill.export, drill.into, drill.files) == (
        "nightly",
        "orders",
        "orders-drill",
        (),
    )
    assert (drill.key_tolerance_percent, drill.timeout_seconds) == (0.0, 3600)


counts = st.none() | st.integers(min_value=0, max_value=10**12)


@given(before=counts, after=counts, tolerance=st.floats(0, 100), keys=st.integers(0, 10**12))
def test_the_key_range_holds_exactly_the_counts_within_the_tolerance_of_the_source(
    before: int | None, after: int | None, tolerance: float, keys: int
) -> None:
    """Any pair of recorded counts and tolerance: holds() is the stated range, rounded up."""
    exported = Result(keys_before=before, keys_after=after)
    expected = KeyRange.of(exported, tolerance)
    known = [n for n in (before, after) if n is not None]
    if not known:
        assert expected is None
        return
    assert expected is not None
    slack = math.ceil(max(known) * tolerance / 100)
    assert expected.holds(keys) == (min(known) - slack <= keys <= max(known) + slack)


@dataclass
class Stats:
    """key_count answers in turn; an exception in the list is raised."""

    answers: list[KeyCount | Exception]
    reads: int = 0
    log: list[str] = field(default_factory=list)

    def key_count(self, uid: int) -> KeyCount:
        answer = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def at(minute: int, keys: int | None) -> KeyCount:
    return KeyCount(keys, f"2026-12-03T10:{minute:02d}:00Z", f"2026-12-03T10:{minute + 1:02d}:00Z")


EXPECTED = KeyRange(200, 200, 0.0)


def counted(stats: Stats, seconds: float = 120, clock: FakeClock | None = None) -> Counted:
    return count_keys(
        stats, 3, clock=clock or FakeClock(), seconds=seconds, expected=EXPECTED,
        report=stats.log.append,
    )  # fmt: skip


def count(stats: Stats, seconds: float = 120) -> int | None:
    return counted(stats, seconds).keys


def test_three_distinct_fresh_samples_out_of_tolerance_end_the_count_before_its_window() -> None:
    """Fresh samples that keep disagreeing end the count at the third, not at the end of
    its 120 s (was: the whole window, every time): 1 boundary read and 3 fresh ones, on
    the fake clock's 6 s."""
    clock = FakeClock()
    stats = Stats([at(0, 1), at(1, 150), at(2, 151), at(3, 152), at(4, 200)])
    seen = counted(stats, clock=clock)
    assert seen == Counted(152, (150, 151, 152))
    assert stats.reads == 1 + FRESH_MISSES
    assert clock.now() == FRESH_MISSES * STATS_POLL_SECONDS
    assert sum("fresh sample" in line for line in stats.log) == FRESH_MISSES


def test_two_fresh_misses_do_not_end_the_count_and_a_third_fresh_sample_may_still_match() -> None:
    """Not before the third: two fresh samples out of tolerance, then one within it,
    is a count within it (the statistics may lag by a sample or two)."""
    clock = FakeClock()
    stats = Stats([at(0, 1), at(1, 150), at(2, 151), at(3, 200), at(4, 1)])
    assert counted(stats, clock=clock) == Counted(200, (150, 151, 200))
    assert stats.reads == 4
    assert clock.now() == 3 * STATS_POLL_SECONDS


def test_one_fresh_sample_read_again_and_again_is_one_miss_and_the_whole_window_is_waited() -> None:
    """A sample read twice is one sample: the statistics not moving on after a fresh miss
    is not three misses, so the count waits out its window for a new sample."""
    clock = FakeClock()
    stats = Stats([at(0, 1), at(1, 150)])
    assert counted(stats, clock=clock) == Counted(150, (150,))
    assert clock.now() == STATS_WINDOW_SECONDS
    assert stats.reads == 1 + STATS_WINDOW_SECONDS / STATS_POLL_SECONDS


def test_samples_not_yet_fresh_are_waited_on_for_the_whole_window() -> None:
    """Stale samples, however many and however wrong, never end the count early: only
    fresh ones do. A sample that predates the boundary read is not fresh either."""
    clock = FakeClock()
    stale = KeyCount(1, "2026-12-03T09:58:00Z", "2026-12-03T09:59:00Z")
    stats = Stats([at(0, 1), stale, at(0, 1), stale, at(0, 1)])
    assert counted(stats, clock=clock) == Counted(None, ())
    assert clock.now() == STATS_WINDOW_SECONDS
    assert stats.reads == 1 + STATS_WINDOW_SECONDS / STATS_POLL_SECONDS


def test_stale_samples_between_fresh_misses_do_not_count_and_do_not_reset_them() -> None:
    """Stale reads (the boundary's sample again) between fresh misses neither count as
    misses nor start the count again: the third distinct fresh miss ends it."""
    clock = FakeClock()
    stats = Stats([at(0, 1), at(1, 150), at(0, 1), at(1, 150), at(2, 150), at(0, 1), at(3, 9)])
    assert counted(stats, clock=clock) == Counted(9, (150, 150, 9))
    assert stats.reads == 7
    assert clock.now() == 6 * STATS_POLL_SECONDS


def test_a_stale_sample_that_matches_proves_nothing_and_a_fresh_one_is_waited_for() -> None:
    """The first sample after the import may predate it: a match there is not taken."""
    stats = Stats([at(0, 200), at(0, 200), at(1, 150), at(2, 200)])
    assert count(stats) == 200
    assert stats.reads == 4


def test_a_fresh_count_outside_the_range_is_waited_on_then_reported() -> None:
    """Statistics may lag: a fresh wrong count is retried to the window's end, then shown."""
    stats = Stats([at(0, 2), at(1, 150)])
    assert count(stats, seconds=10) == 150
    assert stats.reads > 2


def test_no_fresh_sample_in_the_window_is_no_count() -> None:
    """Samples that never move past the boundary give no count, not the stale one."""
    stats = Stats([at(5, 200)])
    assert count(stats, seconds=10) is None


def test_a_sample_that_never_updates_proves_nothing_even_when_it_spans_an_instant() -> None:
    """A sample with stime == etime read again starts at its own end: it is the same
    sample, from before the import, and its count (here the expected one) is not taken."""
    instant = KeyCount(200, "2026-12-03T10:00:00Z", "2026-12-03T10:00:00Z")
    assert count(Stats([instant]), seconds=10) is None


def test_samples_without_times_are_never_fresh() -> None:
    """A sample without stime/etime cannot be judged fresh, so it proves nothing."""
    stats = Stats([KeyCount(200, "", "")])
    assert count(stats, seconds=10) is None


def test_a_statistics_read_that_fails_is_retried_and_said() -> None:
    """A failed statistics read is said and retried within the window."""
    stats = Stats([at(0, 1), TransportError("connection refused", maybe_sent=False), at(1, 200)])
    assert count(stats) == 200
    assert any("could not be read" in line for line in stats.log)


def test_a_sample_whose_times_carry_no_zone_is_read_as_utc_not_a_crash() -> None:
    """RS sends UTC; a sample without "Z" after one with it is compared as UTC,
    not an internal error (naive and aware times do not compare in Python)."""
    naive = KeyCount(200, "2026-12-03T10:01:00", "2026-12-03T10:02:00")
    assert count(Stats([at(0, 1), naive])) == 200
    stale = KeyCount(200, "2026-12-03T09:59:00", "2026-12-03T10:00:00")
    assert count(Stats([at(0, 1), stale]), seconds=10) is None


times = st.one_of(
    st.just(""),
    st.text(max_size=30),
    st.datetimes().map(lambda t: t.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: t.isoformat() + "Z"),
)


@given(st.lists(st.tuples(times, times, st.none() | st.integers(0, 400)), min_size=1))
def test_any_sample_times_give_a_count_or_none_never_an_error(
    samples: list[tuple[str, str, int | None]],
) -> None:
    """Whatever a cluster sends as stime/etime, the count is one of the fresh samples' or none."""
    stats = Stats([KeyCount(keys, stime, etime) for stime, etime, keys in samples])
    found = count(stats, seconds=10)
    assert found is None or found in [keys for _, _, keys in samples[1:]]


def test_a_refused_statistics_read_fails_the_drill_at_once_saying_so() -> None:
    """A 403 on the statistics does not go away: it is not retried for the whole window,
    and the drill says it, not that no fresh sample came."""
    refused = ApiError(403, "GET", "/v1/bdbs/stats/last/3", error_code="insufficient_permissions")
    stats = Stats([at(0, 1), refused])
    with pytest.raises(ApiError, match="answered 403"):
        count(stats)
    assert stats.reads == 2


def test_statistics_that_cannot_be_read_to_the_end_say_why_the_drill_failed() -> None:
    """Reads that fail through the window end in that failure, not in "no fresh count"."""
    down = TransportError("connection refused", maybe_sent=False)
    with pytest.raises(DrillFailedError, match=r"could not be read.*connection refused"):
        count(Stats([at(0, 1), down]), seconds=10)


# The command, against the simulator -------------------------------------------------


def sim_config(sim: Simulator, tmp_path: Path, export_dir: Path, **drill: Any) -> Path:
    """The end-to-end tests' export of 'orders' (by uid here), and its drill."""
    path = tmp_path / "exports.toml"
    config = export_tables(sim, export_dir, database=1)
    path.write_text(
        toml_text(config | {"drills": {"orders": GOOD | {"timeout_seconds": 30} | drill}})
    )
    return path


def export(path: Path, tmp_path: Path) -> Path:
    """Run the export 'orders' of ``path`` as Terraform would; its record."""
    exported = tmp_path / "export.json"
    argv = ["export", "--config", str(path), "--name", "orders", "--result", str(exported)]
    assert main(argv, _env()) == 0
    return exported


def drill(path: Path, exported: Path, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """Run the drill 'orders' of ``path`` on the export record ``exported``."""
    result = tmp_path / "drill.json"
    code = main(
        ["drill", "--config", str(path), "--name", "orders", "--export-result", str(exported),
         "--result", str(result)],
        _env(),
    )  # fmt: skip
    return code, json.loads(result.read_text())


def export_then_drill(
    sim: Simulator, tmp_path: Path, export_dir: Path, **drill_table: Any
) -> tuple[int, dict[str, Any]]:
    path = sim_config(sim, tmp_path, export_dir, **drill_table)
    return drill(path, export(path, tmp_path), tmp_path)


def _env() -> dict[str, str]:
    from helpers import terraform_env

    return terraform_env()


@pytest.fixture
def scratch(sim: Simulator) -> Simulator:
    sim.add_database(3, "orders-drill")
    sim.add_database(4, "other", data={"x": "1"})
    sim.cluster.scenario.stats_interval_seconds = 0.1
    return sim


def drill_unlisted(
    sim: Simulator, tmp_path: Path, export_dir: Path, **drill_table: Any
) -> tuple[int, dict[str, Any]]:
    """Export, then drill as if the runner could not list the export's location: its
    record holds no files, as for an sftp location or a share the runner does not mount."""
    path = sim_config(sim, tmp_path, export_dir, **drill_table)
    exported = export(path, tmp_path)
    record = json.loads(exported.read_text()) | {"files": None, "files_note": "not listed"}
    exported.write_text(json.dumps(record))
    return drill(path, exported, tmp_path)


def test_a_file_of_another_database_loads_but_fails_the_drill_on_its_key_count(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A wrong file named by hand imports fine: only the key count shows it is not the export."""
    other = export_dir / "other.rdb"
    scratch.cluster.databases[4].redis.dump().replace(other)  # type: ignore[union-attr]
    code, record = drill_unlisted(scratch, tmp_path, export_dir, files=["other.rdb"])
    assert code == ExitCode.EXPORT_FAILED
    assert record["drill_status"] == "failed"
    assert record["keys_loaded"] == 1
    assert (
        f"holds 1 keys after the import, but export 'orders''s database held {len(ORDERS)} keys"
        in record["message"]
    )


def test_the_files_the_export_recorded_come_before_files_named_in_the_config(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """Named files may be an old export's: when the export recorded its own, those are
    drilled. Before, the named (stale) file was imported every night instead."""
    (export_dir / "old.rdb").write_bytes(b"not even an RDB")
    code, record = export_then_drill(scratch, tmp_path, export_dir, files=["old.rdb"])
    assert code == ExitCode.OK, record["message"]
    (written,) = [p.name for p in export_dir.iterdir() if p.name != "old.rdb"]
    assert record["files"] == [written]
    assert record["message"] == "drilled: the export loaded"


def test_files_named_in_the_config_that_load_say_they_may_not_be_this_exports(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A pass on named files is not a pass on tonight's export, and the record says so."""
    code, record = export_then_drill(scratch, tmp_path, export_dir)
    (written,) = record["files"]
    code, record = drill_unlisted(scratch, tmp_path, export_dir, files=[written])
    assert code == ExitCode.OK, record["message"]
    assert "files named in the config loaded" in record["message"]
    assert "may not be this export's" in record["message"]


def test_an_import_that_loses_keys_fails_the_drill_at_its_third_fresh_sample_not_its_deadline(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """An import that succeeds but drops a key: the drill fails (exit 4) after the
    boundary read and 3 fresh samples, each out of tolerance, rather than reading on to
    the end of its window (was: a read every 2 s to its end); its message gives the
    counts seen, the tolerance and that 3 fresh samples disagreed."""
    scratch.cluster.scenario.import_loses_keys = 1
    code, record = export_then_drill(scratch, tmp_path, export_dir)
    assert code == ExitCode.EXPORT_FAILED, record["message"]
    assert record["drill_status"] == "failed"
    held = len(ORDERS) - 1
    assert record["keys_loaded"] == held
    message = record["message"]
    assert f"holds {held} keys after the import" in message
    assert f"held {len(ORDERS)} keys (tolerance 0%: ±0)" in message
    assert f"3 fresh statistics samples disagreed ({held}, {held}, {held} keys)" in message
    log = scratch.cluster.log
    posted = max(i for i, r in enumerate(log) if r.path == "/v1/bdbs/3/actions/import")
    stats = [r for r in log[posted:] if r.path == "/v1/bdbs/stats/last/3"]
    assert len(stats) == 1 + FRESH_MISSES


def test_an_import_that_loses_keys_within_the_tolerance_passes_the_drill(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The same lost key inside key_tolerance_percent: the first fresh sample proves it."""
    scratch.cluster.scenario.import_loses_keys = 1
    code, record = export_then_drill(scratch, tmp_path, export_dir, key_tolerance_percent=50)
    assert code == ExitCode.OK, record["message"]
    assert record["keys_loaded"] == len(ORDERS) - 1


def test_a_scratch_database_another_export_exports_by_uid_is_refused_before_any_import(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The config names database 4 'other' by uid in an export and by name in the drill:
    only the cluster can tell they are one, and the drill asks it before any POST."""
    path = sim_config(scratch, tmp_path, export_dir, into="other", erase="other")
    text = path.read_text() + toml_text(
        {"exports": {"other": {"cluster": "sim", "database": 4,
                               "location": {"type": "mount_point", "path": str(export_dir)}}}}
    )  # fmt: skip
    path.write_text(text)
    code, record = drill(path, export(path, tmp_path), tmp_path)
    assert code == ExitCode.BAD_INPUT, record["message"]
    assert "database 4 is exported" in record["message"]
    assert scratch.cluster.imports_started() == 0


def test_statistics_that_never_update_until_the_deadline_are_a_timeout_naming_timeout_seconds(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The scratch database's sample, taken before the import, never moves on and the
    drill's deadline ends the count: the import succeeded, the count is not proven, and
    the run is a timeout (exit 5, drill_status timeout) whose message states the time
    the drill really waited and names timeout_seconds, the drill's knob (was: failed)."""
    scratch.cluster.scenario.stats_interval_seconds = 10**6
    code, record = export_then_drill(scratch, tmp_path, export_dir, timeout_seconds=3)
    assert code == ExitCode.TIMED_OUT, record["message"]
    assert record["drill_status"] == "timeout"
    assert record["keys_loaded"] is None
    waited = re.search(r"no fresh key count within ([0-9.]+) s", record["message"])
    assert waited is not None, record["message"]
    assert 0 < float(waited[1]) <= 3
    assert "raise timeout_seconds" in record["message"]
    assert scratch.cluster.imports_started(3) == 1


def test_an_import_that_outlasts_the_drills_deadline_names_timeout_seconds_not_restores_flag(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A drill's import cut off by its deadline: a timeout whose message says to raise
    timeout_seconds (the drill's key), never restore's --timeout."""
    path = sim_config(scratch, tmp_path, export_dir, timeout_seconds=2)
    exported = export(path, tmp_path)
    scratch.cluster.scenario.import_seconds = 30.0
    code, record = drill(path, exported, tmp_path)
    assert code == ExitCode.TIMED_OUT, record["message"]
    assert record["drill_status"] == "timeout"
    assert "raise timeout_seconds or check the cluster" in record["message"]
    assert "--timeout" not in record["message"]


def test_a_scratch_database_rs_backs_up_is_refused_unless_the_drill_says_erase_backed_up(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """RS's own scheduled backups on the scratch database (backup: true) say its content
    is kept: the drill refuses it before any POST, its keys untouched; erase_backed_up =
    true in the drill's table lets the drill erase it."""
    scratch.cluster.databases[3].backup = True
    kept = scratch.cluster.databases[3].redis.client  # type: ignore[union-attr]
    kept.set("kept", "1")
    code, record = export_then_drill(scratch, tmp_path, export_dir)
    assert code == ExitCode.BAD_INPUT, record["message"]
    assert "has RS scheduled backups on (backup: true)" in record["message"]
    assert "set erase_backed_up = true" in record["message"]
    assert scratch.cluster.imports_started() == 0
    assert kept.get("kept") == "1"
    code, record = export_then_drill(scratch, tmp_path, export_dir, erase_backed_up=True)
    assert code == ExitCode.OK, record["message"]
    assert kept.get("kept") is None


def test_a_missing_scratch_database_says_the_cluster_has_none_and_to_create_it(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """No database 'nope-drill': the helper's own finding (not a 404 of the cluster's),
    the databases the cluster has, and that the scratch database is to be created."""
    code, record = export_then_drill(
        scratch, tmp_path, export_dir, into="nope-drill", erase="nope-drill"
    )
    assert code == ExitCode.REFUSED, record["message"]
    message = record["message"]
    assert "the cluster has no database named 'nope-drill' (GET /v1/bdbs lists" in message
    assert "create the scratch database that drill 'orders' imports into" in message
    assert "404" not in message
    assert scratch.cluster.imports_started() == 0


@pytest.mark.parametrize(
    ("change", "wrong"),
    [
        ({"name": "other"}, "this is export 'other''s, not the record of the drill's export"),
        ({"files": "orders.rdb.gz"}, "its files 'orders.rdb.gz' is not a list of file names"),
        ({"files": ["a.rdb", 3]}, "is not a list of file names"),
        ({"keys_before": "12"}, "its keys_before '12' is not a whole number"),
        ({"keys_after": True}, "its keys_after True is not a whole number"),
        ({"keys_after": 1.5}, "its keys_after 1.5 is not a whole number"),
        ({"export_status": ["succeeded"]}, "its export_status is not text"),
    ],
)
def test_an_export_record_that_is_not_the_drills_exports_is_refused_naming_the_file(
    scratch: Simulator, tmp_path: Path, export_dir: Path, change: dict[str, Any], wrong: str
) -> None:
    """Another export's record, or one misshapen (files a string, a key count not a
    whole number): exit 2 with one line naming the file and what is wrong, nothing
    imported; before, it was trusted and the storage blamed."""
    path = sim_config(scratch, tmp_path, export_dir)
    exported = export(path, tmp_path)
    exported.write_text(json.dumps(json.loads(exported.read_text()) | change))
    code, record = drill(path, exported, tmp_path)
    assert code == ExitCode.BAD_INPUT, record["message"]
    message = record["message"]
    assert f"--export-result: got '{exported}'; expected export 'orders''s result file" in message
    assert wrong in message
    assert "\n" not in message
    assert scratch.cluster.imports_started() == 0


def test_a_drill_waits_for_another_runners_lock_of_its_scratch_database(
    scratch: Simulator, tmp_path: Path, export_dir: Path, postgres: PostgresServer
) -> None:
    """coordination = "postgres": while another runner (its own lock directory) holds the
    scratch database's lock, the drill waits, says so, and imports only after it. Before,
    a drill took only this machine's lock and imported at once."""
    path = sim_config(scratch, tmp_path, export_dir)
    config = tomllib.loads(path.read_text())
    config["clusters"]["sim"]["coordination"] = "postgres"
    path.write_text(toml_text(config))
    env = _env() | {"PG_CONN_STR": postgres.conn_str}
    exported = tmp_path / "export.json"
    argv = ["export", "--config", str(path), "--name", "orders", "--result", str(exported)]
    assert main(argv, env) == 0
    slots = tmp_path / "drill-slots"
    slots.mkdir(mode=0o700)
    identity = identity_of(scratch)
    with ExitStack() as other_runner:
        locks = PgLocks({"PG_CONN_STR": postgres.conn_str}, lambda _: None)
        other_runner.callback(locks.close)
        other_runner.enter_context(
            locks.database(identity, 3, Deadline(SystemClock(), 60), on_wait=lambda: None)
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "redis_enterprise_export", "drill", "--config", str(path),
             "--name", "orders", "--export-result", str(exported),
             "--result", str(tmp_path / "drill.json")],
            env=env | {"REDIS_EXPORT_SLOTS_DIR": str(slots)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        said = []
        for line in process.stdout:
            said.append(line)
            if "waiting for" in line:
                break
        assert said[-1].strip() == (
            "[drill orders] waiting for another runner's export, drill or restore of "
            f"database 3 to end before this drill, on cluster {identity}"
        ), "".join(said)
        assert scratch.cluster.imports_started() == 0
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, "".join(said) + out + err
    assert scratch.cluster.imports_started(3) == 1


def test_a_scratch_database_that_resolves_to_the_source_is_refused_before_any_import(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The export names uid 1, the drill its name: only the cluster can tell they are one."""
    code, record = export_then_drill(scratch, tmp_path, export_dir, into="orders", erase="orders")
    assert code == ExitCode.BAD_INPUT
    assert "database 1 is exported" in record["message"]
    assert scratch.cluster.imports_started() == 0
    assert scratch.cluster.databases[1].redis.client.dbsize() == len(ORDERS)  # type: ignore[union-attr]
    assert record["drill_status"] == "error"


def test_a_drill_of_an_export_that_failed_imports_nothing(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """An export whose latest run failed leaves nothing to drill: exit 4, no import."""
    path = sim_config(scratch, tmp_path, export_dir)
    exported = tmp_path / "export.json"
    exported.write_text(Result(name="orders", export_status="failed").to_json())
    code, _ = drill(path, exported, tmp_path)
    assert code == ExitCode.EXPORT_FAILED
    assert scratch.cluster.imports_started() == 0


def test_a_missing_export_record_is_bad_input_naming_the_file(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """No export record: exit 2, and the record names the file it looked for."""
    path = sim_config(scratch, tmp_path, export_dir)
    missing = tmp_path / "nope.json"
    code, record = drill(path, missing, tmp_path)
    assert code == ExitCode.BAD_INPUT
    assert str(missing) in record["message"]


def test_an_export_record_nested_too_deep_is_bad_input_naming_the_file(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """An export record Python's parser cannot nest that deep: exit 2 naming the file,
    not an internal error; nothing imported."""
    path = sim_config(scratch, tmp_path, export_dir)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, record = drill(path, deep, tmp_path)
    assert code == ExitCode.BAD_INPUT
    message = record["message"]
    assert f"--export-result: got '{deep}'" in message
    assert "nested too deep" in message
    assert scratch.cluster.imports_started() == 0


def test_two_drills_into_one_scratch_database_take_turns_and_both_prove_their_export(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """Without the scratch database's lock, the second import erases the first before
    the first is counted, and the first drill counts the other export's keys."""
    other_dir = tmp_path / "other-exports"
    other_dir.mkdir()
    scratch.cluster.scenario.import_seconds = 1.0
    path = tmp_path / "exports.toml"
    location = {"type": "mount_point", "path": str(export_dir)}
    path.write_text(
        toml_text(
            {
                "clusters": {"sim": {"url": scratch.url, "ca_cert": str(scratch.ca_path)}},
                "exports": {
                    "orders": {"cluster": "sim", "database": 1, "location": location},
                    "other": {"cluster": "sim", "database": 4,
                              "location": location | {"path": str(other_dir)}},
                },
                "drills": {
                    "orders": GOOD | {"timeout_seconds": 60},
                    "other": GOOD | {"export": "other", "timeout_seconds": 60},
                },
            }
        )
    )  # fmt: skip
    env = _env()
    for name in ("orders", "other"):
        argv = [
            "export",
            "--config",
            str(path),
            "--name",
            name,
            "--result",
            str(tmp_path / f"{name}.json"),
        ]
        assert main(argv, env) == 0
    drills = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_enterprise_export",
                "drill",
                "--config",
                str(path),
                "--name",
                name,
                "--export-result",
                str(tmp_path / f"{name}.json"),
                "--result",
                str(tmp_path / f"drill-{name}.json"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("orders", "other")
    ]
    for drill in drills:
        _, err = drill.communicate(timeout=120)
        assert drill.returncode == 0, err
    loaded = {
        name: json.loads((tmp_path / f"drill-{name}.json").read_text())["keys_loaded"]
        for name in ("orders", "other")
    }
    assert loaded == {"orders": len(ORDERS), "other": 1}
    assert scratch.cluster.imports_started(3) == 2


def test_an_active_active_scratch_database_is_refused_before_any_import(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """RS would merge the file into an Active-Active database and add counters up: the
    drill refuses it (exit 2) before any POST, as restore does."""
    sim.add_database(3, "orders-drill", crdt=True)
    code, record = export_then_drill(sim, tmp_path, export_dir)
    assert code == ExitCode.BAD_INPUT
    assert "is Active-Active (crdt: true)" in record["message"]
    assert sim.cluster.imports_started() == 0


def test_a_drill_that_waits_out_its_deadline_for_the_lock_is_an_import_timeout(
    scratch: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The scratch database's lock held past timeout_seconds: drill_status timeout, in an
    import's words with the drill's knob, and nothing imported (was: an export's timeout)."""
    from redis_enterprise_export.run.slots import database_lock

    path = sim_config(scratch, tmp_path, export_dir, timeout_seconds=2)
    exported = export(path, tmp_path)
    slots = tmp_path / "slots"
    slots.mkdir(mode=0o700)
    identity = identity_of(scratch)
    result = tmp_path / "drill.json"
    argv = ["drill", "--config", str(path), "--name", "orders", "--export-result",
            str(exported), "--result", str(result)]  # fmt: skip
    with database_lock(slots, identity, 3, Deadline(SystemClock(), 60)):
        code = main(argv, _env() | {"REDIS_EXPORT_SLOTS_DIR": str(slots)})
    record = json.loads(result.read_text())
    assert code == ExitCode.TIMED_OUT, record["message"]
    assert record["drill_status"] == "timeout"
    assert record["message"].startswith("import of database 3 did not finish within 2 s")
    assert "raise timeout_seconds" in record["message"]
    assert "No import was started by this run" in record["message"]


@pytest.mark.parametrize("kind", ["/dev/zero", "a FIFO"])
def test_an_export_record_that_is_no_regular_file_is_bad_input_read_not_at_all(
    scratch: Simulator, tmp_path: Path, export_dir: Path, kind: str
) -> None:
    """--export-result /dev/zero (it was read until memory ran out) or a FIFO (it blocked):
    exit 2, naming the file and what is allowed; nothing imported."""
    path = sim_config(scratch, tmp_path, export_dir)
    exported = Path("/dev/zero")
    if kind == "a FIFO":
        exported = tmp_path / "fifo.json"
        os.mkfifo(exported)
    code, record = drill(path, exported, tmp_path)
    assert code == ExitCode.BAD_INPUT
    assert (
        f"--export-result: got '{exported}'; expected a readable result file of at most 16 MiB, "
        "not a device, FIFO or folder"
    ) in record["message"]
    assert scratch.cluster.imports_started() == 0


def test_a_lock_lost_while_the_drill_counts_keys_makes_its_outcome_unknown(
    scratch: Simulator, tmp_path: Path, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key count is read under the scratch database's lock too: a lock lost after the
    import succeeded but before the count is trusted (another runner's drill may have
    imported meanwhile) is exit 7 and drill_status unknown, never drilled."""
    from redis_enterprise_export.run.locks import Locks

    path = sim_config(scratch, tmp_path, export_dir)
    exported = export(path, tmp_path)
    finals: list[bool] = []

    def lost(_self: Locks, final: bool) -> str:
        if final:
            finals.append(final)
        return "the PostgreSQL session holding the export locks was lost" if len(finals) > 1 else ""

    monkeypatch.setattr(Locks, "lost", lost)
    code, record = drill(path, exported, tmp_path)
    assert code == ExitCode.OUTCOME_UNKNOWN, record["message"]
    assert record["drill_status"] == "unknown"
    assert "was lost" in record["message"]
