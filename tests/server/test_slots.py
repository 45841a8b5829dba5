"""Per-cluster export slots: real lock files, real processes, the simulator's limit."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FakeClock, start_helper, toml_text
from redis_enterprise_export.errors import ExportTimeoutError, LocalSetupError
from redis_enterprise_export.polling import Deadline
from redis_enterprise_export.run.slots import (
    HEAD_WAIT_SECONDS,
    WAIT_SECONDS,
    _cluster_dir,
    _try_lock,
    database_lock,
    export_slot,
    slots_dir,
)
from redis_enterprise_export.simulator import Simulator

URL = "https://rs.example.com:9443"


def test_at_most_limit_slots_are_held_at_once(tmp_path: Path) -> None:
    """With all slots held, another waiter times out at the deadline; held slots are distinct."""
    clock = FakeClock()
    deadline = Deadline(clock, 5)
    with (
        export_slot(tmp_path, URL, 2, deadline, database=1) as a,
        export_slot(tmp_path, URL, 2, deadline, database=2) as b,
    ):
        assert {a, b} == {0, 1}
        with (
            pytest.raises(ExportTimeoutError, match="'waiting for an export slot'"),
            export_slot(tmp_path, URL, 2, deadline, database=3),
        ):
            pass
        assert clock.now() == pytest.approx(5.0)


def test_a_released_slot_is_taken_again(tmp_path: Path) -> None:
    """A slot released on leaving its block is taken again by the next export."""
    deadline = Deadline(FakeClock(), 5)
    with export_slot(tmp_path, URL, 1, deadline, database=1):
        pass
    with export_slot(tmp_path, URL, 1, deadline, database=2) as slot:
        assert slot == 0


def test_other_clusters_have_their_own_slots(tmp_path: Path) -> None:
    """Slots are counted per cluster: a full cluster does not block another's."""
    deadline = Deadline(FakeClock(), 5)
    with (
        export_slot(tmp_path, URL, 1, deadline, database=1),
        export_slot(tmp_path, "https://other:9443", 1, deadline, database=1) as slot,
    ):
        assert slot == 0


def test_no_limit_means_no_slot(tmp_path: Path) -> None:
    """A limit of 0 takes no slot and creates no lock file."""
    with export_slot(tmp_path, URL, 0, Deadline(FakeClock(), 5), database=1) as slot:
        assert slot is None
    assert list(tmp_path.iterdir()) == []


def test_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    """flock dies with its process: a SIGKILLed helper never keeps a slot."""
    code = (
        "import sys, time; from pathlib import Path\n"
        "from redis_enterprise_export.run.slots import database_lock, export_slot, slots_dir\n"
        "from redis_enterprise_export.polling import Deadline, SystemClock\n"
        f"with export_slot(Path({str(tmp_path)!r}), {URL!r}, 1, Deadline(SystemClock(), 5), database=1):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    deadline = Deadline(FakeClock(), 1)
    with pytest.raises(ExportTimeoutError), export_slot(tmp_path, URL, 1, deadline, database=2):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate()
    with export_slot(tmp_path, URL, 1, Deadline(FakeClock(), 1), database=2) as slot:
        assert slot == 0


def run_fleet(sim: Simulator, tmp_path: Path, slots: int) -> list[int]:
    """6 helpers at once against a cluster that runs 2 exports; their exit codes."""
    sim.cluster.scenario.export_seconds = 0.5
    sim.cluster.scenario.max_concurrent_exports = 2
    names = [f"db{i}" for i in range(6)]
    for uid, name in enumerate(names, start=10):
        sim.cluster.add_database(uid, name)
    location = {
        "type": "s3",
        "bucket_name": "b",
        "access_key_id": "a",
        "secret_access_key_env": "S3_SECRET",
    }
    config = tmp_path / "exports.toml"
    config.write_text(
        toml_text(
            {
                "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path), "max_concurrent_exports": slots}},
                "exports": {n: {"cluster": "sim", "database": n, "location": location} for n in names},
            }
        )
    )  # fmt: skip
    env = {"REDIS_EXPORT_SLOTS_DIR": str(tmp_path / "slots")}
    helpers = [start_helper(config, tmp_path / f"{n}.json", env, name=n) for n in names]
    for helper in helpers:
        helper.communicate(timeout=120)
    return [h.returncode for h in helpers]


def test_a_fleet_of_helpers_takes_turns_instead_of_storming_the_cluster(
    sim: Simulator, tmp_path: Path
) -> None:
    """Slots matching the cluster's limit: every POST is accepted the first time."""
    assert run_fleet(sim, tmp_path, slots=2) == [0] * 6
    assert [r.status for r in sim.cluster.log if r.method == "POST"] == [200] * 6


def test_without_slots_the_same_fleet_meets_409s(sim: Simulator, tmp_path: Path) -> None:
    """The control case: the limit off (0), the cluster refuses the extra POSTs."""
    assert run_fleet(sim, tmp_path, slots=0) == [0] * 6
    assert any(r.status == 409 for r in sim.cluster.log if r.method == "POST")
    assert sim.cluster.exports_started() == 6


def test_waiting_for_a_slot_is_reported(sim: Simulator, tmp_path: Path) -> None:
    """Of two runs sharing one slot, exactly one reports that it waits for a slot."""
    sim.cluster.scenario.export_seconds = 0.5
    config = tmp_path / "exports.toml"
    config.write_text(
        toml_text(
            {
                "clusters": {
                    "sim": {
                        "url": sim.url,
                        "ca_cert": str(sim.ca_path),
                        "max_concurrent_exports": 1,
                    }
                },
                "exports": {
                    n: {
                        "cluster": "sim",
                        "database": uid,
                        "location": {"type": "mount_point", "path": "/nonexistent"},
                    }
                    for n, uid in (("a", 1), ("b", 2))
                },
            }
        )
    )
    sim.cluster.databases[2].modules = []  # make database 2 exportable
    env = {"REDIS_EXPORT_SLOTS_DIR": str(tmp_path / "slots")}
    runs = [start_helper(config, tmp_path / f"{n}.json", env, name=n) for n in ("a", "b")]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [4, 4]  # /nonexistent: wrong-file-path
    assert sum(f"waiting for one of 1 export slots of {sim.url}" in out for out in outputs) == 1


# The lock directory is private ----------------------------------------------


def test_the_default_lock_directory_is_private_to_the_user(tmp_path: Path) -> None:
    """Created mode 0700 under $XDG_RUNTIME_DIR, where systemd gives each user a tmpfs."""
    directory = slots_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert directory == tmp_path / "redis-enterprise-export"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        ("symlink", "is a symbolic link"),
        ("file", "is not a directory"),
        ("group-writable", "is writable by others (mode 777)"),
    ],
)
def test_an_unsafe_lock_directory_is_refused_with_what_to_do(
    tmp_path: Path, plant: str, message: str
) -> None:
    """A link, a file or a shared directory planted where the locks go: one clear error,
    and nothing is created where a link points."""
    target, where = tmp_path / "elsewhere", tmp_path / "locks"
    target.mkdir()
    if plant == "symlink":
        where.symlink_to(target)
    elif plant == "file":
        where.write_text("")
    else:
        where.mkdir()
        where.chmod(0o777)
    with pytest.raises(LocalSetupError, match=re.escape(message)) as info:
        slots_dir({"REDIS_EXPORT_SLOTS_DIR": str(where)})
    assert "set REDIS_EXPORT_SLOTS_DIR to a directory of your own" in str(info.value)
    assert list(target.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory away")
def test_a_lock_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """Another user's directory could hold our locks forever: refused, naming the owner."""
    where = tmp_path / "locks"
    where.mkdir(mode=0o700)
    os.chown(where, 65534, 65534)  # nobody
    with pytest.raises(LocalSetupError, match="belongs to uid 65534"):
        slots_dir({"REDIS_EXPORT_SLOTS_DIR": str(where)})


def test_a_lock_file_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    """A link planted in place of a slot file: opening it fails, the target stays untouched."""
    deadline = Deadline(FakeClock(), 1)
    with export_slot(tmp_path, URL, 1, deadline, database=1):
        pass  # creates the cluster's folder
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    (folder / "slot-0").unlink()
    victim = tmp_path / "victim"
    (folder / "slot-0").symlink_to(victim)
    with (
        pytest.raises(LocalSetupError, match="cannot open the lock file"),
        export_slot(tmp_path, URL, 1, deadline, database=2),
    ):
        pass
    assert not victim.exists()


def test_one_database_is_exported_by_one_helper_at_a_time(tmp_path: Path) -> None:
    """The database lock: a second export of the same database waits, another database does not."""
    clock = FakeClock()
    with database_lock(tmp_path, URL, 1, Deadline(clock, 5)):
        with database_lock(tmp_path, URL, 2, Deadline(clock, 5)):
            pass
        with (
            pytest.raises(ExportTimeoutError, match="waiting for this machine's other export"),
            database_lock(tmp_path, URL, 1, Deadline(clock, 1)),
        ):
            pass


def _next_in_line(directory: Path) -> int | None:
    """The place in line's lock, if no waiter holds it."""
    return _try_lock(_cluster_dir(directory, URL) / "next-in-line")


def test_the_first_waiter_in_line_looks_often_and_gives_its_place_up(tmp_path: Path) -> None:
    """Alone in line, a waiter looks for a slot every HEAD_WAIT_SECONDS; its place is
    free again once it times out."""
    clock = FakeClock()
    with export_slot(tmp_path, URL, 1, Deadline(clock, 5), database=1):
        with (
            pytest.raises(ExportTimeoutError),
            export_slot(tmp_path, URL, 1, Deadline(clock, 1), database=2),
        ):
            pass
        assert set(clock.sleeps[:-1]) == {HEAD_WAIT_SECONDS}
        place = _next_in_line(tmp_path)
        assert place is not None
        os.close(place)


def test_a_waiter_behind_another_looks_seldom(tmp_path: Path) -> None:
    """With the place in line taken, a waiter looks only every WAIT_SECONDS."""
    clock = FakeClock()
    with export_slot(tmp_path, URL, 1, Deadline(clock, 5), database=1):
        place = _next_in_line(tmp_path)
        assert place is not None
        try:
            with (
                pytest.raises(ExportTimeoutError),
                export_slot(tmp_path, URL, 1, Deadline(clock, 1), database=2),
            ):
                pass
        finally:
            os.close(place)
    assert set(clock.sleeps[:-1]) == {WAIT_SECONDS}


def test_the_first_in_line_moves_the_line_on_when_it_gets_a_slot(tmp_path: Path) -> None:
    """A waiter that gets its slot gives up its place in line before its export runs,
    so the next waiter looks often while this export runs."""
    clock = FakeClock()
    held = export_slot(tmp_path, URL, 1, Deadline(clock, 5), database=1)
    held.__enter__()

    class Releasing(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                held.__exit__(None, None, None)

    waiter_clock = Releasing()
    with export_slot(tmp_path, URL, 1, Deadline(waiter_clock, 5), database=2) as number:
        assert number == 0
        place = _next_in_line(tmp_path)
        assert place is not None
        os.close(place)
    assert waiter_clock.sleeps == [HEAD_WAIT_SECONDS] * 3


@pytest.mark.parametrize("url", ["https://rs.example.com:9443", "https://RS.example.com:9443/"])
def test_a_run_that_could_not_read_the_clusters_name_still_waits_for_one_that_did(
    tmp_path: Path, url: str
) -> None:
    """Whether a run keyed its locks by the cluster's name (GET /v1/cluster answered) or,
    that one answer odd, by its URL, two runs of one database through one address
    exclude each other: the database's lock is held under the address too."""
    from contextlib import ExitStack

    from redis_enterprise_export.run.locks import Locks
    from redis_enterprise_export.spec.export import Cluster, normalized_url

    clock = FakeClock()
    cluster = Cluster(url=url)
    named = "rs.example.com (created 2020-01-01T00:00:00Z)"
    fallback = normalized_url(url)
    for first, second in ((named, fallback), (fallback, named)):
        with ExitStack() as cleanup:
            held = Locks(cluster, first, tmp_path, {}, lambda _: None, cleanup)
            other = Locks(Cluster(url="https://rs.example.com:9443"), second, tmp_path, {},
                          lambda _: None, cleanup)  # fmt: skip
            with (
                held.database(1, Deadline(clock, 5)),
                pytest.raises(ExportTimeoutError, match="waiting for this machine's other"),
                other.database(1, Deadline(clock, 1)),
            ):
                pass
            with other.database(1, Deadline(clock, 1)):
                pass
