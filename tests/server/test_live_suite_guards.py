"""The live suite's export test cannot pass on a stale status.

It runs here as ``./dev test-live`` runs it, against the simulator, on a database
whose earlier export succeeded, with reads that keep showing that earlier outcome
after the test's reset and POST (``Scenario.stale_reads``, as a lagging node does).
Before the reset and the moved-``last_export_time`` check, the first read's
``succeeded`` passed the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import ADMIN, PASSWORD, REPO
from redis_enterprise_export.rs.client import RsClient
from redis_enterprise_export.simulator import Simulator

EXPORT_TEST = (
    "tests/live/test_live.py::test_live_one_export_of_the_scratch_database_succeeds_and_is_recorded"
)


def export_once(sim: Simulator, mount: Path) -> None:
    """An earlier export of db 1 that succeeded: its status stays on the database."""
    client = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    try:
        client.start_export(1, {"export_location": {"type": "mount_point", "path": str(mount)}})
        for _ in range(200):
            if client.export_state(1).export_status == "succeeded":
                return
            time.sleep(0.05)
        raise AssertionError("the earlier export did not succeed")
    finally:
        client.close()


def live_export_test(sim: Simulator, mount: Path, record: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_EXPORT_LIVE_")}
    env |= {
        "REDIS_EXPORT_LIVE_URL": sim.url,
        "REDIS_EXPORT_LIVE_USER": ADMIN,
        "REDIS_EXPORT_LIVE_PASSWORD": PASSWORD,
        "REDIS_EXPORT_LIVE_CA": str(sim.ca_path),
        "REDIS_EXPORT_LIVE_DB": "orders",
        "REDIS_EXPORT_LIVE_MOUNT": str(mount),
        "REDIS_EXPORT_LIVE_EXPORT": "1",
        "REDIS_EXPORT_LIVE_TIMEOUT": "5",
        "REDIS_EXPORT_LIVE_RECORD": str(record),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "live",
         EXPORT_TEST],
        cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_the_live_export_test_fails_when_reads_keep_showing_an_earlier_success(
    sim: Simulator, tmp_path: Path
) -> None:
    """An earlier success, and reads that keep showing it after the reset and the POST:
    the live export test fails."""
    export_once(sim, tmp_path)
    sim.cluster.scenario.stale_reads = 10_000
    run = live_export_test(sim, tmp_path, tmp_path / "record")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout, run.stdout


def test_the_live_export_test_passes_on_a_fresh_export_after_an_earlier_success(
    sim: Simulator, tmp_path: Path
) -> None:
    """The control: the same database and earlier success, reads current."""
    export_once(sim, tmp_path)
    run = live_export_test(sim, tmp_path, tmp_path / "record")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout, run.stdout
