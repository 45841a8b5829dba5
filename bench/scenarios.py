"""The bench's scenarios: what runs and what is measured, with no reporting.

Everything runs for real: the simulator over HTTPS, ``terraform apply`` of a
synthesized stack, the helper processes. The baselines (B1: poll every 5 s,
B2: every 1 s, retry a 409 after the same interval) run through Terraform's
local-exec too, so every tool pays the same process and Terraform costs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis_enterprise_export.contract import Result, result_path
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
    runners: int  # the fleet across runners: this many stacks, each its own slot directory
    synth_sizes: tuple[int, ...]
    start_repeats: int

    @property
    def ideal(self) -> float:
        """The fleet's wall time if the cluster ran ``cluster_limit`` exports at every moment."""
        return self.fleet_size * self.fleet_seconds / self.cluster_limit

    def shares(self) -> list[list[int]]:
        """The fleet's database uids, one list per runner: 34, 33 and 33 of 100."""
        uids = range(1, self.fleet_size + 1)
        return [list(uids[r :: self.runners]) for r in range(self.runners)]


FULL = Plan(60.0, (0.4, 2.1, 3.8), 100, 2.0, 4, 3, (1, 100, 500), 10)
SMOKE = Plan(3.0, (0.4,), 8, 0.5, 2, 3, (1, 10), 3)


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


def export_name(uid: int) -> str:
    return f"db{uid}"


def toml_config(sim: Simulator, uids: list[int], limit: int, coordination: str = "local") -> str:
    lines = [
        "[clusters.sim]",
        f'url = "{sim.url}"',
        f'ca_cert = "{sim.ca_path}"',
        f"max_concurrent_exports = {limit}",
        f'coordination = "{coordination}"',
        "",
    ]
    for uid in uids:
        lines += [
            f"[exports.{export_name(uid)}]",
            'cluster = "sim"',
            f"database = {uid}",
            'location = { type = "s3", bucket_name = "bench", access_key_id = "AKIA", '
            'secret_access_key_env = "S3_SECRET" }',
            "",
        ]
    return "\n".join(lines)


def our_stack(
    work: Path,
    sim: Simulator,
    uids: list[int],
    limit: int,
    env: dict[str, str],
    coordination: str = "local",
) -> Path:
    work.mkdir(parents=True)
    config = work / "exports.toml"
    config.write_text(toml_config(sim, uids, limit, coordination))
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


def init(stack: Path, env: dict[str, str]) -> float:
    return run(["terraform", "init", "-input=false"], stack, env)


def apply(stack: Path, env: dict[str, str], ours: bool, initialized: bool = False) -> float:
    """``terraform apply`` (``init`` first, unless done); the apply's wall seconds."""
    if not initialized:
        init(stack, env)
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


# One export's phases, epoch seconds: start, slot (or first POST), accepted, seen done.
Bar = tuple[float, float, float, float]


@dataclass
class Fleet:
    wall: float
    conflicts: int  # 409 answers
    posts: int
    gets: int
    bars: list[Bar]

    @classmethod
    def measured(cls, sim: Simulator, wall: float, bars: list[Bar]) -> Fleet:
        """The requests the cluster saw, counted from its log."""
        posts = [r for r in sim.cluster.log if r.method == "POST"]
        return cls(
            wall=wall,
            conflicts=sum(r.status == 409 for r in posts),
            posts=len(posts),
            gets=sum(r.method == "GET" for r in sim.cluster.log),
            bars=bars,
        )


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
            results[tool] = Fleet.measured(sim, wall, bars(stack, sim, uids, ours))
        finally:
            sim.stop()
    return results


# The fleet across runners, variant by variant: the clusters' ``coordination``, or
# None for B2 (each runner on its own, retrying a 409 after 1 s).
ACROSS: dict[str, str | None] = {
    "slots per machine (local)": "local",
    "postgres": "postgres",
    "cluster": "cluster",
    TOOLS[2]: None,
}


def across_runners(plan: Plan, work: Path) -> dict[str, Fleet]:
    """The fleet split over ``plan.runners`` stacks applied at once, as on as many CI
    runners: each with its own databases, Terraform folder and slot directory, all on
    one cluster. One variant at a time, each on a fresh cluster; wall time is the
    longest apply (the stacks are initialized first, so the applies start together)."""
    results = {}
    shares = plan.shares()
    # Not under ``work``: PostgreSQL runs as its own user when the bench runs as root.
    with postgres(Path(tempfile.mkdtemp(prefix="redis-export-bench-pg-"))) as conn_str:
        for i, (variant, coordination) in enumerate(ACROSS.items()):
            root = work / f"across-{i}"
            sim = start_simulator(
                root / "sim", plan.fleet_size, plan.fleet_seconds, plan.cluster_limit
            )
            try:
                ours = coordination is not None
                applies: dict[str, tuple[Any, ...]] = {}
                stacks = []
                for r, share in enumerate(shares):
                    folder = root / f"runner-{r}"
                    # Only the postgres variant reads PG_CONN_STR.
                    env = environment(folder / "slots") | {"PG_CONN_STR": conn_str}
                    if coordination is None:
                        stack = baseline_stack(folder, sim, share, BASELINES[variant])
                    else:
                        stack = our_stack(folder, sim, share, plan.cluster_limit, env, coordination)
                    init(stack, env)
                    applies[folder.name] = (apply, stack, env, ours, True)
                    stacks.append(stack)
                wall = max(in_parallel(applies).values())
                phases = [
                    bar
                    for stack, share in zip(stacks, shares, strict=True)
                    for bar in bars(stack, sim, share, ours)
                ]
                results[variant] = Fleet.measured(sim, wall, phases)
            finally:
                sim.stop()
    return results


@contextmanager
def postgres(directory: Path) -> Iterator[str]:
    """The tests' real PostgreSQL server (tests/helpers/postgres.py) in ``directory``,
    for the runners to share; yields its connection string."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from helpers.postgres import PostgresServer
    finally:
        sys.path.remove(str(REPO / "tests"))
    server = PostgresServer(directory)
    try:
        yield server.conn_str
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def bars(stack: Path, sim: Simulator, uids: list[int], ours: bool) -> list[Bar]:
    """Each export's phases, by our helpers' account or, for a baseline, the cluster's."""
    return our_bars(stack, uids) if ours else baseline_bars(sim, uids)


def our_bars(stack: Path, uids: list[int]) -> list[Bar]:
    """Each export's phases, from the result file the helper wrote (the run contract)."""
    bars = []
    for uid in uids:
        path = stack / result_path(export_name(uid))
        t = Result.from_dict(json.loads(path.read_text())).timeline
        started, slot, accepted, finished = t.started, t.slot, t.accepted, t.finished
        if started is None or slot is None or accepted is None or finished is None:
            sys.exit(f"{path}: a phase is missing from the timeline: {t}")
        bars.append((started, slot, accepted, finished))
    return bars


def baseline_bars(sim: Simulator, uids: list[int]) -> list[Bar]:
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
    "import sys, redis_enterprise_export.cli, redis_enterprise_export.rs.client, "
    "redis_enterprise_export.run.export, redis_enterprise_export.run.slots; "
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
