"""``start-state``: give a ``pg`` or ``s3`` stack an empty state before its first plan.

Such a stack reads its previous outputs back from its own state on every plan (the
run id, each export's last success and rerun key), and Terraform refuses to read a
state that does not exist yet ("Unable to find remote state"). An empty state is
what a first apply would have found. Never over an existing state: this command
pushes only when ``terraform state pull`` shows none, and with a lineage of its own,
which Terraform refuses to push over any other state (an empty lineage would replace
it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redis_enterprise_export.commands.common import OK, bad_input
from redis_enterprise_export.commands.records import STACK_FILE
from redis_enterprise_export.commands.terraform import terraform, terraform_json
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.values import read_bounded

DESCRIPTION = (
    "Give an initialized pg or s3 stack an empty state when it has none, so its first "
    "plan can read its previous outputs back (Terraform refuses to read a state that "
    "does not exist: 'Unable to find remote state'). An existing state is never "
    "touched. Run it after terraform init, in the workspace to be applied."
)
EPILOG = (
    "exit codes: 0 the stack has a state (started now or before, or a local one), "
    "1 Terraform failed, 2 bad input"
)
FAILED = 1


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument(
        "--stack",
        type=Path,
        required=True,
        help="the synthesized stack's folder, after terraform init",
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        backend = _backend(args.stack)
    except ConfigError as exc:
        return bad_input(exc)
    if backend == "local":
        print("the stack's state is a local file, read even before it exists: nothing to do")
        return OK
    state, error = _pull(args.stack, environ)
    if state is None:
        return _failed(error)
    if _exists(state):
        print(f"the stack's state exists (serial {state.get('serial')}): nothing to do")
        return OK
    empty = {"version": 4, "serial": 1, "lineage": str(uuid.uuid4()), "outputs": {}}
    with tempfile.TemporaryDirectory(prefix="redis-export-state-") as scratch:
        seed = Path(scratch) / "empty.tfstate"
        seed.write_text(json.dumps(empty | {"resources": []}))
        pushed, error = terraform(args.stack, ["state", "push", str(seed)], environ)
    if pushed is None:
        # Another runner may have started it meanwhile: then its push won, and ours
        # was refused for its lineage.
        again, _ = _pull(args.stack, environ)
        if again is None or not _exists(again):
            return _failed(error)
    print("started an empty state: the stack's first plan can read its outputs back")
    return OK


def _backend(stack: Path) -> str:
    """The backend the synthesized stack in ``stack`` declares."""
    expected = f"a synthesized stack's folder (with its {STACK_FILE})"
    try:
        text = read_bounded(stack / STACK_FILE, "--stack", expected, shown=str(stack))
        backends = json.loads(text)["terraform"]["backend"]
    except FileNotFoundError:
        raise ConfigError("--stack", str(stack), expected) from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError("--stack", str(stack), f"{expected} that names a backend") from None
    if not isinstance(backends, dict) or len(backends) != 1:
        raise ConfigError("--stack", str(stack), f"{expected} that names one backend")
    (name,) = backends
    return str(name)


def _pull(stack: Path, environ: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    return terraform_json(stack, ["state", "pull"], environ)


def _exists(state: Mapping[str, Any]) -> bool:
    """Terraform shows a missing state as an empty one with no lineage."""
    return bool(state.get("lineage") or state.get("resources") or state.get("outputs"))


def _failed(error: str) -> int:
    print(f"error: {error}", file=sys.stderr)
    return FAILED
