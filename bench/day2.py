"""Day-2 scenario: ``preflight`` over many exports on several clusters, wall time.

``python -m bench.day2 --write`` puts the figures into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sections import write_section
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


TARGET_SECONDS = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.day2", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--exports", type=int, default=100)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="put the table into bench/RESULTS.md")
    args = parser.parse_args()
    env = os.environ | {
        "REDIS_ENTERPRISE_USER": "bench@example.com",
        "REDIS_ENTERPRISE_PASSWORD": PASSWORD,
        "S3_SECRET": "bench-s3-secret",
    }
    with tempfile.TemporaryDirectory(prefix="redis-export-day2-") as tmp:
        wall = preflight_seconds(Path(tmp), env, args.exports, args.clusters)
    met = "yes" if wall <= TARGET_SECONDS else "NO"
    text = (
        f"`python -m redis_enterprise_export preflight` (the whole process), {args.exports} "
        f"exports on {args.clusters} simulated clusters, every check passing; median of 3 "
        "runs. Command: `python -m bench.day2 --write`.\n\n"
        "| measure | target | measured | met |\n|---|---|---|---|\n"
        f"| preflight wall time | <= {TARGET_SECONDS:g} s | {wall:.2f} s | {met} |\n"
    )
    print(text)
    if args.write:
        write_section("day2", "Day-2: preflight", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
