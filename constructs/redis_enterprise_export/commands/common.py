"""What the day-2 commands share: the config they read, and their exit codes."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from redis_enterprise_export.errors import ConfigError

if TYPE_CHECKING:
    from redis_enterprise_export.config import ExportsConfig

CONFIG_ENV = "REDIS_EXPORT_CONFIG"
# Day-2 commands: 0 all is well, 1 a check failed, 2 bad input.
OK, CHECK_FAILED, BAD_INPUT = 0, 1, 2


def add_config_arguments(
    parser: argparse.ArgumentParser, environ: Mapping[str, str], *, names: bool = True
) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(environ.get(CONFIG_ENV) or "exports.toml"),
        help=f"the exports file (default: ${CONFIG_ENV}, else ./exports.toml)",
    )
    if not names:
        return
    parser.add_argument(
        "--name",
        action="append",
        metavar="EXPORT",
        help="only this export (repeatable); default: every export in the file",
    )


def load(args: argparse.Namespace) -> ExportsConfig:
    """The config, its exports narrowed to ``--name``; raises ConfigError."""
    # Here, not at the top: cli builds every parser, the export helper's too, which
    # starts once per export and never reads TOML.
    from redis_enterprise_export.config import load_config

    config = load_config(args.config)
    if args.name:
        names = [spec.name for spec in config.exports]
        unknown = [name for name in args.name if name not in names]
        if unknown:
            raise ConfigError(
                "--name", unknown[0], "one of " + ", ".join(names), where=str(args.config)
            )
        config.exports[:] = [spec for spec in config.exports if spec.name in args.name]
    return config


def bad_input(exc: ConfigError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return BAD_INPUT


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)\Z")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """``26h``, ``90m``, ``2d``, ``3600s`` or ``3600`` as seconds (for argparse)."""
    match = _DURATION.match(text.strip().lower())
    if not match or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; expected a duration such as 26h, 90m, 2d or 3600s"
        )
    return float(match[1]) * _UNIT_SECONDS[match[2]]
