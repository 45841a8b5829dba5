"""Day-2 scenario: ``preflight`` over many exports on several clusters, wall time."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from redis_enterprise_export.simulator import Simulator

PASSWORD = "bench-password"


def preflight_seconds(work: Path, env: dict[str, str], exports: int, clusters: int) -> float:
    """Median wall seconds of ``preflight`` (the whole process) over ``exports`` exports
    spread over ``clusters`` simulated clusters, three runs."""
    sims = []
    try:
        lines = []
        for c in range(clusters):
            sim = Simulator(work / f"preflight-sim-{c}").start()
            sim.cluster.add_user("bench@example.com", PASSWORD, "admin")
            sims.append(sim)
            lines += [f"[clusters.c{c}]", f'url = "{sim.url}"', f'ca_cert = "{sim.ca_path}"', ""]
        for i in range(exports):
            c = i % clusters
            sims[c].cluster.add_database(i + 1, f"db{i + 1}")
            lines += [
                f"[exports.db{i + 1}]",
                f'cluster = "c{c}"',
                f"database = {i + 1}",
                'location = { type = "s3", bucket_name = "bench", access_key_id = "AKIA", '
                'secret_access_key_env = "S3_SECRET" }',
                "",
            ]
        config = work / "preflight.toml"
        config.write_text("\n".join(lines))
        walls = []
        for _ in range(3):
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "redis_enterprise_export", "preflight", "--config",
                 str(config)],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            walls.append(time.monotonic() - started)
            if done.returncode != 0:
                sys.exit(f"preflight failed:\n{done.stdout[-2000:]}\n{done.stderr}")
        return float(statistics.median(walls))
    finally:
        for sim in sims:
            sim.stop()
