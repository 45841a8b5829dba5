"""``python -m redis_enterprise_export``: the command line. It parses; ``commands`` act.

The ``export`` subcommand is what Terraform's local-exec runs, once per export,
so this module imports only the standard library and the pure models: ``--help`` and bad input stay
instant, and cdktf and jsii are never loaded.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from redis_enterprise_export._version import __version__
from redis_enterprise_export.contract import (
    EXPORT_RESULT_ENV,
    RESULT_ENV,
    RUN_ID_ENV,
    SPEC_ENV,
    SUMMARY_ENV,
)
from redis_enterprise_export.errors import ExitCode, ExportError

# The console script (pyproject.toml's [project.scripts]).
SCRIPT = "redis-enterprise-export"
# Subcommand name -> the module in ``commands`` whose ``run(args, environ)`` does it.
COMMANDS = {
    "export": "export",
    "preflight": "preflight",
    "status": "status",
    "discover": "discover",
    "synth": "synth",
    "restore": "restore",
    "drill": "drill",
}


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        # Usage lines name the command as it was typed: the console script or -m.
        prog=SCRIPT if Path(sys.argv[0]).name == SCRIPT else "python -m redis_enterprise_export",
        description="Export a Redis Enterprise Software database and wait for it to finish.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
    _record_arguments(export, environ)
    _day2(commands, environ)
    _synth(commands, environ)
    _restore(commands, environ)
    _drill(commands, environ)
    return parser


def _record_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """What a command Terraform runs records, and where: the same for export and drill."""
    parser.add_argument(
        "--result",
        type=Path,
        default=environ.get(RESULT_ENV),
        help=f"write the result JSON here (default: ${RESULT_ENV}; none if unset)",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        default=environ.get(SUMMARY_ENV),
        metavar="FILE",
        help=f"append a Markdown row to FILE for the CI job page (default: ${SUMMARY_ENV})",
    )
    parser.add_argument(
        "--run-id",
        default=environ.get(RUN_ID_ENV, ""),
        help=f"recorded in the result (default: ${RUN_ID_ENV})",
    )


def _day2(commands: Any, environ: Mapping[str, str]) -> None:
    from redis_enterprise_export.commands.common import (
        UNREADABLE_MEANING,
        add_config_arguments,
        duration,
    )

    preflight = commands.add_parser(
        "preflight",
        help="check that tonight's exports will work, without exporting",
        description=(
            "Check every export (or --name) without exporting. Once per cluster: it answers "
            "and its TLS verifies, the credentials work (one request), it does not redirect "
            "(handle_redirects), the user's role may export, and max_concurrent_exports fits. "
            "Per export: the secrets are set, the database exists, and the module versions "
            "it uses support backup_restore; per drill, its scratch database exists and is "
            "not Active-Active. A check the API cannot answer (a destination, "
            "say) shows as '?' (not checked) and why; the last line sums up."
        ),
        epilog="exit codes: 0 every check passed (warnings and not checked allowed), "
        f"1 a check failed, 2 bad input, {UNREADABLE_MEANING}",
    )
    add_config_arguments(preflight, environ)
    preflight.add_argument("--json", action="store_true", help="print the checks as JSON")
    status = commands.add_parser(
        "status",
        help="each export's own latest outcome and last success, beside what its cluster shows",
        description=(
            "Show, for every export (or --name), its own latest outcome and last success, "
            "from its records in the stack (Terraform state and .results/), beside the "
            "cluster's export fields for its database, which all exports of that database "
            "share. Reads only."
        ),
        epilog="exit codes: 0 fine, 1 a --max-age or --coverage check failed (an export "
        f"stale, failed, unknown or in the future; a database uncovered, or its RS backups "
        f"failed or stale), 2 bad input, {UNREADABLE_MEANING}",
    )
    add_config_arguments(status, environ)
    status.add_argument(
        "--stack",
        type=Path,
        metavar="DIR",
        help="the synthesized stack, initialized, whose state (terraform show -json) and "
        ".results/ hold each export's own records (default: cdktf.out/stacks/exports "
        "beside the config). If they cannot be read, status says so and uses the "
        "cluster's last_export_time",
    )
    status.add_argument(
        "--max-age",
        type=duration,
        metavar="AGE",
        help="exit 1 if an export's own newest good export is older (26h, 90m, 2d, 3600s: a "
        "unit is required), missing or in the future, or its own latest run did not succeed; "
        "also RS's scheduled backups with --coverage",
    )
    status.add_argument(
        "--coverage",
        action="store_true",
        help="also show what covers each database (an export, RS's own scheduled backups, "
        "both); exit 1 on one neither covers, or whose RS backup failed",
    )
    formats = status.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON")
    formats.add_argument("--markdown", action="store_true", help="print a Markdown table")
    discover = commands.add_parser(
        "discover",
        help="resolve database selectors into the lock file beside the config",
        description=(
            'Resolve every export that names a selector (databases = "*", or names and '
            "globs, with exclude) against its cluster, and write what matched to the lock "
            "file beside the config (exports.lock.json for exports.toml). Synthesis reads "
            "only that file: commit it, and review its changes like any other."
        ),
        epilog="exit codes: 0 written or up to date, 1 out of date (--check) or a cluster "
        "could not be read, 2 bad input",
    )
    add_config_arguments(discover, environ, names=False)
    discover.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the lock is out of date"
    )
    status.add_argument(
        "--prometheus",
        type=Path,
        metavar="FILE",
        help="also write metrics to FILE in node_exporter's textfile format (atomically)",
    )


def _synth(commands: Any, environ: Mapping[str, str]) -> None:
    from redis_enterprise_export.commands.common import add_config_arguments

    synth = commands.add_parser(
        "synth",
        help="synthesize the exports file into a Terraform stack",
        description=(
            "Synthesize every export in the file into one Terraform stack, "
            "OUT/stacks/exports/cdk.tf.json, as this project's main.py does: an "
            "infrastructure repository needs only its exports.toml, the lock file "
            "discover writes and a pipeline. Reads no cluster. Needs a CDK extra "
            "(cdktn, or cdk/cdktf)."
        ),
        epilog="exit codes: 0 synthesized, 2 bad input (nothing is written)",
    )
    add_config_arguments(synth, environ, names=False)
    synth.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the output folder (default: cdktf.out, or what the cdktf/cdktn CLI sets)",
    )


def _restore(commands: Any, environ: Mapping[str, str]) -> None:
    from redis_enterprise_export.commands import restore as command
    from redis_enterprise_export.commands.common import add_config_arguments, duration

    restore = commands.add_parser(
        "restore",
        help=command.HELP,
        description=command.DESCRIPTION,
        epilog=f"exit codes: {command.describe_exit_codes()}",
    )
    add_config_arguments(restore, environ, names=False)
    for flag, metavar, text in command.REQUIRED:
        restore.add_argument(flag, required=True, metavar=metavar, help=text)
    restore.add_argument(
        "--file",
        required=True,
        action="append",
        metavar="FILE",
        help="the file's name in that location; repeat it for one file per shard",
    )
    restore.add_argument(
        "--timeout",
        type=duration,
        default=3600.0,
        metavar="AGE",
        help="how long to wait for the import: 2h, 90m, 3600s (default: 1h)",
    )


def _drill(commands: Any, environ: Mapping[str, str]) -> None:
    from redis_enterprise_export.commands import drill as command

    drill = commands.add_parser(
        "drill",
        help=command.HELP,
        description=command.DESCRIPTION,
        epilog=f"exit codes: {command.describe_exit_codes()}",
    )
    # No default file: without --config, the drill is the one Terraform passes.
    drill.add_argument("--config", type=Path, help="a TOML file like exports.toml")
    drill.add_argument("--name", help="with --config: which [drills.NAME] to run")
    drill.add_argument(
        "--export-result",
        type=Path,
        default=environ.get(EXPORT_RESULT_ENV),
        metavar="FILE",
        help="the export's result file, which holds its files and key counts (default: "
        f"${EXPORT_RESULT_ENV}, or with --config the stack's .results/EXPORT.json)",
    )
    _record_arguments(drill, environ)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    args = build_parser(env).parse_args(argv)
    command = importlib.import_module(f".commands.{COMMANDS[args.command]}", __package__)
    try:
        code: int = command.run(args, env)
    except ExportError as exc:
        # What a command leaves to the CLI, e.g. an optional package not installed.
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code
