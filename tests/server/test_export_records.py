"""What the export command writes besides the export: the result file, private; the
job summary, best effort."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from helpers import ADMIN, PASSWORD, run_helper, start_helper, toml_text, write_helper_config
from helpers.tables import tables
from redis_enterprise_export.contract import Result
from redis_enterprise_export.simulator import Simulator


@pytest.mark.parametrize(
    "summary", ["a directory", "not UTF-8", "/dev/zero", "/dev/full", "a FIFO"]
)
def test_a_summary_that_cannot_be_written_never_changes_a_success(
    sim: Simulator, tmp_path: Path, summary: str
) -> None:
    """$GITHUB_STEP_SUMMARY a directory, holding non-UTF-8 bytes, a device (it was read
    whole: an out-of-memory kill) or a FIFO: the export still exits 0 and records success,
    with one warning line naming the summary."""
    path = tmp_path / "summary"
    if summary == "a directory":
        path.mkdir()
    elif summary == "a FIFO":
        os.mkfifo(path)
    elif summary.startswith("/dev/"):
        path = Path(summary)
    else:
        path.write_bytes(b"| earlier row \xff\xfe |\n")
    config = write_helper_config(sim.url, sim.ca_path, tmp_path)
    code, out, err = run_helper(config, tmp_path / "r.json", {"GITHUB_STEP_SUMMARY": str(path)})
    assert code == 0, out + err
    assert json.loads((tmp_path / "r.json").read_text())["export_status"] == "succeeded"
    assert err.count(f"warning: the job summary {path} was not written") == 1, err
    if summary not in ("a directory", "not UTF-8"):
        assert "(it is not a regular file: a device, FIFO or folder)" in err


def test_result_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Under umask 000 the result file is 0600 and its folder writable by no one else."""
    old = os.umask(0)
    try:
        Result(name="orders").write(tmp_path / ".results" / "orders.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / ".results" / "orders.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / ".results").stat().st_mode) & 0o077 == 0


# Whose files (issue 26, M5) ---------------------------------------------------------

ALIKE = ("customer-orders-eu-west-primary-2026", "customer-orders-eu-west-primary-2027")


def test_two_databases_named_alike_exporting_into_one_folder_say_files_are_ambiguous(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """Two databases whose names share their first 30 characters, exported into one folder
    at once: each record lists its own file and says in files_note that the match is
    ambiguous, naming the shared prefix and the other database (before: no note at all)."""
    for uid, name in zip((3, 4), ALIKE, strict=True):
        sim.add_database(uid, name, data={"k": name})
    sim.cluster.scenario.export_seconds = 1.0
    location = {"type": "mount_point", "path": str(export_dir)}
    exports = {f"y{name[-4:]}": {"cluster": "sim", "database": name, "location": location,
                           "timeout_seconds": 60} for name in ALIKE}  # fmt: skip
    config = tmp_path / "exports.toml"
    config.write_text(toml_text({"clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
                                 "exports": exports}))  # fmt: skip
    helpers = [start_helper(config, tmp_path / f"{n}.json", name=n) for n in exports]
    ended = [(helper.communicate(timeout=120), helper.returncode) for helper in helpers]
    assert [code for _, code in ended] == [0, 0], ended
    prefix = ALIKE[0][:30]
    for uid, database, other in ((3, *ALIKE), (4, *ALIKE[::-1])):
        record = json.loads((tmp_path / f"y{database[-4:]}.json").read_text())
        (own,) = sim.cluster.databases[uid].files
        assert own.name in record["files"]
        assert "ambiguous" in record["files_note"]
        assert repr(prefix) in record["files_note"]
        assert repr(other) in record["files_note"]


def test_a_database_whose_name_no_other_shares_gets_no_ambiguity_note(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """A name no other database's first 30 characters hold: its files stand without a note."""
    config = tmp_path / "exports.toml"
    config.write_text(toml_text(tables(sim, export_dir)))
    code, out, err = run_helper(config, tmp_path / "r.json")
    assert code == 0, out + err
    record = json.loads((tmp_path / "r.json").read_text())
    assert len(record["files"]) == 1
    assert record["files_note"] == ""


def test_an_authorization_header_echoed_in_the_failure_reason_reaches_no_record(
    sim: Simulator, tmp_path: Path
) -> None:
    """A failure reason quoting the Authorization header the helper sent (base64 of
    user:password) reaches neither its output, the result file nor the job summary."""
    token = base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()
    sim.cluster.scenario.fail_reason = f"proxy-refused: Authorization: Basic {token}"
    summary = tmp_path / "summary.md"
    config = write_helper_config(sim.url, sim.ca_path, tmp_path)
    code, out, err = run_helper(config, tmp_path / "r.json", {"GITHUB_STEP_SUMMARY": str(summary)})
    assert code != 0
    record = (tmp_path / "r.json").read_text()
    assert "proxy-refused" in record
    for text in (out, err, record, summary.read_text()):
        assert token not in text
