"""What the export command writes besides the export: the result file, private; the
job summary, best effort."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from helpers import run_helper, write_helper_config
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
