"""Drill scenario: one export and its restore drill in one real ``terraform apply``.

The simulator's databases are real redis-servers: the source holds ``--keys`` keys, the
export writes a gzipped RDB into a mount_point (a temporary folder), and the drill imports
it into a scratch database and waits for a fresh statistics sample of its key count.
``python -m bench.drill --write`` puts the table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.scenarios import PASSWORD, REPO, environment, init, run
from bench.sections import write_section
from redis_enterprise_export.contract import (
    DrillResult,
    Result,
    drill_result_path,
    result_path,
)
from redis_enterprise_export.simulator import Simulator

SOURCE, SCRATCH = 1, 2
# Assumed, not measured on RS: a shard's RDB written and moved at about 50 MB/s (a
# local disk or a 1 Gbit/s share), after a fixed second of setting the action up.
BYTES_PER_SECOND = 50_000_000
FIXED_SECONDS = 1.0
# RS samples a database's statistics every few seconds; the drill trusts only a sample
# taken after the import, so this interval is what its count waits for.
STATS_INTERVAL = 5.0
VALUE_BYTES = 100
CHUNK = 10_000  # keys per MSET


@dataclass(frozen=True)
class Figures:
    """One apply's times, in seconds."""

    apply: float
    export: float  # the helper's POST accepted -> export seen done
    cluster_export: float  # the simulated cluster's own export time
    drill: float  # the drill's started_at -> finished_at (whole seconds in the record)
    imported: float  # the drill's import_seconds
    counted: float  # the drill's count_seconds
    cluster_import: float  # the simulated cluster's own import time
    sim_export_work: float  # the simulator's own work writing the file (SAVE, gzip)
    sim_import_work: float  # ... and loading it (check, scratch server, DUMP, RESTORE)


def fill(sim: Simulator, keys: int) -> None:
    """``keys`` keys of ``VALUE_BYTES`` random hex characters in the source, pipelined."""
    redis = sim.add_database(SOURCE, "source")
    for first in range(0, keys, CHUNK):
        batch = range(first, min(first + CHUNK, keys))
        noise = os.urandom(VALUE_BYTES // 2 * len(batch)).hex()
        values = (noise[i * VALUE_BYTES : (i + 1) * VALUE_BYTES] for i in range(len(batch)))
        redis.client.mset(dict(zip((f"key:{k:08d}" for k in batch), values, strict=True)))


def config(sim: Simulator, folder: Path) -> str:
    return "\n".join(
        [
            "[clusters.sim]",
            f'url = "{sim.url}"',
            f'ca_cert = "{sim.ca_path}"',
            "",
            "[exports.source]",
            'cluster = "sim"',
            f"database = {SOURCE}",
            f'location = {{ type = "mount_point", path = "{folder}" }}',
            "",
            "[drills.source]",
            'export = "source"',
            'into = "scratch"',
            'erase = "scratch"',
            "",
        ]
    )


def seconds(started_at: str, finished_at: str) -> float:
    return (
        datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)
    ).total_seconds()


def drill_applies(work: Path, keys: int, repeats: int) -> tuple[list[Figures], int, int]:
    """``repeats`` applies (each a new run_id: export, then drill); their figures, the
    source's dataset bytes and the export file's bytes."""
    env = environment(work / "slots")
    # The worktree's package, not only the one installed: main.py and the helpers import it.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "constructs"), str(REPO)])
    env.pop("GITHUB_STEP_SUMMARY", None)  # a bench writes no row into a CI job's summary
    sim = Simulator(work / "sim").start()
    try:
        scenario = sim.cluster.scenario
        scenario.export_seconds = scenario.import_seconds = FIXED_SECONDS
        scenario.export_bytes_per_second = scenario.import_bytes_per_second = BYTES_PER_SECOND
        scenario.stats_interval_seconds = STATS_INTERVAL
        sim.cluster.add_user("bench@example.com", PASSWORD, "admin")
        fill(sim, keys)
        sim.add_database(SCRATCH, "scratch")
        dataset = sim.cluster.databases[SOURCE].dataset_bytes()
        folder = work / "mount"
        folder.mkdir()
        (work / "exports.toml").write_text(config(sim, folder))
        run([sys.executable, str(REPO / "main.py")], work,
            env | {"REDIS_EXPORT_CONFIG": str(work / "exports.toml")})  # fmt: skip
        stack = work / "cdktf.out" / "stacks" / "exports"
        init(stack, env)
        figures = []
        for rep in range(repeats):
            wall = run(["terraform", "apply", "-auto-approve", "-input=false",
                        f"-var=run_id=bench-{rep}"], stack, env)  # fmt: skip
            figures.append(measured(sim, stack, wall, keys))
        file_bytes = max(path.stat().st_size for path in folder.iterdir())
        return figures, dataset, file_bytes
    finally:
        sim.stop()


def measured(sim: Simulator, stack: Path, wall: float, keys: int) -> Figures:
    export = Result.from_dict(json.loads((stack / result_path("source")).read_text()))
    drill = DrillResult.from_dict(json.loads((stack / drill_result_path("source")).read_text()))
    if drill.drill_status != "succeeded" or drill.keys_loaded != keys:
        sys.exit(f"the drill did not prove {keys} keys: {drill.message}")
    marks = export.timeline
    assert marks.accepted is not None
    assert marks.finished is not None
    assert drill.import_seconds is not None
    assert drill.count_seconds is not None
    cluster_export, cluster_import = (
        sim.cluster.databases[SOURCE].export,
        sim.cluster.databases[SCRATCH].load,
    )
    assert cluster_export is not None
    assert cluster_import is not None
    return Figures(
        apply=wall,
        export=marks.finished - marks.accepted,
        cluster_export=cluster_export.seconds,
        drill=seconds(drill.started_at, drill.finished_at),
        imported=drill.import_seconds,
        counted=drill.count_seconds,
        cluster_import=cluster_import.seconds,
        sim_export_work=cluster_export.work_seconds,
        sim_import_work=cluster_import.work_seconds,
    )


def table(keys: int, repeats: int, runs: list[Figures], dataset: int, file_bytes: int) -> str:
    def median(name: str) -> float:
        return float(statistics.median(getattr(f, name) for f in runs))

    imported, counted = median("imported"), median("counted")
    work = median("sim_import_work")
    larger = "the count" if counted > imported - work else "the import"
    return (
        f"One `terraform apply` exporting a database of {keys} keys ({dataset / 1e6:.1f} MB of "
        f"data, a {file_bytes / 1e6:.1f} MB gzipped RDB in a mount_point) and drilling it into "
        f"a scratch database; median of {repeats} applies of one stack, each a new `run_id`. "
        f"The simulated cluster takes {FIXED_SECONDS:g} s plus the data (export) or the files "
        f"(import) at {BYTES_PER_SECOND / 1e6:g} MB/s, an assumed rate, and samples statistics "
        f"every {STATS_INTERVAL:g} s, as RS does every few seconds. The drill's total is its "
        "record's `finished_at - started_at` (whole seconds). Command: "
        "`python -m bench.drill --write`.\n\n"
        "| apply wall | export (POST accepted to seen done) | drill total | drill "
        "`import_seconds` | drill `count_seconds` |\n|---|---|---|---|---|\n"
        f"| {median('apply'):.2f} s | {median('export'):.2f} s | {median('drill'):.0f} s | "
        f"{imported:.2f} s | {counted:.2f} s |\n"
        f"\nThe simulated times were {median('cluster_export'):.2f} s (export) and "
        f"{median('cluster_import'):.2f} s (import); on top, the simulator's own work at the "
        f"end, which a status read waits for and RS would have spread over the action: "
        f"{median('sim_export_work'):.2f} s writing the file and {work:.2f} s loading it "
        "(a check, a scratch redis-server, and every key read and restored from Python). "
        f"Reading it: without that work, {larger} is the larger part of the drill. "
        "`count_seconds` is the wait for the first statistics sample that began after the "
        f"import, by design: up to one sampling interval ({STATS_INTERVAL:g} s) plus the "
        "drill's 2 s between reads, whatever the database's size.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drill", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="put the table into bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redis-export-drill-") as tmp:
        runs, dataset, file_bytes = drill_applies(Path(tmp), args.keys, args.repeats)
    text = table(args.keys, args.repeats, runs, dataset, file_bytes)
    print(text)
    if args.write:
        write_section("drill", "Restore drill: export and drill in one apply", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
