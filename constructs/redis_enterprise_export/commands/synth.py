"""``synth``: the exports of a TOML file as one Terraform stack.

The package's own app, so an infrastructure repository installs it instead of
forking this one; ``main.py`` calls the same ``synthesize``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from redis_enterprise_export.commands.common import OK, bad_input
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.config import load_config

STACK = "exports"
OUT = "cdktf.out"  # the App's default output folder


def default_stack(config_path: Path) -> Path:
    """Where ``synth`` (and ``main.py``), run from the config's folder, write its stack."""
    return config_path.parent / OUT / "stacks" / STACK


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


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        stack = synthesize(args.config, args.out)
    except ConfigError as exc:
        return bad_input(exc)
    print(f"synthesized {args.config} into {stack}")
    return OK
