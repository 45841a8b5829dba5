"""The live conformance suite as a whole, run as pytest runs it, against the simulator:
an explicit opt-in, and fixtures pseudonymized before they are written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import ADMIN, PASSWORD, REPO, terraform_env
from redis_enterprise_export.simulator import Simulator


def run_live(
    sim: Simulator, record: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest on the live suite with every REDIS_EXPORT_LIVE_* variable naming ``sim``,
    and those of ``env`` (without their prefix)."""
    live = {f"REDIS_EXPORT_LIVE_{name}": value for name, value in (env or {}).items()}
    variables = (
        terraform_env(
            REDIS_EXPORT_LIVE_URL=sim.url,
            REDIS_EXPORT_LIVE_USER=ADMIN,
            REDIS_EXPORT_LIVE_PASSWORD=PASSWORD,
            REDIS_EXPORT_LIVE_CA=str(sim.ca_path),
            REDIS_EXPORT_LIVE_DB="orders",
            REDIS_EXPORT_LIVE_RECORD=str(record),
        )
        | live
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
         "tests/live/test_live.py", *argv],
        cwd=REPO, env=variables, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_plain_pytest_skips_the_live_suite_even_with_its_variables_set(
    sim: Simulator, tmp_path: Path
) -> None:
    """With every REDIS_EXPORT_LIVE_* variable set, plain pytest sends the cluster nothing
    and says how to opt in; ``-m live`` runs the same test."""
    plain = run_live(sim, tmp_path, "-k", "test_live_users_role")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 skipped" in plain.stdout
    assert "runs only with -m live" in plain.stdout
    assert not sim.cluster.log
    chosen = run_live(sim, tmp_path, "-m", "live", "-k", "test_live_users_role")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert "1 passed" in chosen.stdout
    assert sim.cluster.log


def test_recorded_fixtures_carry_pseudonyms_not_emails_or_database_names(
    sim: Simulator, tmp_path: Path
) -> None:
    """What the live suite writes holds no user's email and no database's name: stable
    stand-ins (user-N@example.invalid, database-N) in their place."""
    done = run_live(sim, tmp_path, "-m", "live", "-k", "users_rows or databases_list")
    assert done.returncode == 0, done.stdout + done.stderr
    written = {path.name: path.read_text() for path in tmp_path.glob("*.json")}
    assert set(written) == {"users.json", "bdbs_uid_name.json"}
    for text in written.values():
        for original in (ADMIN, "orders", "search", "@redis.local"):
            assert original not in text
    users = json.loads(written["users.json"])["answers"][0]["body"]
    assert {row["email"] for row in users} == {"user-1@example.invalid", "user-2@example.invalid"}
    rows = json.loads(written["bdbs_uid_name.json"])["answers"][0]["body"]
    assert sorted(row["name"] for row in rows) == ["database-1", "database-2"]


def test_the_live_export_resets_a_finished_status_and_needs_last_export_time_to_move(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """Run on a database whose last export succeeded, the live export test resets that
    status before its POST (recorded as a PUT), so the old outcome cannot pass for its own."""
    export = ("-m", "live", "-k", "test_live_one_export")
    first = run_live(sim, tmp_path, *export, env={"EXPORT": "1", "MOUNT": str(export_dir)})
    assert "1 passed" in first.stdout, first.stdout + first.stderr
    second = run_live(sim, tmp_path, *export, env={"EXPORT": "1", "MOUNT": str(export_dir)})
    assert "1 passed" in second.stdout, second.stdout + second.stderr
    answers = json.loads((tmp_path / "export_sequence.json").read_text())["answers"]
    methods = [answer["method"] for answer in answers]
    assert methods[:4] == ["GET", "PUT", "GET", "POST"]
    assert answers[0]["body"]["export_status"] == "succeeded"
    assert answers[-1]["body"]["last_export_time"] != answers[0]["body"]["last_export_time"]
    assert len(list(export_dir.iterdir())) == 2
