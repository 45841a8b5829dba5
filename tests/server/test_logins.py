"""A wrong password costs one failed login per machine, not one per export."""

from __future__ import annotations

from pathlib import Path

from helpers import start_helper, write_helper_config
from redis_enterprise_export.simulator import Simulator


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
