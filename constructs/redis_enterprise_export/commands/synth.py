"""``synth``: the exports of a TOML file as one Terraform stack.

The package's own app, so an infrastructure repository installs it instead of
forking this one; ``main.py`` calls the same ``synthesize``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from redis_enterprise_export.commands.common import OK, add_config_arguments, bad_input
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.config import load_config

STACK = "exports"
OUT = "cdktf.out"  # the App's default output folder
OUTDIR_ENV = "CDKTF_OUTDIR"  # what the cdktf/cdktn CLI sets for the App


def default_out(config_path: Path) -> Path:
    """Where ``synth`` writes, unless told (and ``main.py``, run from the config's folder)."""
    return config_path.parent / OUT


def default_stack(config_path: Path) -> Path:
    """The stack's folder under ``default_out``: where ``status --stack`` looks."""
    return default_out(config_path) / "stacks" / STACK


def synthesize(config_path: Path, out: Path | None = None) -> Path:
    """Write the stack of ``config_path`` under ``out``; its folder, or ConfigError."""
    config = load_config(config_path)
    # The framework loads only after the config is known good: a bad file
    # costs no Node start and leaves no partial cdktf.out behind.
    from redis_enterprise_export.synth.cdk import App
    from redis_enterprise_export.synth.stack import ExportStack, ExportStackProps

    app = App() if out is None else App(outdir=str(out))
    ExportStack(
        app,
        STACK,
        ExportStackProps(exports=config.exports, state=config.state, drills=config.drills),
    )
    app.synth()
    return Path(app.outdir, "stacks", STACK)


DESCRIPTION = (
    "Synthesize every export in the file into one Terraform stack, "
    "OUT/stacks/exports/cdk.tf.json, as this project's main.py does: an "
    "infrastructure repository needs only its exports.toml, the lock file "
    "discover writes and a pipeline. Reads no cluster. Needs a CDK extra "
    "(cdktn, or cdk/cdktf)."
)
EPILOG = "exit codes: 0 synthesized, 2 bad input (nothing is written)"


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    add_config_arguments(parser, environ, names=False)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the output folder (default: cdktf.out beside the config, where status "
        "--stack looks, or what the cdktf/cdktn CLI sets)",
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    out = args.out
    if out is None and not environ.get(OUTDIR_ENV):
        out = default_out(args.config)
    try:
        stack = synthesize(args.config, out)
    except ConfigError as exc:
        return bad_input(exc)
    print(f"synthesized {args.config} into {stack}")
    return OK
