"""A wrong password costs one failed login per machine, not one per export or command."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ADMIN, S3_SECRET, start_helper, terraform_env, toml_text, write_helper_config
from helpers.tables import GOOD, tables
from redis_enterprise_export.cli import main
from redis_enterprise_export.errors import ApiError, LocalSetupError
from redis_enterprise_export.rs.connect import Credentials
from redis_enterprise_export.run.logins import REMEMBER_SECONDS, first_login
from redis_enterprise_export.simulator import Simulator
from redis_enterprise_export.spec.export import normalized_url

CREDENTIALS = Credentials("u@example.com", "pw")


def test_eight_helpers_with_a_wrong_password_make_one_failed_login(
    sim: Simulator, tmp_path: Path
) -> None:
    """8 helpers at once, one machine, a wrong password: the cluster sees exactly one 401;
    the others fail at once (exit 3) saying why, and a corrected password works at once."""
    config = write_helper_config(sim.url, sim.ca_path, tmp_path)
    env = {"REDIS_EXPORT_SLOTS_DIR": str(tmp_path / "slots"),
           "REDIS_ENTERPRISE_PASSWORD": "wrong-Pass-Word-3"}  # fmt: skip
    helpers = [start_helper(config, tmp_path / f"r{i}.json", env) for i in range(8)]
    outputs = [helper.communicate(timeout=120) for helper in helpers]
    assert [helper.returncode for helper in helpers] == [3] * 8, outputs
    assert [r.status for r in sim.cluster.log] == [401]
    skipped = [err for _, err in outputs if "not signing in to" in err]
    assert len(skipped) == 7
    assert "wrong-Pass-Word-3" not in "".join(out + err for out, err in outputs)
    assert not any(p.name.startswith(("wrong", "admin")) for p in (tmp_path / "slots").rglob("*"))

    fixed = start_helper(config, tmp_path / "fixed.json", {"REDIS_EXPORT_SLOTS_DIR": env[
        "REDIS_EXPORT_SLOTS_DIR"]})  # fmt: skip
    out, err = fixed.communicate(timeout=60)
    assert fixed.returncode == 0, out + err


def _wrong(slots: Path) -> dict[str, str]:
    return terraform_env(REDIS_EXPORT_SLOTS_DIR=str(slots), REDIS_ENTERPRISE_PASSWORD="wrong-9",
                         S3_SECRET=S3_SECRET)  # fmt: skip


def test_every_command_honours_one_refused_login_until_it_is_cleared(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """After preflight's 401, status, discover, export, restore and drill on this machine
    fail at once without asking (exit 6 or 3), so the cluster sees one failed login;
    ``logins`` lists the record, and ``logins --clear`` lets the next run ask again."""
    slots = tmp_path / "slots"
    path = tmp_path / "exports.toml"
    path.write_text(toml_text(tables(sim, export_dir) | {"drills": {"orders": GOOD}}))
    selectors = tmp_path / "selectors" / "exports.toml"
    selectors.parent.mkdir()
    selector = tables(sim, export_dir, databases=["orders*"])
    del selector["exports"]["orders"]["database"]
    selectors.write_text(toml_text(selector))
    good = terraform_env(REDIS_EXPORT_SLOTS_DIR=str(slots), S3_SECRET=S3_SECRET)
    exported = tmp_path / "export.json"
    argv = ["export", "--config", str(path), "--name", "orders", "--result", str(exported)]
    assert main(argv, good) == 0
    asked = len(sim.cluster.log)

    wrong = _wrong(slots)
    assert main(["preflight", "--config", str(path)], wrong) == 6
    assert main(["status", "--config", str(path)], wrong) == 6
    assert main(["discover", "--check", "--config", str(selectors)], wrong) in (1, 6)
    assert main(["export", "--config", str(path), "--name", "orders"], wrong) == 3
    restore = ["restore", "--config", str(path), "--cluster", "sim", "--into=search",
               "--confirm=search", "--from-export", "orders", "--file=orders.rdb"]  # fmt: skip
    assert main(restore, wrong) == 3
    drill = ["drill", "--config", str(path), "--name", "orders", "--export-result", str(exported)]
    assert main(drill, wrong) == 3
    assert [r.status for r in sim.cluster.log[asked:]] == [401]

    listed = subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", "logins"],
        env=wrong, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"refused: {normalized_url(sim.url)} refused {ADMIN!r} at " in listed.stdout
    assert "1 refused login(s) in force" in listed.stdout
    assert main(["logins", "--clear", "--config", str(path)], wrong) == 0
    assert main(["preflight", "--config", str(path)], wrong) == 6
    assert [r.status for r in sim.cluster.log[asked:]] == [401, 401]


def test_preflight_names_the_refused_login_record_and_how_to_clear_it(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused login in force is a ✘ line of its own naming the record's file and the
    command that clears it."""
    path = write_helper_config(sim.url, sim.ca_path, tmp_path)
    wrong = _wrong(tmp_path / "slots")
    assert main(["preflight", "--config", str(path)], wrong) == 6
    capsys.readouterr()
    assert main(["preflight", "--config", str(path)], wrong) == 6
    out = capsys.readouterr().out
    (record,) = [p for p in (tmp_path / "slots" / "logins").iterdir() if len(p.name) == 32]
    line = next(line for line in out.splitlines() if "refused-login record" in line)
    assert line.startswith("✘ cluster sim: refused-login record: ")
    assert str(record) in line
    assert line.endswith("clear it: redis-enterprise-export logins --clear")


def _refuse() -> None:
    raise ApiError(401, "GET", "/v1/cluster")


def test_record_names_are_keyed_by_a_private_key_made_once_per_machine(tmp_path: Path) -> None:
    """The record's name is an HMAC under a random 32-byte key (mode 0600) beside it: not
    the plain hash of URL, user and password, and another machine's name differs."""
    names = []
    for machine in ("a", "b"):
        with pytest.raises(ApiError):
            first_login(tmp_path / machine, "https://rs:9443", CREDENTIALS, _refuse)
        key = tmp_path / machine / "logins" / "key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert len(key.read_bytes()) == 32
        (record,) = [p.name for p in key.parent.iterdir() if len(p.name) == 32]
        names.append(record)
    token = "\0".join(("redis-enterprise-export-login", "https://rs:9443", "u@example.com", "pw"))
    assert hashlib.sha256(token.encode()).hexdigest()[:32] not in names
    assert names[0] != names[1]


def test_writing_a_record_prunes_the_ones_older_than_the_lockout_window(tmp_path: Path) -> None:
    """Records and free lock files older than REMEMBER_SECONDS go when a record is
    written; recent ones and the key stay."""
    folder = tmp_path / "logins"
    with pytest.raises(ApiError):
        first_login(tmp_path, "https://rs:9443", CREDENTIALS, _refuse)
    old, recent = folder / ("a" * 32), folder / ("b" * 32)
    for path in (old, old.with_name(f"{old.name}.lock"), recent):
        path.write_text("{}")
    past = time.time() - REMEMBER_SECONDS - 60
    os.utime(old, (past, past))
    os.utime(old.with_name(f"{old.name}.lock"), (past, past))
    with pytest.raises(ApiError):
        first_login(tmp_path, "https://other:9443", CREDENTIALS, _refuse)
    names = {p.name for p in folder.iterdir()}
    assert old.name not in names
    assert f"{old.name}.lock" not in names
    assert {recent.name, "key"} <= names


def test_a_key_others_can_read_is_refused_naming_it(tmp_path: Path) -> None:
    """A key file another user could read (or of the wrong size) stops the command with one
    line naming the file, instead of naming records anyone could recompute."""
    with pytest.raises(ApiError):
        first_login(tmp_path, "https://rs:9443", CREDENTIALS, _refuse)
    key = tmp_path / "logins" / "key"
    (record,) = [p for p in key.parent.iterdir() if len(p.name) == 32]
    assert "pw" not in record.read_text().replace("https", "")
    key.chmod(0o644)
    with pytest.raises(LocalSetupError, match=f"the login records' key {key} is not a private"):
        first_login(tmp_path, "https://rs:9443", CREDENTIALS, _refuse)
    key.chmod(0o600)
    key.write_bytes(b"short")
    with pytest.raises(LocalSetupError, match="holds 5 bytes, not 32: remove it"):
        first_login(tmp_path, "https://rs:9443", CREDENTIALS, _refuse)
