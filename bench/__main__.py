"""``python -m bench``: measure this project against fixed-interval polling.

Runs the scenarios (bench/scenarios.py) and writes RESULTS.md and timeline.png
(bench/report.py) into --out (bench/ by default).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .report import chart, report
from .scenarios import (
    FULL,
    REPO,
    SMOKE,
    across_runners,
    environment,
    fleet,
    single_export,
    start_times,
    synth_times,
)
from .sections import kept_sections


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a small, quick run (CI)")
    parser.add_argument("--out", type=Path, help="where RESULTS.md and timeline.png go")
    args = parser.parse_args()
    plan = SMOKE if args.smoke else FULL
    out = args.out or (REPO / "bench" / ("out" if args.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    command = "./dev bench" + (" --smoke" if args.smoke else "")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="redis-export-bench-") as tmp:
        work = Path(tmp)
        env = environment(work / "slots")
        print(
            f"one export of about {plan.single_seconds:g} s, x{len(plan.single_offsets)} ...",
            flush=True,
        )
        single = single_export(plan, work, env)
        print(f"fleet of {plan.fleet_size} ...", flush=True)
        fleets = fleet(plan, work, env)
        print(f"the fleet across {plan.runners} runners ...", flush=True)
        across = across_runners(plan, work)
        print("synthesis and start-up ...", flush=True)
        synth = synth_times(plan, work, env)
        start = start_times(plan, env)
        chart(fleets, plan, out / "timeline.png")
        text = report(plan, command, single, fleets, across, synth, start, time.monotonic() - began)
        shutil.rmtree(work, ignore_errors=True)
    (out / "RESULTS.md").write_text(text + kept_sections(out / "RESULTS.md"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
