"""``python -m bench``: HEAD against a baseline commit, and against fixed-interval polling.

First runs the same scenarios on HEAD and on the baseline (bench/compare.py; the
baseline is --baseline, else the last tag, else the commit bench/BASELINE names),
then this project's scenarios against the polling baselines (bench/scenarios.py),
and writes RESULTS.md and timeline.png (bench/report.py) into --out (bench/ by default).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import builds
from .compare import COMPARE_FULL, COMPARE_SMOKE, compare, section
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
    parser.add_argument(
        "--baseline",
        metavar="COMMIT",
        help="the commit HEAD is compared with (default: the last tag, else bench/BASELINE's)",
    )
    args = parser.parse_args()
    plan = SMOKE if args.smoke else FULL
    out = args.out or (REPO / "bench" / ("out" if args.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    command = "./dev bench" + (" --smoke" if args.smoke else "")
    if args.baseline:
        command += f" --baseline {args.baseline}"
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="redis-export-bench-") as tmp:
        work = Path(tmp)
        env = environment(work / "slots")
        try:
            base = builds.baseline(args.baseline or builds.default_baseline(), work / "baseline")
            head = builds.head()
        except builds.BuildError as exc:
            sys.exit(f"error: {exc}")
        print(f"HEAD {head.commit} against the baseline {base.commit} ...", flush=True)
        against = compare(
            head, base, COMPARE_SMOKE if args.smoke else COMPARE_FULL, work / "compare", env
        )
        first = section(against, command, args.smoke)
        print(first, flush=True)
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
        rest = report(plan, command, single, fleets, across, synth, start, time.monotonic() - began)
        shutil.rmtree(work, ignore_errors=True)
    text = f"# Benchmark results\n\n{first}\n{demoted(rest)}"
    (out / "RESULTS.md").write_text(text + kept_sections(out / "RESULTS.md"))
    print(rest)
    return 0


def demoted(text: str) -> str:
    """``text`` with each Markdown heading one level down (``#`` becomes ``##``), its
    title saying what it compares, under RESULTS.md's own title."""
    lines = text.splitlines()
    if lines and lines[0] == "# Benchmark results":
        lines[0] = "# This project against fixed-interval polling"
    return "\n".join("#" + line if line.startswith("#") else line for line in lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
