"""What each plan-time lever of issue 24 (item 4) costs: ``python -m bench.levers``.

One stack of ``--exports`` exports, synthesized by this working tree, then changed one
lever at a time, and each variant given a fresh ``terraform plan`` (no state), the
variants in turn for ``--rounds`` rounds, so the machine's drift falls on all alike:

- as synthesized;
- without the per-export ``rerun_key_*`` outputs;
- without the stored spec: the export's ``input`` gone, its spec a literal in the
  local-exec's environment;
- without the result's decoding: no ``jsondecode`` of the result in the outputs and
  the check (the raw JSON string instead);
- without triggers: no ``triggers_replace`` anywhere;
- two resources per export (the export and its result) and no outputs;
- the ``rerun_key_*`` outputs chunked into maps of ``CHUNK`` exports;
- Terraform's floor: as many empty ``terraform_data`` as exports, and as many as the
  stack has resources.

Each is shown in plan seconds and as the saving against the stack as synthesized.
The variants are measurements, not layouts to ship: some lose what the project
needs (a rerun after a failure, the check that fails the apply). ``--write`` puts the
table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .builds import head
from .compare import PLAN, plan_config, synthesize, timed
from .scale import bare
from .scenarios import environment
from .sections import write_section

CHUNK = 100
Stack = dict[str, Any]
RERUN = "rerun_key_"
DECODED = re.compile(r"jsondecode\((terraform_data\.[A-Za-z0-9_]+\.output)\)")


def resources(stack: Stack) -> dict[str, Any]:
    found: dict[str, Any] = stack.get("resource", {}).get("terraform_data", {})
    return found


def exports_of(stack: Stack) -> dict[str, Any]:
    """The export resources: those with a provisioner."""
    return {k: r for k, r in resources(stack).items() if "provisioner" in r}


def without_rerun_outputs(stack: Stack) -> Stack:
    out = copy.deepcopy(stack)
    out["output"] = {k: v for k, v in out.get("output", {}).items() if not k.startswith(RERUN)}
    return out


def without_spec(stack: Stack) -> Stack:
    """The export's ``input`` dropped; the helper's spec given as a literal instead."""
    out = copy.deepcopy(stack)
    for resource in exports_of(out).values():
        spec = resource.pop("input", None)
        for provisioner in resource["provisioner"]:
            environment = provisioner.get("local-exec", {}).get("environment", {})
            if "REDIS_EXPORT_SPEC" in environment and spec is not None:
                # A literal: "$${" and "%%{" keep Terraform from reading any "${" or "%{" as code.
                environment["REDIS_EXPORT_SPEC"] = (
                    json.dumps(spec).replace("${", "$${").replace("%{", "%%{")
                )
    return out


def without_decoding(stack: Stack) -> Stack:
    """Nothing of the result decoded at plan time: each export's entry of the
    ``exports`` output is the raw result string, and where a decoded field was
    compared (the rerun key, the check) the raw string is compared with "" instead."""
    out = copy.deepcopy(stack)
    exports = out.get("output", {}).get("exports", {})
    if isinstance(exports.get("value"), dict):
        for name, value in exports["value"].items():
            if found := DECODED.search(value):
                exports["value"][name] = "${" + found.group(1) + "}"

    def plain(text: str) -> str:
        text = re.sub(DECODED.pattern + r'\.export_status == "succeeded"', r'\1 != ""', text)
        return re.sub(DECODED.pattern + r"\.message", r"\1", text)

    changed: Stack = _strings(out, plain)
    return changed


def _strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with ``change`` applied to every string in it."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: _strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, change) for v in value]
    return value


def without_triggers(stack: Stack) -> Stack:
    out = copy.deepcopy(stack)
    for resource in resources(out).values():
        resource.pop("triggers_replace", None)
    return out


def two_resources(stack: Stack) -> Stack:
    """The export and its result alone (the result is the resource the export's
    ``id`` feeds); no check, no last success, no outputs."""
    out = copy.deepcopy(stack)
    kept = {}
    for key, resource in resources(out).items():
        feeds = json.dumps(resource.get("triggers_replace", ""))
        is_result = any(f"terraform_data.{e}.id" in feeds for e in exports_of(out))
        if "provisioner" in resource or is_result:
            kept[key] = resource
    out["resource"]["terraform_data"] = kept
    out.pop("output", None)
    return out


def chunked(stack: Stack) -> Stack:
    """The ``rerun_key_*`` outputs as maps of ``CHUNK`` exports each."""
    out = copy.deepcopy(stack)
    outputs = out.get("output", {})
    keys = sorted(k for k in outputs if k.startswith(RERUN))
    for i in range(0, len(keys), CHUNK):
        part = keys[i : i + CHUNK]
        # "${a}" -> a: each value is one interpolation, put into an object of them.
        fields = ", ".join(f'"{k[len(RERUN) :]}" = {outputs[k]["value"][2:-1]}' for k in part)
        outputs[f"rerun_keys_{i // CHUNK}"] = {"value": "${{" + fields + "}}"}
        for k in part:
            del outputs[k]
    return out


def variants(stack: Stack, exports: int) -> dict[str, Stack]:
    """Each variant by name; a lever the stack does not have (the variant is the stack
    itself) is left out, so its row cannot pass for a measured saving of nothing."""
    count = len(resources(stack))
    floor_n, floor_all = bare(exports), bare(count)
    every = {
        "as synthesized": stack,
        "without the `rerun_key_*` outputs": without_rerun_outputs(stack),
        "without the stored spec": without_spec(stack),
        "without the result's decoding": without_decoding(stack),
        "without triggers": without_triggers(stack),
        "two resources per export, no outputs": two_resources(stack),
        f"`rerun_key_*` outputs chunked by {CHUNK}": chunked(stack),
        f"floor: {exports} empty `terraform_data`": floor_n,
        f"floor: {count} empty `terraform_data` (as many resources)": floor_all,
    }
    return {
        name: variant
        for i, (name, variant) in enumerate(every.items())
        if i == 0 or variant != stack
    }


def measure(exports: int, rounds: int, work: Path) -> tuple[dict[str, list[float]], dict[str, int]]:
    env = environment(work / "slots")
    stack_dir = synthesize(head(), work / "synth", plan_config(exports), env)
    stack: Stack = json.loads((stack_dir / "cdk.tf.json").read_text())
    folders: dict[str, Path] = {}
    sizes: dict[str, int] = {}
    for i, (name, variant) in enumerate(variants(stack, exports).items()):
        folder = work / f"variant-{i}"
        folder.mkdir()
        (folder / "cdk.tf.json").write_text(json.dumps(variant))
        timed(["terraform", "init", "-input=false"], folder, env)
        folders[name] = folder
        sizes[name] = len(resources(variant))
    walls: dict[str, list[float]] = {name: [] for name in folders}
    for _ in range(rounds):
        for name, folder in folders.items():
            walls[name].append(timed(PLAN, folder, env))
    return walls, sizes


def table(exports: int, rounds: int, walls: dict[str, list[float]], sizes: dict[str, int]) -> str:
    base = statistics.median(walls["as synthesized"])
    lines = [
        f"A fresh `terraform plan` of one stack of {exports} exports, changed one lever at a "
        f"time; median of {rounds} round(s), the variants in turn. Saving: against the stack "
        "as synthesized. The variants measure what each part costs; some drop what the "
        "project needs (a rerun after a failure, the check that fails the apply). Command: "
        f"`python -m bench.levers --exports {exports} --rounds {rounds} --write`.",
        "",
        "| variant | resources | plan | saving |",
        "|---|---|---|---|",
    ]
    for name, values in walls.items():
        wall = statistics.median(values)
        lines.append(f"| {name} | {sizes[name]} | {wall:.2f} s | {saving(wall, base)} |")
    return "\n".join(lines) + "\n"


def saving(wall: float, base: float) -> str:
    """How much less than ``base`` ``wall`` is, in percent (negative: it costs more)."""
    return f"{1 - wall / base:.0%}" if base > 0 else "-"


def main(argv: list[str] | None = None, run: Callable[..., Any] = measure) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.levers", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--exports", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="put the table into bench/RESULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="redis-export-levers-") as tmp:
        walls, sizes = run(args.exports, args.rounds, Path(tmp))
    text = table(args.exports, args.rounds, walls, sizes)
    print(text)
    if args.write:
        write_section("levers", f"Plan-time levers: {args.exports} exports", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
