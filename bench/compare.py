"""HEAD against a baseline commit: the same scenarios on both builds, side by side.

Each scenario runs on HEAD and on the baseline (bench/builds.py) in turn, A B A B, so
drift in the machine's speed falls on both; each run has a simulator of its own.
Everything is real: ``terraform apply`` of the stack the build's own ``main.py``
synthesizes, the build's helper under local-exec, the simulator over HTTPS, moto's S3.
Beside each figure stands Terraform's floor where one applies: a ``terraform_data``
whose local-exec sleeps as long as the export, or as many empty ``terraform_data``.

The report is one table: figure | baseline | HEAD | ratio HEAD/baseline | floor |
target (issue 24's), since absolute times differ between machines and runs.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis_enterprise_export.simulator import Simulator

from .builds import Build
from .scale import bare
from .scenarios import PASSWORD, REPO, start_simulator


@dataclass(frozen=True)
class ComparePlan:
    export_seconds: float  # the single export's time in the simulator
    rounds: int  # each scenario runs this many times on each build, alternated
    fleet_size: int
    fleet_seconds: float
    cluster_limit: int
    plan_exports: int  # the fresh plan's stack
    drill_keys: int
    drill_lost_keys: int  # keys the drill's import drops (Scenario.import_loses_keys)
    drill_timeout: float | None  # the drill's timeout_seconds; None: its default (1 h)
    stats_interval: float  # the simulator's statistics sampling

    @property
    def ideal(self) -> float:
        return self.fleet_size * self.fleet_seconds / self.cluster_limit


COMPARE_FULL = ComparePlan(60.0, 2, 40, 2.0, 4, 2000, 1000, 10, None, 5.0)
COMPARE_SMOKE = ComparePlan(2.0, 1, 8, 0.5, 2, 20, 100, 10, 12.0, 1.0)

# One export's phases, in order, from the apply's start to its end.
PHASES = (
    ("terraform_start", "apply start to the helper's first mark (`started`)"),
    ("sign_in", "`started` to `slot`: the database resolved, the login gate, settled"),
    ("before_post", "`slot` to `accepted`: the counts and listing before, the POST"),
    ("detection", "the export's end in the simulator to `finished`"),
    ("after_end", "`finished` to the result file's mtime: counts, listing, the record"),
    ("terraform_end", "the result file's mtime to the apply's end"),
)
LOCATIONS = ("mount_point", "s3")


# --- running things ----------------------------------------------------------------


def timed(argv: list[str], cwd: Path, env: dict[str, str], ok: bool = True) -> float:
    """Run to the end; wall seconds. With ``ok``, a failure stops the bench with its
    output; without, a failure is what was wanted and success stops it."""
    began = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - began
    if bool(done.returncode) == ok:
        want = "failed" if ok else "succeeded, and should have failed,"
        sys.exit(f"{' '.join(argv[:2])} {want} in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr}")
    return wall


def synthesize(build: Build, folder: Path, config: str, env: dict[str, str]) -> Path:
    """``config`` synthesized by ``build``'s main.py; the stack's folder, initialized."""
    folder.mkdir(parents=True)
    (folder / "exports.toml").write_text(config)
    timed([sys.executable, str(build.main)], folder,
          build.environ(env) | {"REDIS_EXPORT_CONFIG": str(folder / "exports.toml")})  # fmt: skip
    stack = folder / "cdktf.out" / "stacks" / "exports"
    timed(["terraform", "init", "-input=false"], stack, env)
    return stack


def apply(build: Build, stack: Path, env: dict[str, str], ok: bool = True) -> tuple[float, float]:
    """``terraform apply`` with the build's package first: (epoch start, epoch end)."""
    began = time.time()
    timed(["terraform", "apply", "-auto-approve", "-input=false", "-var=run_id=bench"],
          stack, build.environ(env), ok)  # fmt: skip
    return began, time.time()


def result_file(stack: Path, name: str) -> Path:
    """Where the stack's export ``name`` writes its result (its local-exec's
    REDIS_EXPORT_RESULT), so a build that moves it is still read right."""
    resources = json.loads((stack / "cdk.tf.json").read_text())["resource"]["terraform_data"]
    for resource in resources.values():
        for provisioner in resource.get("provisioner", []):
            environment = provisioner.get("local-exec", {}).get("environment", {})
            if resource.get("input", {}).get("name") == name and environment:
                return stack / str(environment["REDIS_EXPORT_RESULT"])
    sys.exit(f"{stack}: no export named {name}")


def resource_count(stack: Path) -> int:
    data = json.loads((stack / "cdk.tf.json").read_text())
    return sum(len(kind) for kind in data.get("resource", {}).values())


def floor_stack(folder: Path, document: dict[str, Any]) -> Path:
    """A folder holding one Terraform JSON document."""
    folder.mkdir(parents=True)
    (folder / "main.tf.json").write_text(json.dumps(document))
    return folder


def sleeper(folder: Path, seconds: float, env: dict[str, str]) -> float:
    """Terraform's floor for one export: an apply whose one local-exec sleeps
    ``seconds``; its seconds beyond the sleep."""
    stack = floor_stack(folder, {"resource": {"terraform_data": {"floor": {"provisioner": [
        {"local-exec": {"command": f"sleep {seconds:g}"}}]}}}})  # fmt: skip
    timed(["terraform", "init", "-input=false"], stack, env)
    return timed(["terraform", "apply", "-auto-approve", "-input=false"], stack, env) - seconds


def alternated(rounds: int, builds: list[Build]) -> Iterator[tuple[int, Build]]:
    """A B A B ...: every build once per round, in the same order."""
    for r in range(rounds):
        for build in builds:
            yield r, build


def cluster_lines(sim: Simulator, limit: int) -> list[str]:
    return ["[clusters.sim]", f'url = "{sim.url}"', f'ca_cert = "{sim.ca_path}"',
            f"max_concurrent_exports = {limit}", ""]  # fmt: skip


def location(kind: str, mount: Path) -> str:
    if kind == "mount_point":
        return f'{{ type = "mount_point", path = "{mount}" }}'
    return ('{ type = "s3", bucket_name = "bench", access_key_id = "AKIA", '
            'secret_access_key_env = "S3_SECRET" }')  # fmt: skip


def exports_config(sim: Simulator, uids: list[int], limit: int, where: str) -> str:
    lines = cluster_lines(sim, limit)
    for uid in uids:
        lines += [f"[exports.db{uid}]", 'cluster = "sim"', f"database = {uid}",
                  f"location = {where}", ""]  # fmt: skip
    return "\n".join(lines)


@contextmanager
def moto(directory: Path) -> Iterator[str]:
    """The tests' moto S3 server (tests/helpers/s3.py) with the bucket ``bench``; its URL."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from helpers.s3 import MotoServer
    finally:
        sys.path.remove(str(REPO / "tests"))
    directory.mkdir(parents=True, exist_ok=True)
    server = MotoServer(directory)
    try:
        server.create_bucket("bench")
        yield server.url
    finally:
        server.stop()


# --- the scenarios -----------------------------------------------------------------

Figures = dict[str, list[float]]  # figure -> one value per run


def single_export(
    build: Build, kind: str, plan: ComparePlan, root: Path, env: dict[str, str]
) -> dict[str, float]:
    """One export to ``kind``: the apply's time beyond the export, its phases, its reads."""
    sim = start_simulator(root / "sim", 0, plan.export_seconds, None)
    try:
        sim.add_database(1, "db1")  # a real redis-server: a mount_point gets its file
        mount = root / "mount"
        mount.mkdir(parents=True)
        stack = synthesize(build, root / "stack", exports_config(
            sim, [1], 1, location(kind, mount)), env)  # fmt: skip
        began, ended = apply(build, stack, env)
        path = result_file(stack, "db1")
        result = json.loads(path.read_text())
        export = sim.cluster.databases[1].export
        assert export is not None
        assert export.finished_at is not None
        marks = result.get("timeline") or {}
        if any(marks.get(k) is None for k in ("started", "slot", "accepted", "finished")):
            sys.exit(f"{path}: a mark is missing from the timeline: {marks}")
        written = path.stat().st_mtime
        phases = {
            "terraform_start": marks["started"] - began,
            "sign_in": marks["slot"] - marks["started"],
            "before_post": marks["accepted"] - marks["slot"],
            "detection": marks["finished"] - export.finished_at,
            "after_end": written - marks["finished"],
            "terraform_end": ended - written,
        }
        return {"beyond": ended - began - export.seconds, "status_reads": result["status_reads"],
                **phases}  # fmt: skip
    finally:
        sim.stop()


@dataclass(frozen=True)
class FleetRun:
    """One fleet's apply on one runner, from the helpers' timelines and the simulator."""

    span: float  # the apply's wall seconds
    conflicts: int  # 409 answers
    head: float  # apply start to the first export accepted
    tail: float  # the last export seen done to the apply's end
    gaps: list[float] = field(default_factory=list)  # a slot freed -> the next accepted

    @property
    def gap_median(self) -> float:
        return float(statistics.median(self.gaps)) if self.gaps else 0.0

    @property
    def gap_max(self) -> float:
        return max(self.gaps, default=0.0)


def handover_gaps(ends: list[float], accepts: list[float], limit: int) -> list[float]:
    """Each export past the first ``limit`` waited for a slot: from the end of the
    export that freed it (the k-th end) to its own acceptance (the k+limit-th)."""
    ends, accepts = sorted(ends), sorted(accepts)
    return [accepts[i] - ends[i - limit] for i in range(limit, len(accepts))]


def fleet(build: Build, plan: ComparePlan, root: Path, env: dict[str, str]) -> FleetRun:
    uids = list(range(1, plan.fleet_size + 1))
    sim = start_simulator(root / "sim", plan.fleet_size, plan.fleet_seconds, plan.cluster_limit)
    try:
        mount = root / "mount"
        mount.mkdir(parents=True)
        stack = synthesize(build, root / "stack", exports_config(
            sim, uids, plan.cluster_limit, location("s3", mount)), env)  # fmt: skip
        began, ended = apply(build, stack, env)
        timelines = [json.loads(result_file(stack, f"db{u}").read_text())["timeline"]
                     for u in uids]  # fmt: skip
        runs = [sim.cluster.databases[u].export for u in uids]
        cluster_ends = [r.finished_at for r in runs if r is not None and r.finished_at]
        conflicts = sum(r.method == "POST" and r.status == 409 for r in sim.cluster.log)
        accepts = [t["accepted"] for t in timelines]
        return FleetRun(
            span=ended - began,
            conflicts=conflicts,
            head=min(accepts) - began,
            tail=ended - max(t["finished"] for t in timelines),
            gaps=handover_gaps(cluster_ends, accepts, plan.cluster_limit),
        )
    finally:
        sim.stop()


def plan_config(exports: int) -> str:
    """``exports`` exports of one cluster that is never reached: plan reads no cluster."""
    lines = ['[clusters.a]\nurl = "https://rs.example.com:9443"\n']
    lines += [f'[exports.db{i}]\ncluster = "a"\ndatabase = {i}\n'
              f'location = {{ type = "mount_point", path = "/mnt/b/{i}" }}\n'
              for i in range(1, exports + 1)]  # fmt: skip
    return "\n".join(lines)


PLAN = ["terraform", "plan", "-input=false", "-lock=false", "-var=run_id=bench"]


def drill_config(sim: Simulator, mount: Path, timeout: float | None) -> str:
    lines = [*cluster_lines(sim, 4), "[exports.source]", 'cluster = "sim"', "database = 1",
             f"location = {location('mount_point', mount)}", "", "[drills.source]",
             'export = "source"', 'into = "scratch"', 'erase = "scratch"']  # fmt: skip
    if timeout is not None:
        lines.append(f"timeout_seconds = {timeout:g}")
    return "\n".join([*lines, ""])


def drill(build: Build, plan: ComparePlan, root: Path, env: dict[str, str]) -> dict[str, float]:
    """An export and its drill, whose import drops keys: the apply's time to fail."""
    from .drill import SCRATCH, fill

    sim = Simulator(root / "sim").start()
    try:
        scenario = sim.cluster.scenario
        scenario.stats_interval_seconds = plan.stats_interval
        scenario.import_loses_keys = plan.drill_lost_keys
        sim.cluster.add_user("bench@example.com", PASSWORD, "admin")
        fill(sim, plan.drill_keys)
        sim.add_database(SCRATCH, "scratch")
        mount = root / "mount"
        mount.mkdir(parents=True)
        stack = synthesize(build, root / "stack", drill_config(
            sim, mount, plan.drill_timeout), env)  # fmt: skip
        began, ended = apply(build, stack, env, ok=False)
        load = sim.cluster.databases[SCRATCH].load
        if load is None or load.finished_at is None:
            sys.exit(f"{stack}: the drill failed before its import ended")
        return {"drill_fail": ended - began, "drill_after_import": ended - load.finished_at}
    finally:
        sim.stop()


@dataclass
class Comparison:
    """Every run's figures: by build name ("HEAD", "baseline"), and Terraform's floors."""

    plan: ComparePlan
    builds: dict[str, Build]
    figures: dict[str, Figures] = field(default_factory=dict)
    floors: Figures = field(default_factory=dict)
    head_resources: int = 0
    seconds: float = 0.0

    def add(self, build: str, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.figures.setdefault(build, {}).setdefault(name, []).append(value)

    def floor(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.floors.setdefault(name, []).append(value)


def compare(
    head: Build, base: Build, plan: ComparePlan, work: Path, env: dict[str, str],
    say: Callable[[str], None] = print,
) -> Comparison:  # fmt: skip
    """Every scenario on both builds, A B A B; each run in a folder and simulator of its own."""
    began = time.monotonic()
    builds = [head, base]
    out = Comparison(plan, {b.name: b for b in builds})
    with moto(work / "moto") as s3_url:
        # Every s3 location is listed before and after its export, in moto.
        s3_env = env | {"AWS_ENDPOINT_URL_S3": s3_url, "AWS_DEFAULT_REGION": "eu-west-1"}
        for kind in LOCATIONS:
            say(f"compare: one export of {plan.export_seconds:g} s to {kind}, x{plan.rounds} ...")
            for r, build in alternated(plan.rounds, builds):
                root = work / f"single-{kind}-{r}-{build.name}"
                values = single_export(build, kind, plan, root, s3_env)
                out.add(build.name, {f"{kind}:{k}": v for k, v in values.items()})
                if build is builds[-1]:  # the floor in the same turn: A B floor, A B floor
                    out.floor({f"{kind}:beyond": sleeper(
                        work / f"floor-{kind}-{r}", plan.export_seconds, env)})  # fmt: skip
        say(f"compare: fleet of {plan.fleet_size} x {plan.fleet_seconds:g} s to s3 ...")
        for r, build in alternated(plan.rounds, builds):
            run = fleet(build, plan, work / f"fleet-{r}-{build.name}", s3_env)
            out.add(build.name, {
                "fleet_ratio": run.span / plan.ideal, "fleet_409": run.conflicts,
                "fleet_head": run.head, "fleet_tail": run.tail,
                "fleet_gap_median": run.gap_median, "fleet_gap_max": run.gap_max})  # fmt: skip
    say(f"compare: a fresh plan of {plan.plan_exports} exports ...")
    stacks = {b.name: synthesize(b, work / f"plan-{b.name}", plan_config(plan.plan_exports), env)
              for b in builds}  # fmt: skip
    out.head_resources = resource_count(stacks[head.name])
    floors = {
        "plan_floor_exports": floor_stack(work / "plan-floor-n", bare(plan.plan_exports)),
        "plan_floor_resources": floor_stack(work / "plan-floor-r", bare(out.head_resources)),
    }
    for folder in floors.values():
        timed(["terraform", "init", "-input=false"], folder, env)
    for _ in range(plan.rounds):
        for build in builds:
            out.add(build.name, {"plan": timed(PLAN, stacks[build.name], build.environ(env))})
        out.floor({name: timed(PLAN, folder, env) for name, folder in floors.items()})
    say("compare: a drill whose counts disagree ...")
    for r, build in alternated(plan.rounds, builds):
        out.add(build.name, drill(build, plan, work / f"drill-{r}-{build.name}", env))
    out.seconds = time.monotonic() - began
    return out


# --- the report --------------------------------------------------------------------


def ratio(head: float | None, base: float | None) -> str:
    """HEAD/baseline as ``0.52x``; a dash where no ratio means anything (a missing
    figure, or a baseline of zero or below, or a HEAD below zero)."""
    if head is None or base is None or base <= 0 or head < 0:
        return "-"
    return f"{head / base:.2f}x"


def shown(value: float | None, unit: str) -> str:
    """A median as the table shows it: seconds to 2 places, counts and ratios plainly."""
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "x":
        return f"{value:.2f} x ideal"
    return f"{value:g}"


@dataclass(frozen=True)
class Row:
    figure: str
    key: str  # in Comparison.figures
    unit: str  # "s", "x" or "" (a count)
    target: str = ""
    floor_key: str = ""  # in Comparison.floors


def rows(plan: ComparePlan) -> list[Row]:
    n, limit = plan.fleet_size, plan.cluster_limit
    out: list[Row] = []
    for kind in LOCATIONS:
        out += [
            Row(f"one export to {kind}: apply's time beyond the export", f"{kind}:beyond", "s",
                "<= 0.3 s", f"{kind}:beyond"),
            *[Row(f"{kind}: {phase}", f"{kind}:{phase}", "s",
                  "<= 0.1 s" if phase == "detection" else "") for phase, _ in PHASES],
            Row(f"{kind}: status GETs (`status_reads`)", f"{kind}:status_reads", "",
                "<= 10 for a 60 s export"),
        ]  # fmt: skip
    out += [
        Row(f"fleet {n} x {plan.fleet_seconds:g} s, limit {limit}, one runner: span / ideal "
            f"({plan.ideal:g} s)", "fleet_ratio", "x", "<= 1.10"),
        Row("fleet: 409 answers", "fleet_409", "", "0"),
        Row("fleet: head (apply start to first accepted)", "fleet_head", "s"),
        Row("fleet: tail (last seen done to apply end)", "fleet_tail", "s"),
        Row("fleet: handover gap, median (slot freed to next accepted)", "fleet_gap_median", "s",
            "the next export starts the moment a slot frees"),
        Row("fleet: handover gap, max", "fleet_gap_max", "s"),
        Row(f"fresh plan of {plan.plan_exports} exports (floor: as many resources as HEAD's "
            "stack)", "plan", "s", "<= 2 x floor", "plan_floor_resources"),
        Row(f"fresh plan: floor of {plan.plan_exports} empty `terraform_data`",
            "plan_floor_exports", "s"),
        Row("drill whose counts disagree: apply to failure", "drill_fail", "s",
            "fails after a few fresh samples, not the full wait"),
        Row("drill: from the import's end to the apply's failure", "drill_after_import", "s"),
    ]  # fmt: skip
    return out


def median(values: list[float] | None) -> float | None:
    return float(statistics.median(values)) if values else None


def machine() -> str:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        memory = f", {kb / 1024 / 1024:.0f} GiB of memory"
    return f"{os.cpu_count()} cores{memory}, {platform.system()} {platform.machine()}"


def table(c: Comparison) -> str:
    head, base = c.figures.get("HEAD", {}), c.figures.get("baseline", {})
    lines = [
        "| figure | baseline | HEAD | ratio HEAD/baseline | floor | target |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows(c.plan):
        h, b = median(head.get(row.key)), median(base.get(row.key))
        # A floor's own row (no build's figure) shows it in the floor column.
        f = median(c.floors.get(row.floor_key or row.key))
        lines.append(f"| {row.figure} | {shown(b, row.unit)} | {shown(h, row.unit)} | "
                     f"{ratio(h, b)} | {shown(f, row.unit)} | {row.target} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def section(c: Comparison, command: str, smoke: bool) -> str:
    """RESULTS.md's first section: the machine, both commits, the date and the table."""
    head, base = c.builds["HEAD"], c.builds["baseline"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = " A smoke run: tiny sizes, the targets are set for the full run." if smoke else ""
    phases = "; ".join(f"`{name}`: {what}" for name, what in PHASES)
    return (
        "## HEAD against the baseline commit\n\n"
        f"Command: `{command}`; this part took {c.seconds / 60:.1f} min. Machine: {machine()}. "
        f"HEAD {head.commit}, baseline {base.commit}, {when}.{note}\n\n"
        f"Each figure is the median of {c.plan.rounds} run(s) per build, the builds alternated "
        "(A B A B), each run on a simulator of its own; the ratio is HEAD's over the "
        "baseline's, below 1 is faster. The floor is Terraform's own: an apply whose one "
        "`terraform_data` sleeps in local-exec as long as the export, or a fresh plan of as "
        "many empty `terraform_data`. The phases of one export, from the result file's "
        f"`timeline` marks and the simulator's record of the export's end: {phases}. The "
        f"drill's import drops {c.plan.drill_lost_keys} of {c.plan.drill_keys} keys "
        "(the simulator's `import_loses_keys`).\n\n" + table(c)
    )
