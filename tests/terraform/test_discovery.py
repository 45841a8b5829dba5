"""Selectors and the lock file: synthesis is offline and reproducible, discovery is a reviewed change."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from helpers import S3_SECRET, TerraformProject, run_main, terraform_env, toml_text
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.simulator import Simulator
from redis_enterprise_export.spec.config import load_config
from redis_enterprise_export.spec.selectors import Lock, Match, export_name, lock_path
from redis_enterprise_export.spec.values import EXPORT_NAME


def selector_config(path: Path, sim: Simulator, export_dir: Path, **selector: Any) -> Path:
    path.write_text(toml_text({
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {"nightly": {"cluster": "sim", "databases": "*", "timeout_seconds": 60,
                                "location": {"type": "mount_point", "path": str(export_dir)}}
                    | selector},
    }))  # fmt: skip
    return path


def cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    run = subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", *argv],
        env=terraform_env(S3_SECRET=S3_SECRET) | (env or {}),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in run.stdout + run.stderr
    return run.returncode, run.stdout, run.stderr


def test_a_selector_without_a_lock_entry_is_one_line_that_says_to_run_discover(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """Synthesis never asks the cluster: an unresolved selector stops it, with the fix named
    as the console command (main.py is no way to run discover); before, as python -m."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir)
    run = run_main(path, tmp_path)
    assert run.returncode == 2
    assert run.stderr == (
        f"error: {path} [exports.nightly]: databases: got ['*']; expected an up-to-date entry "
        f"in exports.lock.json (run: redis-enterprise-export discover --config {path})\n"
    )
    assert sim.cluster.log == []


def test_the_stale_selector_error_names_discover_as_the_user_ran_synth(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """``python -m redis_enterprise_export synth`` on an unresolved selector names discover
    the same way, with ``python -m``."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir)
    code, _, err = cli("synth", "--config", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"(run: python -m redis_enterprise_export discover --config {path})" in err


def test_discover_writes_what_each_selector_matched(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """Names and globs include, exclude removes; each match becomes <export>-<database> by uid."""
    sim.cluster.add_database(3, "orders-eu")
    sim.cluster.add_database(4, "orders.tmp")
    path = selector_config(
        tmp_path / "exports.toml",
        sim,
        export_dir,
        databases=["orders*", "search"],
        exclude=["*tmp"],
    )
    code, out, _ = cli("discover", "--config", str(path))
    assert code == 0, out
    lock = json.loads(lock_path(path).read_text())
    assert lock["selectors"]["nightly"]["matches"] == [
        {"uid": 1, "name": "orders"},
        {"uid": 2, "name": "search"},
        {"uid": 3, "name": "orders-eu"},
    ]
    specs = load_config(path).exports
    assert [(s.name, s.database) for s in specs] == [
        ("nightly-orders", 1),
        ("nightly-search", 2),
        ("nightly-orders-eu", 3),
    ]
    assert {r.method for r in sim.cluster.log} == {"GET"}


def test_a_changed_selector_makes_its_lock_entry_stale(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The lock records the selector too: editing it without discover is caught at synthesis."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir)
    assert cli("discover", "--config", str(path))[0] == 0
    selector_config(path, sim, export_dir, exclude=["search"])
    with pytest.raises(ConfigError, match=r"expected an up-to-date entry in exports\.lock\.json"):
        load_config(path)


def test_names_that_read_alike_or_run_long_each_get_their_own_export(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """a.b, a_b, a:b and a 63-character name: discover and --check pass, and synthesis makes one valid export each."""
    long_name = "orders-" + "x" * 56
    for uid, name in [(3, "a.b"), (4, "a:b"), (5, "a_b"), (6, long_name)]:
        sim.cluster.add_database(uid, name)
    path = selector_config(
        tmp_path / "exports.toml", sim, export_dir, databases=["a?b", "orders-*"]
    )
    assert cli("discover", "--config", str(path))[0] == 0
    assert cli("discover", "--check", "--config", str(path))[0] == 0
    names = {spec.database: spec.name for spec in load_config(path).exports}
    assert names[5] == "nightly-a_b"
    assert names[3] == "nightly-a_b-" + hashlib.sha256(b"a.b").hexdigest()[:8]
    assert len(set(names.values())) == 4
    assert all(EXPORT_NAME.match(name) for name in names.values())
    assert names[6].startswith("nightly-orders-xxx")
    assert len(names[6]) == 64


@settings(max_examples=300)
# A selector of the longest name and a database one character too long to fit: the cut
# went negative and left a name of 65 characters.
@example(selector="A" + "0" * 54, databases=["000000000"])
@given(
    selector=st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,54}", fullmatch=True),
    databases=st.lists(st.text(max_size=80), unique=True, max_size=6),
)
def test_any_database_names_expand_to_valid_distinct_export_names(
    selector: str, databases: list[str]
) -> None:
    """Whatever the databases are called, their export names are valid, distinct, and each depends on its own name only."""
    names = [export_name(selector, db) for db in databases]
    assert all(EXPORT_NAME.match(name) for name in names)
    assert len(set(names)) == len(names)
    assert names == [export_name(selector, db) for db in reversed(databases)][::-1]


def test_a_selector_name_without_room_for_its_databases_is_refused(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A selector named close to 64 characters could not name its databases' exports: one line at its table."""
    path = tmp_path / "exports.toml"
    selector_config(path, sim, export_dir)
    path.write_text(path.read_text().replace("[exports.nightly]", "[exports." + "n" * 56 + "]"))
    with pytest.raises(ConfigError) as info:
        load_config(path, resolve=False)
    assert f"name: got '{'n' * 56}'; expected at most 55 characters" in str(info.value)


def test_discover_refuses_a_match_whose_name_another_export_has_before_writing(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A plain export already named nightly-orders: discover exits 2 naming it and writes no lock."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir)
    path.write_text(path.read_text() + toml_text({"exports": {"nightly-orders": {
        "cluster": "sim", "database": 1, "location": {"type": "mount_point", "path": "/m"}}}}))  # fmt: skip
    code, _, err = cli("discover", "--config", str(path))
    assert code == 2
    assert "name: got 'nightly-orders'; expected a name no other export has" in err
    assert not lock_path(path).exists()


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"databases": []}, 'databases: got []; expected "*", or a list of database names'),
        ({"databases": 3}, "databases: got 3"),
        ({"exclude": [""]}, "exclude: got ['']"),
        ({"database": 1}, "databases: got '*'; expected either database or databases, not both"),
    ],
)
def test_fails_on_a_bad_selector_naming_the_key(
    sim: Simulator, tmp_path: Path, export_dir: Path, selector: dict[str, Any], message: str
) -> None:
    """A malformed selector is the usual one-line error, placed at its export's table."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir, **selector)
    with pytest.raises(ConfigError) as info:
        load_config(path, resolve=False)
    assert str(info.value).startswith(f"{path} [exports.nightly]: {message}")


def test_discover_check_exits_1_when_the_lock_is_out_of_date(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """--check writes nothing and names what changed: the step that opens a PR."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir)
    assert cli("discover", "--check", "--config", str(path))[0] == 1  # no lock yet
    assert cli("discover", "--config", str(path))[0] == 0
    assert cli("discover", "--check", "--config", str(path))[:2] == (
        0,
        "exports.lock.json is up to date\n",
    )
    before = lock_path(path).read_text()
    sim.cluster.add_database(9, "payments")
    code, out, _ = cli("discover", "--check", "--config", str(path))
    assert code == 1
    assert "  + nightly: payments (uid 9)" in out
    assert lock_path(path).read_text() == before


BROKEN_LOCKS = [
    ("[]", "(top level): got a JSON array; expected a JSON object"),
    ('"x"', "(top level): got a JSON string; expected a JSON object"),
    ("null", "(top level): got a JSON null; expected a JSON object"),
    ('{"version": [1]}', "version: got a JSON array; expected 1"),
    ('{"version": 1, "selectors": []}', "selectors: got a JSON array; expected an object"),
    ('{"version": 1, "selectors": {"nightly": []}}', "selectors.nightly: got a JSON array"),
    ('{"version": 1, "selectors": {"nightly": {"matches": [1]}}}', "selectors.nightly: got a JSON object"),
    ('{"version": 1, "selectors": {"nightly": {"matches": [{"uid": "1", "name": "a"}]}}}',
     "selectors.nightly: got a JSON object; expected an object whose matches are {uid, name}s"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BROKEN_LOCKS)
def test_a_lock_of_the_wrong_shape_is_one_line_and_discover_rewrites_it(
    sim: Simulator, tmp_path: Path, export_dir: Path, text: str, message: str
) -> None:
    """Valid JSON of the wrong shape: one line naming the file and key; --check says out of date; discover repairs it."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir)
    lock_path(path).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{lock_path(path)}: {message}")
    assert str(info.value).endswith("(run discover to rewrite it)")
    code, out, _ = cli("discover", "--check", "--config", str(path))
    assert code == 1
    assert f"note: {info.value}" in out
    assert cli("discover", "--config", str(path))[0] == 0
    assert [s.name for s in load_config(path).exports] == ["nightly-orders", "nightly-search"]


def test_discover_that_cannot_write_the_lock_says_so_in_one_line(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """An unwritable lock path (a directory here: tests run as root, whom a read-only folder does not stop) is exit 2 naming it."""
    path = selector_config(tmp_path / "exports.toml", sim, export_dir)
    lock_path(path).mkdir()
    code, _, err = cli("discover", "--config", str(path))
    assert code == 2
    assert err.startswith(
        f"error: lock file: got '{lock_path(path)}'; expected a file discover can write ("
    )
    assert err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".exports.lock")] == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_the_lock_gets_the_mode_of_any_new_file(tmp_path: Path, umask: int, mode: int) -> None:
    """No secret in it and committed to git: 0666 less the umask (0644 usually), not mkstemp's 0600."""
    old = os.umask(umask)
    try:
        Lock({}).write(tmp_path / "exports.lock.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "exports.lock.json").stat().st_mode) == mode


def test_a_match_is_a_plain_value() -> None:
    """Matches compare by uid and name, so the change list is a set difference."""
    assert {Match(1, "a")} - {Match(1, "a")} == set()


@pytest.mark.e2e
def test_discover_synth_apply_status_then_a_new_database_is_one_new_export(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """The whole loop: discover, synth, apply, status --max-age, a new database, discover
    --check fails, discover, and the plan adds exactly the new database's export."""
    sim.cluster.databases[2].modules = []  # the fixture's 'search' lacks backup_restore
    path = selector_config(project.config, sim, export_dir)
    assert cli("discover", "--config", str(path))[0] == 0
    run = run_main(path, project.root, project.env)
    assert run.returncode == 0, run.stderr
    project.init()
    project.apply("night-1")
    assert sorted(project.outputs()) == ["nightly-orders", "nightly-search"]
    code, out, _ = cli("status", "--max-age", "1h", "--config", str(path))
    assert code == 0, out

    sim.add_database(5, "payments", data={"p:1": "x"})
    assert cli("discover", "--check", "--config", str(path))[0] == 1
    assert cli("discover", "--config", str(path))[0] == 0
    run = run_main(path, project.root, project.env)
    assert run.returncode == 0, run.stderr
    project.terraform("plan", "-no-color", "-var=run_id=night-1", "-out=plan.bin")
    plan = json.loads(project.terraform("show", "-json", "plan.bin").stdout)
    changed = {c["address"]: c["change"]["actions"] for c in plan["resource_changes"]
               if c["change"]["actions"] != ["no-op"]}  # fmt: skip
    names = sorted(address.split(".")[1].rsplit("_", 1)[0] for address in changed)
    assert names == [f"nightly-payments_{kind}" for kind in
                     ("check", "export", "last_success", "result")], changed  # fmt: skip
    assert all(actions == ["create"] for actions in changed.values())
