"""``restore`` as a person runs it: the confirm guard, the Active-Active refusal, a real
restore of an exported file (keys compared in real redis), failures and their exit codes,
409s and a lost POST answer, and that terraform never runs it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import ORDERS, REPO, S3_SECRET, run_helper, run_restore, write_helper_config
from helpers.identity import identity_of
from helpers.package import cli, config
from helpers.terraform import terraform_env
from redis_enterprise_export.cli import main
from redis_enterprise_export.commands.restore import UID
from redis_enterprise_export.errors import ExitCode
from redis_enterprise_export.simulator import Simulator

STAGING = {"stale:1": "old", "stale:2": "old"}


def exported(sim: Simulator, tmp_path: Path, export_dir: Path) -> tuple[Path, str]:
    """Export 'orders' (database 1) to ``export_dir`` with the helper; the config, and the
    file's name as a person finds it: the one file in the mount point."""
    path = write_helper_config(
        sim.url, sim.ca_path, tmp_path, location={"type": "mount_point", "path": str(export_dir)}
    )
    code, _, err = run_helper(path, tmp_path / "result.json")
    assert (code, err) == (0, "")
    (file,) = [p.name for p in export_dir.iterdir()]
    return path, file


def restore_args(file: str, into: str = "staging", confirm: str | None = None) -> list[str]:
    # --flag=value: a value may start with "-", which argparse would take for a flag.
    confirmed = into if confirm is None else confirm
    return ["--cluster", "sim", f"--into={into}", f"--confirm={confirmed}",
            "--from-export", "orders", f"--file={file}"]  # fmt: skip


@contextmanager
def handlers_kept() -> Iterator[None]:
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def posts(sim: Simulator) -> list[str]:
    return [r.path for r in sim.cluster.log if r.method == "POST"]


def test_a_restore_brings_the_exported_keys_into_the_other_database(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """Export 'orders' with the helper, restore its file into 'staging' by name: staging
    holds exactly the exported keys and values (its own are erased), one import ran, and
    the lines say what is erased and that it is done."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    code, out, err = run_restore(path, *restore_args(file))
    assert (code, err) == (0, "")
    assert staging.client.mget(list(ORDERS)) == list(ORDERS.values())
    assert set(staging.client.keys()) == set(ORDERS)
    assert sim.cluster.imports_started(3) == 1
    assert sim.cluster.import_bodies == [
        {"dataset_import_sources": [{"type": "mount_point", "path": str(export_dir / file)}]}
    ]
    lines = out.splitlines()
    assert lines[0] == f"[restore] target: database 3 ('staging', 2 keys) of {sim.url}"
    assert lines[1].endswith("into database 3: this ERASES its content")
    assert lines[-1] == "[restore] database 3 ('staging') now holds the file's data"


def test_a_uid_in_into_with_its_name_in_confirm_restores_that_database(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """--into 3 --confirm staging: digits are a uid, and --confirm names it in words."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    code, out, err = run_restore(path, *restore_args(file, into="3", confirm="staging"))
    assert (code, err) == (0, ""), out
    assert staging.client.dbsize() == len(ORDERS)
    assert sim.cluster.imports_started(3) == 1


def refused(sim: Simulator, code: int, out: str, err: str) -> str:
    """The one error line of a restore that was refused before any import."""
    assert code == ExitCode.BAD_INPUT, out + err
    (line,) = err.splitlines()
    assert "nothing was imported" in line
    assert sim.cluster.imports_started() == 0
    return line


def test_a_uid_in_into_with_the_uid_again_in_confirm_is_refused_naming_the_database(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """--into 3 --confirm 3 erased uid 3 without the operator ever naming it in words:
    now it is refused before any POST, and the line says what uid 3 is."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    code, out, err = run_restore(path, *restore_args(file, into="3"))
    line = refused(sim, code, out, err)
    assert "--confirm: got '3'; expected the name of database 3, 'staging'" in line
    assert staging.client.dbsize() == len(STAGING)


@pytest.mark.parametrize("uid_3_exists", [True, False])
def test_digits_that_are_also_a_databases_name_are_refused_as_ambiguous(
    sim: Simulator, tmp_path: Path, export_dir: Path, uid_3_exists: bool
) -> None:
    """A database named "3" (uid 5): --into 3 --confirm 3 may mean it or uid 3, so it is
    refused before any POST, saying how to name the one called "3" (its uid, then its name)."""
    if uid_3_exists:
        sim.add_database(3, "staging", data=STAGING)
    three = sim.add_database(5, "3", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    code, out, err = run_restore(path, *restore_args(file, into="3"))
    line = refused(sim, code, out, err)
    found = "uid 3 ('staging')" if uid_3_exists else "no database's uid"
    assert (
        f"--into: got '3'; expected one database: '3' is {found}, and the name of database 5"
        in line
    )
    assert "(--into 5 --confirm 3)" in line
    assert three.client.dbsize() == len(STAGING)


def test_the_ambiguous_database_is_restored_by_its_uid_and_name(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The way out the refusal names works: --into 5 --confirm 3 restores the database "3"."""
    sim.add_database(3, "staging", data=STAGING)
    three = sim.add_database(5, "3", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    code, out, err = run_restore(path, *restore_args(file, into="5", confirm="3"))
    assert (code, err) == (0, ""), out
    assert three.client.dbsize() == len(ORDERS)


def test_a_database_a_configured_export_backs_up_is_refused_unless_the_flag_says_so(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """'orders' is what the config's export 'orders' backs up: refused before any POST
    (the target shown first), and restored once --overwrite-backed-up-database says so."""
    path, file = exported(sim, tmp_path, export_dir)
    orders = sim.cluster.databases[1].redis.client  # type: ignore[union-attr]
    orders.set("written:after", "the export")
    code, out, err = run_restore(path, *restore_args(file, into="1", confirm="orders"))
    line = refused(sim, code, out, err)
    assert "database 1 is backed up (export 'orders' of the config exports it)" in line
    assert "add --overwrite-backed-up-database" in line
    assert out.splitlines()[0].startswith("[restore] target: database 1 ('orders', ")
    assert orders.get("written:after") == "the export"
    flag = "--overwrite-backed-up-database"
    code, out, err = run_restore(path, *restore_args(file, into="1", confirm="orders"), flag)
    assert (code, err) == (0, ""), out
    assert orders.get("written:after") is None
    assert sim.cluster.imports_started(1) == 1


def test_a_database_with_rs_scheduled_backups_is_refused_before_any_post(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A target RS itself backs up (backup: true) holds data someone keeps: refused, its
    keys untouched, unless --overwrite-backed-up-database."""
    staging = sim.add_database(3, "staging", data=STAGING)
    sim.cluster.databases[3].backup = True
    path, file = exported(sim, tmp_path, export_dir)
    code, out, err = run_restore(path, *restore_args(file))
    line = refused(sim, code, out, err)
    assert "RS backs it up on a schedule (backup: true)" in line
    assert staging.client.dbsize() == len(STAGING)


def test_a_missing_database_is_the_helpers_finding_listing_what_the_cluster_has(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """No database 'nope': the line says the cluster has none (not that it answered 404)
    and lists its databases; nothing was imported."""
    path, file = exported(sim, tmp_path, export_dir)
    code, _, err = run_restore(path, *restore_args(file, into="nope"))
    assert code == ExitCode.REFUSED
    (line,) = err.splitlines()
    assert "the cluster has no database named 'nope' (GET /v1/bdbs lists orders, search)" in line
    assert "404" not in line
    assert sim.cluster.imports_started() == 0


@contextmanager
def restore_waiting(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> Iterator[tuple[subprocess.Popen[str], list[str], Any, str]]:
    """A restore into database 3 ('staging') started while its lock is held, read until it
    says it waits: the process, its lines so far, the database and the lock's identity.
    The lock is released when the block ends."""
    from redis_enterprise_export.polling import Deadline, SystemClock
    from redis_enterprise_export.run.slots import database_lock

    staging = sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    slots = tmp_path / "slots"
    slots.mkdir(mode=0o700)
    identity = identity_of(sim)
    env = terraform_env(S3_SECRET=S3_SECRET, REDIS_EXPORT_SLOTS_DIR=str(slots))
    argv = [sys.executable, "-m", "redis_enterprise_export", "restore", "--config", str(path),
            *restore_args(file)]  # fmt: skip
    with database_lock(slots, identity, 3, Deadline(SystemClock(), 60)):
        restore = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert restore.stdout is not None
        said: list[str] = []
        for line in restore.stdout:
            said.append(line)
            if "waiting for" in line:
                break
        yield restore, said, staging, identity


def test_a_restore_waits_for_the_databases_lock_says_so_and_imports_after_it(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """While a drill (or an export, or another restore) holds database 3's lock, the
    restore waits, says what it waits for, and posts its import only once it is free."""
    with restore_waiting(sim, tmp_path, export_dir) as (restore, said, staging, identity):
        assert said[-1].strip() == (
            "[restore] waiting for this machine's other export, drill or restore of "
            f"database 3 to end before this restore, on cluster {identity}"
        ), "".join(said)
        assert sim.cluster.imports_started() == 0
        assert staging.client.dbsize() == len(STAGING)
    out, err = restore.communicate(timeout=90)
    assert restore.returncode == 0, "".join(said) + out + err
    assert sim.cluster.imports_started(3) == 1
    assert staging.client.dbsize() == len(ORDERS)


@pytest.mark.parametrize(
    ("into", "confirm"),
    [("staging", "Staging"), ("staging", "staging "), ("staging", "3"), ("staging", "")],
)
def test_a_confirm_that_is_not_into_exits_2_before_any_request(
    sim: Simulator, tmp_path: Path, export_dir: Path, into: str, confirm: str
) -> None:
    """The guard: --confirm must be --into's exact text, or exit 2 with one line saying
    that importing ERASES the database; nothing is read from the cluster, nothing posted."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path = write_helper_config(sim.url, sim.ca_path, tmp_path,
                               location={"type": "mount_point", "path": str(export_dir)})  # fmt: skip
    code, out, err = run_restore(path, *restore_args("f.rdb.gz", into, confirm))
    assert code == ExitCode.BAD_INPUT
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"error: --confirm {confirm!r} is not --into {into!r}: importing ERASES")
    assert sim.cluster.log == []
    assert staging.client.dbsize() == len(STAGING)


HOSTILE = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(into=HOSTILE, confirm=HOSTILE)
# The longest escapes: a text of them once made the line 501 characters.
@example(into="\U000e0001" * 300, confirm="\x85" * 300)
def test_any_two_different_names_are_refused_on_one_line(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], into: str, confirm: str
) -> None:
    """Whatever the two texts (newlines, escapes, 300 characters), if they differ and
    --into is not a uid the answer is exit 2 and one bounded line, and the cluster hears
    nothing (a uid's --confirm is checked against its name, read from the cluster)."""
    if UID.match(into):
        into += "x"
    if into == confirm:
        confirm += "x"
    code = main(["restore", "--config", str(tmp_path / "none.toml"), *restore_args(
        "f.rdb.gz", into, confirm)], {})  # fmt: skip
    _, err = capsys.readouterr()
    assert code == ExitCode.BAD_INPUT
    (line,) = err.splitlines()
    assert "ERASES" in line
    assert len(line) < 500
    assert sim.cluster.log == []


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=HOSTILE.filter(lambda t: t not in ("orders", "search") and not t.isdigit()),
       file=HOSTILE)  # fmt: skip
def test_hostile_names_and_files_fail_on_one_line_and_post_nothing(
    sim: Simulator,
    tmp_path: Path,
    export_dir: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    file: str,
) -> None:
    """--into (twice the same; not a uid or a database there) and --file of any text:
    never an import, never a traceback; exit 2 (bad file or name) or 3 (no such
    database), on one line."""
    path = write_helper_config(sim.url, sim.ca_path, tmp_path,
                               location={"type": "mount_point", "path": str(export_dir)})  # fmt: skip
    environ = {"REDIS_ENTERPRISE_USER": "admin@example.com",
               "REDIS_ENTERPRISE_PASSWORD": "Cluster-Pass-5ecr3t-91f"}  # fmt: skip
    with handlers_kept():  # the command leaves SIGINT and SIGTERM ignored, as it exits
        code = main(["restore", "--config", str(path), *restore_args(file, name)], environ)
    out, err = capsys.readouterr()
    assert code in (ExitCode.BAD_INPUT, ExitCode.REFUSED)
    (line,) = err.splitlines()
    assert line.startswith("error: ")
    assert "Traceback" not in out + err
    assert posts(sim) == []


def test_an_active_active_database_is_refused_before_any_post(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A target with crdt: true: exit 2, one line saying why, its data untouched, no POST."""
    aa = sim.add_database(3, "orders-aa", data=STAGING, crdt=True)
    path, file = exported(sim, tmp_path, export_dir)
    code, _, err = run_restore(path, *restore_args(file, into="orders-aa"))
    assert code == ExitCode.BAD_INPUT
    (line,) = err.splitlines()
    assert "database 3 ('orders-aa') is Active-Active (crdt: true)" in line
    assert "nothing was imported" in line
    assert posts(sim) == ["/v1/bdbs/1/actions/export"]  # the helper's export only
    assert aa.client.dbsize() == len(STAGING)


@pytest.mark.parametrize("how", ["truncated", "not-gzip-nor-rdb"])
def test_a_corrupt_file_exits_4_with_file_corrupted_and_a_hint(
    sim: Simulator, tmp_path: Path, export_dir: Path, how: str
) -> None:
    """A damaged file: the import fails, exit 4, one line with import_failure_reason
    'file-corrupted', what to do, and that RS does not say what a failed import leaves."""
    sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    damaged = export_dir / file
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2] if how == "truncated" else b"junk\n" * 100)
    code, _, err = run_restore(path, *restore_args(file))
    assert code == ExitCode.EXPORT_FAILED
    (line,) = err.splitlines()
    assert "import of database 3 failed: import_failure_reason 'file-corrupted'" in line
    assert "Check that the export that wrote it succeeded, or restore another file" in line
    assert "RS does not document what a failed import leaves" in line


def test_a_file_not_there_exits_4_with_download_error(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A file name that is not in the location: download-error, and a hint to check it."""
    sim.add_database(3, "staging", data=STAGING)
    path, _ = exported(sim, tmp_path, export_dir)
    code, _, err = run_restore(path, *restore_args("orders-typo.rdb.gz"))
    assert code == ExitCode.EXPORT_FAILED
    assert "'download-error'. The cluster could not fetch the file: check the file name" in err


def test_409s_are_backed_off_and_one_import_runs(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The database answers 409 twice: the restore backs off, then imports once."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    sim.cluster.scenario.conflicts = 2
    code, out, _ = run_restore(path, *restore_args(file))
    assert code == 0
    assert out.count("busy (409); retrying in") == 2
    assert sim.cluster.imports_started(3) == 1
    assert staging.client.dbsize() == len(ORDERS)


@pytest.mark.parametrize("fault", ["drop", "503-started"])
def test_a_lost_post_answer_is_looked_for_and_one_import_runs(
    sim: Simulator, tmp_path: Path, export_dir: Path, fault: str
) -> None:
    """The cluster starts the import but its answer is lost (connection reset, or a 503
    after the work): the restore looks, finds it running, follows it; one import only."""
    staging = sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    sim.cluster.scenario.import_seconds = 2.0
    sim.cluster.scenario.faults = {"POST": [fault, "..."]}
    code, out, err = run_restore(path, *restore_args(file))
    assert (code, err) == (0, "")
    assert "checking whether the import started" in out
    assert sim.cluster.imports_started(3) == 1
    assert len([p for p in posts(sim) if p.endswith("/import")]) == 1
    assert staging.client.dbsize() == len(ORDERS)


def test_an_import_past_its_timeout_exits_5_saying_it_may_still_run(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """--timeout 1s on a longer import: exit 5, and the line says it may still finish."""
    sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    sim.cluster.scenario.import_seconds = 30
    code, _, err = run_restore(path, *restore_args(file), "--timeout", "1s")
    assert code == ExitCode.TIMED_OUT
    assert "did not finish within 1 s" in err
    assert "The import may still finish on the cluster" in err


def test_secrets_reach_only_the_request_body(sim: Simulator, tmp_path: Path) -> None:
    """From an S3 export's location: the secret comes from $S3_SECRET into the source's
    body, never into the output; the file becomes the source's filename."""
    sim.add_database(3, "staging", data=STAGING)
    path = write_helper_config(sim.url, sim.ca_path, tmp_path)  # its location is S3
    code, out, err = run_restore(path, *restore_args("orders-1.rdb.gz"))
    assert code == 0
    (source,) = sim.cluster.import_bodies[0]["dataset_import_sources"]
    assert (source["secret_access_key"], source["filename"]) == (S3_SECRET, "orders-1.rdb.gz")
    assert S3_SECRET not in out + err


def test_cluster_text_that_holds_a_secret_is_shown_scrubbed(sim: Simulator, tmp_path: Path) -> None:
    """The cluster's answers are read as sent; a database name holding the location's
    secret reaches the output as ***."""
    sim.add_database(3, f"staging-{S3_SECRET}", data=STAGING)
    path = write_helper_config(sim.url, sim.ca_path, tmp_path)  # its location is S3
    args = restore_args("orders-1.rdb.gz", into="3", confirm=f"staging-{S3_SECRET}")
    code, out, err = run_restore(path, *args)
    assert code == 0, out + err
    assert "database 3 ('staging-***') now holds the file's data" in out
    assert S3_SECRET not in out + err


def test_an_unset_secret_or_an_unknown_name_is_bad_input_before_any_request(
    sim: Simulator, tmp_path: Path
) -> None:
    """$S3_SECRET unset, or --cluster/--from-export not in the config: exit 2, one line."""
    path = write_helper_config(sim.url, sim.ca_path, tmp_path)
    answers: list[tuple[int, str]] = []
    for args, env in [
        (restore_args("f.rdb"), {"S3_SECRET": ""}),
        (["--cluster", "prod", *restore_args("f.rdb")[2:]], {}),
        ([*restore_args("f.rdb")[:5], "nightly", "--file", "f.rdb"], {}),
    ]:
        code, _, err = run_restore(path, *args, env=env)
        answers.append((code, err.strip()))
    assert [code for code, _ in answers] == [2, 2, 2]
    assert all(len(err.splitlines()) == 1 for _, err in answers)
    assert "secret_access_key_env: got 'S3_SECRET'" in answers[0][1]
    assert "--cluster: got 'prod'; expected one of sim" in answers[1][1]
    assert "--from-export: got 'nightly'; expected one of orders" in answers[2][1]
    assert posts(sim) == []


def test_terraform_never_runs_a_restore(sim: Simulator, tmp_path: Path, export_dir: Path) -> None:
    """The synthesized stack's only helper command is export: an apply cannot restore."""
    path = config(tmp_path, sim, {"type": "mount_point", "path": str(export_dir)})
    assert cli("synth", "--config", str(path), "--out", "built", cwd=tmp_path).returncode == 0
    stack = (tmp_path / "built" / "stacks" / "exports" / "cdk.tf.json").read_text()
    commands = [p["local-exec"]["command"] for p in _provisioners(json.loads(stack))]
    assert commands == ["export"]
    assert "restore" not in stack


def _provisioners(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        found = [p for p in data.get("provisioner", []) if "local-exec" in p]
        return found + [p for v in data.values() for p in _provisioners(v)]
    if isinstance(data, list):
        return [p for v in data for p in _provisioners(v)]
    return []


def test_help_states_the_exit_codes_the_runbook_states() -> None:
    """``restore --help`` and the restore page's runbook give the same exit codes."""
    run = cli("restore", "--help")
    assert run.returncode == 0
    codes = " ".join(run.stdout.split()).split("exit codes: ")[1]
    readme = (REPO / "docs" / "restore.md").read_text().split("## Restore runbook")[1]
    readme = readme.split("\n## ")[0]
    text = " ".join(readme.replace("`", "").split())
    assert f"Exit codes (restore --help prints the same list): {codes}." in text


def test_a_restore_that_waits_out_its_timeout_for_the_lock_says_no_import_was_started(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The database's lock held past --timeout: exit 5, one line in the import's words
    (what it waited for, raise --timeout, no import started), not an export's."""
    from redis_enterprise_export.polling import Deadline, SystemClock
    from redis_enterprise_export.run.slots import database_lock

    staging = sim.add_database(3, "staging", data=STAGING)
    path, file = exported(sim, tmp_path, export_dir)
    slots = tmp_path / "slots"
    slots.mkdir(mode=0o700)
    identity = identity_of(sim)
    with database_lock(slots, identity, 3, Deadline(SystemClock(), 60)):
        code, _, err = run_restore(path, *restore_args(file), "--timeout=2s",
                                   env={"REDIS_EXPORT_SLOTS_DIR": str(slots)})  # fmt: skip
    assert code == ExitCode.TIMED_OUT
    (line,) = err.splitlines()
    assert line == (
        'error: import of database 3 did not finish within 2 s (last import_status "waiting '
        "for this machine's other export, drill or restore of it\"); raise --timeout or check "
        "the cluster. No import was started by this run."
    )
    assert sim.cluster.imports_started() == 0
    assert staging.client.dbsize() == len(STAGING)


def test_a_database_renamed_while_the_restore_waits_for_its_lock_is_not_imported_into(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """The name confirmed is checked again right before the POST: uid 3, renamed to
    'production' while the restore waited for its lock, is refused and keeps its keys."""
    with restore_waiting(sim, tmp_path, export_dir) as (restore, said, staging, _):
        sim.cluster.databases[3].name = "production"
    out, err = restore.communicate(timeout=90)
    assert restore.returncode == ExitCode.BAD_INPUT, "".join(said) + out + err
    assert "now named 'production'" in err, err
    assert "got 'staging'" in err, err
    assert sim.cluster.imports_started() == 0
    assert staging.client.dbsize() == len(STAGING)


def test_an_export_of_another_table_for_the_same_cluster_still_guards_its_database(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A second [clusters] table for the same cluster (its URL spelled otherwise, other
    settings, as a restore's admin table would be) does not lift the backed-up guard:
    'orders', which export 'orders' backs up through table 'sim', is refused."""
    import tomllib

    from helpers import toml_text

    path, file = exported(sim, tmp_path, export_dir)
    data = tomllib.loads(path.read_text())
    data["clusters"]["admin"] = data["clusters"]["sim"] | {
        "url": sim.url.upper().replace("HTTPS", "https") + "/",
        "request_timeout_seconds": 17,
    }
    path.write_text(toml_text(data))
    orders = sim.cluster.databases[1].redis.client  # type: ignore[union-attr]
    args = restore_args(file, into="orders")
    args[args.index("sim")] = "admin"
    code, out, err = run_restore(path, *args)
    line = refused(sim, code, out, err)
    assert "export 'orders' of the config exports it" in line
    assert orders.dbsize() == len(ORDERS)
