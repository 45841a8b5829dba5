"""``python -m bench``: measure this project against fixed-interval polling.

Everything runs for real: the simulator over HTTPS, ``terraform apply`` of a
synthesized stack, the helper processes. The baselines (B1: poll every 5 s,
B2: every 1 s, retry a 409 after the same interval) run through Terraform's
local-exec too, so every tool pays the same process and Terraform costs.

Writes RESULTS.md and timeline.png into --out (bench/ by default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import frameworks
from redis_enterprise_export.simulator import Simulator

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password"
BASELINES = {"B1 (poll 5 s)": 5.0, "B2 (poll 1 s)": 1.0}
OURS = "this project"
TOOLS = [OURS, *BASELINES]


@dataclass(frozen=True)
class Plan:
    single_seconds: float  # one export with steadily rising progress, plus an offset:
    # spread over 0-5 s so that a fixed interval does not meet the finish by luck
    single_offsets: tuple[float, ...]
    fleet_size: int
    fleet_seconds: float
    cluster_limit: int  # the simulated cluster's simultaneous exports
    synth_sizes: tuple[int, ...]
    start_repeats: int


FULL = Plan(60.0, (0.4, 2.1, 3.8), 100, 2.0, 4, (1, 100, 500), 10)
SMOKE = Plan(3.0, (0.4,), 8, 0.5, 2, (1, 10), 3)


def environment(slots: Path) -> dict[str, str]:
    return os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),  # the baselines' module, from the stack folders
        "CHECKPOINT_DISABLE": "1",
        "TF_INPUT": "0",
        "TF_IN_AUTOMATION": "1",
        "TF_CLI_CONFIG_FILE": str(REPO / "tools" / "terraform.rc"),
        "REDIS_ENTERPRISE_USER": "bench@example.com",
        "REDIS_ENTERPRISE_PASSWORD": PASSWORD,
        "S3_SECRET": "bench-s3-secret",
        "REDIS_EXPORT_SLOTS_DIR": str(slots),
    }


def start_simulator(root: Path, databases: int, seconds: float, limit: int | None) -> Simulator:
    sim = Simulator(root).start()
    sim.cluster.add_user("bench@example.com", PASSWORD, "admin")
    sim.cluster.scenario.export_seconds = seconds
    sim.cluster.scenario.max_concurrent_exports = limit
    for uid in range(1, databases + 1):
        sim.cluster.add_database(uid, f"db{uid}")
    return sim


def toml_config(sim: Simulator, uids: list[int], limit: int) -> str:
    lines = [
        "[clusters.sim]",
        f'url = "{sim.url}"',
        f'ca_cert = "{sim.ca_path}"',
        f"max_concurrent_exports = {limit}",
        "",
    ]
    for uid in uids:
        lines += [
            f"[exports.db{uid}]",
            'cluster = "sim"',
            f"database = {uid}",
            'location = { type = "s3", bucket_name = "bench", access_key_id = "AKIA", '
            'secret_access_key_env = "S3_SECRET" }',
            "",
        ]
    return "\n".join(lines)


def our_stack(work: Path, sim: Simulator, uids: list[int], limit: int, env: dict[str, str]) -> Path:
    work.mkdir(parents=True)
    config = work / "exports.toml"
    config.write_text(toml_config(sim, uids, limit))
    run([sys.executable, str(REPO / "main.py")], work, env | {"REDIS_EXPORT_CONFIG": str(config)})
    return work / "cdktf.out" / "stacks" / "exports"


def baseline_stack(work: Path, sim: Simulator, uids: list[int], interval: float) -> Path:
    stack = work / "stack"
    stack.mkdir(parents=True)
    resources = {
        f"db{uid}": {
            "provisioner": [
                {
                    "local-exec": {
                        "interpreter": [sys.executable, "-m", "bench.baseline"],
                        "command": "export",
                        "environment": {
                            "BENCH_URL": sim.url,
                            "BENCH_CA": str(sim.ca_path),
                            "BENCH_UID": str(uid),
                            "BENCH_INTERVAL": str(interval),
                        },
                    }
                }
            ]
        }
        for uid in uids
    }
    (stack / "main.tf.json").write_text(json.dumps({"resource": {"terraform_data": resources}}))
    return stack


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run to the end; return wall seconds. A failure stops the bench with its output."""
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{' '.join(argv[:2])} failed in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr}")
    return time.monotonic() - started


def apply(stack: Path, env: dict[str, str], ours: bool) -> float:
    run(["terraform", "init", "-input=false"], stack, env)
    extra = ["-var=run_id=bench"] if ours else []
    return run(["terraform", "apply", "-auto-approve", "-input=false", *extra], stack, env)


@dataclass
class Single:
    overhead: list[float] = field(default_factory=list)
    detection: list[float] = field(default_factory=list)
    gets: list[int] = field(default_factory=list)


def single_export(plan: Plan, work: Path, env: dict[str, str]) -> dict[str, Single]:
    """Each tool exports its own database, side by side, once per offset."""
    results = {tool: Single() for tool in TOOLS}
    for rep, offset in enumerate(plan.single_offsets):
        root = work / f"single-{rep}"
        sim = start_simulator(root / "sim", len(TOOLS), plan.single_seconds + offset, None)
        try:
            stacks = {
                OURS: (our_stack(root / "ours", sim, [1], 1, env), True),
                **{
                    tool: (baseline_stack(root / f"b{i}", sim, [i + 2], interval), False)
                    for i, (tool, interval) in enumerate(BASELINES.items())
                },
            }
            walls = in_parallel(
                {tool: (apply, stack, env, ours) for tool, (stack, ours) in stacks.items()}
            )
            for uid, tool in enumerate(TOOLS, start=1):
                export = sim.cluster.databases[uid].export
                assert export is not None
                assert export.finished_at is not None
                reads = [
                    r for r in sim.cluster.log if r.method == "GET" and r.path == f"/v1/bdbs/{uid}"
                ]
                seen = min(
                    r.at for r in reads if (r.body or {}).get("export_status") == "succeeded"
                )
                results[tool].overhead.append(walls[tool] - export.seconds)
                results[tool].detection.append(seen - export.finished_at)
                results[tool].gets.append(len(reads))
        finally:
            sim.stop()
    return results


def in_parallel(calls: dict[str, tuple[Any, ...]]) -> dict[str, float]:
    """Run ``fn(*args)`` for each name at once; any failure stops the bench."""
    out: dict[str, float] = {}
    errors: list[BaseException] = []

    def call(name: str, fn: Callable[..., float], *args: Any) -> None:
        try:
            out[name] = fn(*args)
        except BaseException as exc:  # re-raised below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(name, *c)) for name, c in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return out


@dataclass
class Fleet:
    wall: float
    conflicts: int
    gets: int
    bars: list[tuple[float, float, float, float]]  # start, slot/first POST, accepted, seen done


def fleet(plan: Plan, work: Path, env: dict[str, str]) -> dict[str, Fleet]:
    """N exports on one cluster that runs ``cluster_limit`` at once, one tool at a time."""
    results = {}
    uids = list(range(1, plan.fleet_size + 1))
    for i, tool in enumerate(TOOLS):
        root = work / f"fleet-{i}"
        sim = start_simulator(root / "sim", plan.fleet_size, plan.fleet_seconds, plan.cluster_limit)
        try:
            ours = tool == OURS
            if ours:
                stack = our_stack(root / "ours", sim, uids, plan.cluster_limit, env)
            else:
                stack = baseline_stack(root / "baseline", sim, uids, BASELINES[tool])
            wall = apply(stack, env, ours)
            posts = [r for r in sim.cluster.log if r.method == "POST"]
            bars = our_bars(stack) if ours else baseline_bars(sim, uids)
            results[tool] = Fleet(
                wall=wall,
                conflicts=sum(r.status == 409 for r in posts),
                gets=sum(r.method == "GET" for r in sim.cluster.log),
                bars=bars,
            )
        finally:
            sim.stop()
    return results


def our_bars(stack: Path) -> list[tuple[float, float, float, float]]:
    bars = []
    for path in sorted((stack / ".results").glob("*.json")):
        t = json.loads(path.read_text())["timeline"]
        bars.append((t["started"], t["slot"], t["accepted"], t["finished"]))
    return bars


def baseline_bars(sim: Simulator, uids: list[int]) -> list[tuple[float, float, float, float]]:
    bars = []
    for uid in uids:
        posts = [r.at for r in sim.cluster.log if r.path == f"/v1/bdbs/{uid}/actions/export"]
        accepted = max(
            r.at
            for r in sim.cluster.log
            if r.path.endswith(f"/{uid}/actions/export") and r.status == 200
        )
        done = min(
            r.at
            for r in sim.cluster.log
            if r.path == f"/v1/bdbs/{uid}" and (r.body or {}).get("export_status") == "succeeded"
        )
        bars.append((posts[0], posts[0], accepted, done))
    return bars


def synth_times(plan: Plan, work: Path, env: dict[str, str]) -> dict[int, float]:
    times = {}
    sim = start_simulator(work / "synth-sim", 0, 1.0, None)  # only for its URL and CA file
    try:
        for n in plan.synth_sizes:
            folder = work / f"synth-{n}"
            folder.mkdir()
            config = folder / "exports.toml"
            config.write_text(toml_config(sim, list(range(1, n + 1)), 4))
            walls = [
                run(
                    [sys.executable, str(REPO / "main.py")],
                    folder,
                    env | {"REDIS_EXPORT_CONFIG": str(config)},
                )
                for _ in range(3)
            ]
            times[n] = statistics.median(walls)
    finally:
        sim.stop()
    return times


HELPER_IMPORTS = (
    "import sys, redis_enterprise_export.cli, redis_enterprise_export.client, "
    "redis_enterprise_export.export, redis_enterprise_export.slots; "
    "assert not {'cdktf', 'jsii'} & set(sys.modules)"
)


def start_times(plan: Plan, env: dict[str, str]) -> tuple[float, float]:
    """The helper's start (interpreter plus every module it loads before its first
    request) and the bare interpreter's, median wall seconds."""

    def median(code: str) -> float:
        return statistics.median(
            run([sys.executable, "-c", code], REPO, env) for _ in range(plan.start_repeats)
        )

    return median(HELPER_IMPORTS), median("pass")


def chart(results: dict[str, Fleet], plan: Plan, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(len(results), 1, figsize=(11, 3.2 * len(results)), sharex=True)
    colours = {
        "waiting for a slot": "#bbbbbb",
        "retrying (409) / settling": "#f0a040",
        "exporting, until seen done": "#3a8f4a",
    }
    for ax, (tool, result) in zip(axes, results.items(), strict=True):
        origin = min(b[0] for b in result.bars)
        for row, (start, slot, accepted, done) in enumerate(sorted(result.bars)):
            spans = zip(colours, (start, slot, accepted), (slot, accepted, done), strict=True)
            for kind, a, b in spans:
                if b > a:
                    ax.barh(
                        row, b - a, left=a - origin, height=0.9, color=colours[kind], linewidth=0
                    )
        ax.set_title(
            f"{tool}: {len(result.bars)} exports of {plan.fleet_seconds:g} s, cluster runs "
            f"{plan.cluster_limit} at once: {result.wall:.1f} s, {result.conflicts} x 409",
            fontsize=10,
        )
        ax.set_ylabel("export")
        ax.set_yticks([])
    axes[-1].set_xlabel("seconds since the first export started")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    axes[0].legend(handles, list(colours), loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def targets(
    plan: Plan,
    single: dict[str, Single],
    fleets: dict[str, Fleet],
    synth: dict[int, float],
    helper: float,
) -> list[str]:
    """The issue's targets against what this run measured."""
    ours, b1, b2 = (single[t] for t in TOOLS)
    ideal = plan.fleet_size * plan.fleet_seconds / plan.cluster_limit
    largest = max(synth)
    rows = [
        ("overhead per export", "<= 0.5 s", f"{median(ours.overhead):.2f} s",
         median(ours.overhead) <= 0.5),
        ("detection latency, one export", "<= 0.3 s, and below B1's",
         f"{median(ours.detection):.2f} s (B1 {median(b1.detection):.2f} s)",
         median(ours.detection) <= min(0.3, median(b1.detection))),
        ("status GETs, one export", "<= 15, and fewer than B2's",
         f"{median(ours.gets):g} (B2 {median(b2.gets):g})",
         median(ours.gets) <= 15 and median(ours.gets) < median(b2.gets)),
        (f"fleet of {plan.fleet_size}", f"<= 1.2 x ideal ({ideal:g} s)",
         f"{fleets[OURS].wall / ideal:.2f} x, {fleets[OURS].conflicts} x 409",
         fleets[OURS].wall <= 1.2 * ideal),
        (f"synth of {largest}", "<= 5 s", f"{synth[largest]:.2f} s", synth[largest] <= 5),
        ("helper start", "<= 0.2 s", f"{helper:.3f} s", helper <= 0.2),
    ]  # fmt: skip
    note = [] if plan == FULL else ["A smoke run: the targets are set for the full run.", ""]
    return [
        "## Targets",
        "",
        *note,
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
        *[f"| {name} | {want} | {got} | {'yes' if ok else 'NO'} |" for name, want, got, ok in rows],
    ]


def report(
    plan: Plan,
    command: str,
    single: dict[str, Single],
    fleets: dict[str, Fleet],
    synth: dict[int, float],
    start: tuple[float, float],
    seconds: float,
) -> str:
    ideal = plan.fleet_size * plan.fleet_seconds / plan.cluster_limit
    ours, fleet_ours = single[OURS], fleets[OURS]
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min). Machine: {os.cpu_count()} cores.",
        "Everything real: the simulator over HTTPS, `terraform apply` of synthesized stacks,",
        "helper processes. Baselines run through local-exec the same way.",
        "",
        f"## One export of about {plan.single_seconds:g} s with steadily rising progress",
        "",
        f"Median of {len(plan.single_offsets)} runs of "
        + ", ".join(f"{plan.single_seconds + o:g} s" for o in plan.single_offsets)
        + " (so a fixed interval does not meet the finish by luck); the tools run side by "
        "side, each on its own database.",
        "",
        "| tool | overhead: apply wall - export time | completion-detection latency "
        "| status GETs |",
        "|---|---|---|---|",
    ]
    for tool, s in single.items():
        lines.append(
            f"| {tool} | {median(s.overhead):.2f} s | {median(s.detection):.2f} s | "
            f"{median(s.gets):g} |"
        )
    lines += [
        "",
        f"## Fleet: {plan.fleet_size} exports of {plan.fleet_seconds:g} s on one cluster that runs "
        f"at most {plan.cluster_limit} at once",
        "",
        f"Ideal wall time: {plan.fleet_size} x {plan.fleet_seconds:g} s / {plan.cluster_limit} = "
        f"{ideal:g} s. Terraform's default parallelism (10).",
        "",
        "| tool | wall time | / ideal | 409 answers | status GETs |",
        "|---|---|---|---|---|",
    ]
    for tool, f in fleets.items():
        lines.append(
            f"| {tool} | {f.wall:.1f} s | {f.wall / ideal:.2f} | {f.conflicts} | {f.gets} |"
        )
    b2 = fleets[TOOLS[2]]
    lines += [
        "",
        f"Reading it: B2 keeps up ({b2.wall / ideal:.2f} x) because the cluster frees a slot "
        "the moment an export ends and one of its retrying POSTs takes it; it pays with "
        f"{b2.conflicts} refused POSTs. This project sends none: the next helper starts only "
        "once the previous one has seen its export finish (its detection latency), then reads "
        "the status once and POSTs. That handover is the time it gives away.",
    ]
    lines += ["", "![fleet timeline](timeline.png)", "", "## Ratios (baseline / this project)", ""]
    lines += ["| | " + " | ".join(BASELINES) + " |", "|---|" + "---|" * len(BASELINES)]
    rows: dict[str, Callable[[str], float]] = {
        "detection latency": lambda t: median(single[t].detection) / median(ours.detection),
        "status GETs, one export": lambda t: median(single[t].gets) / median(ours.gets),
        "overhead, one export": lambda t: median(single[t].overhead) / median(ours.overhead),
        "fleet wall time": lambda t: fleets[t].wall / fleet_ours.wall,
    }
    for name, ratio in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{ratio(t):.1f}x" for t in BASELINES) + " |")
    helper, bare = start
    lines += ["", *targets(plan, single, fleets, synth, helper)]
    lines += [
        "",
        "## Synthesis and start-up",
        "",
        "| what | median wall |",
        "|---|---|",
        *[
            f"| `python main.py`, {n} export{'s' if n > 1 else ''} | {t:.2f} s |"
            for n, t in synth.items()
        ],
        "| helper start: interpreter + every module loaded before the first request "
        f"| {helper:.3f} s |",
        f"| bare `python -c pass`, for comparison | {bare:.3f} s |",
        "",
        "The helper imports neither cdktf nor jsii (the start-up run asserts it).",
    ]
    return "\n".join(lines) + "\n"


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
        print("synthesis and start-up ...", flush=True)
        synth = synth_times(plan, work, env)
        start = start_times(plan, env)
        chart(fleets, plan, out / "timeline.png")
        text = report(plan, command, single, fleets, synth, start, time.monotonic() - began)
        shutil.rmtree(work, ignore_errors=True)
    (out / "RESULTS.md").write_text(text + frameworks.kept_section(out / "RESULTS.md"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
