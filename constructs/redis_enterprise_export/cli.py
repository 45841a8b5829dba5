"""``python -m redis_enterprise_export``: the command line. It parses; ``commands`` act.

The ``export`` subcommand is what Terraform's local-exec runs, once per export,
so this module imports only the standard library and the pure models: ``--help`` and bad input stay
instant, and cdktf and jsii are never loaded.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .contract import RESULT_ENV, RUN_ID_ENV, SPEC_ENV
from .errors import ExitCode

# Subcommand name -> the module in ``commands`` whose ``run(args, environ)`` does it.
COMMANDS = {"export": "export"}


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m redis_enterprise_export",
        description="Export a Redis Enterprise Software database and wait for it to finish.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export",
        help="start one export and follow it to the end",
        description=(
            "Start one export and follow it to the end. The spec comes from --config and "
            f"--name, from --spec, or from the {SPEC_ENV} variable (what Terraform passes). "
            "Credentials and location secrets come from the environment variables the "
            "spec names; they are never taken from the command line."
        ),
        epilog=f"exit codes: {ExitCode.describe()}",
    )
    source = export.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="a TOML file like exports.toml")
    source.add_argument("--spec", type=Path, help="a JSON spec as the construct synthesizes")
    export.add_argument("--name", help="with --config: which [exports.NAME] to run")
    export.add_argument(
        "--result",
        type=Path,
        default=environ.get(RESULT_ENV),
        help=f"write the result JSON here (default: ${RESULT_ENV}; none if unset)",
    )
    export.add_argument(
        "--run-id",
        default=environ.get(RUN_ID_ENV, ""),
        help=f"recorded in the result (default: ${RUN_ID_ENV})",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    args = build_parser(env).parse_args(argv)
    command = importlib.import_module(f".commands.{COMMANDS[args.command]}", __package__)
    code: int = command.run(args, env)
    return code
