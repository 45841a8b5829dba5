"""``python -m redis_enterprise_export``: the command line, a registry of commands.

Each command's module in ``commands/`` owns its parser (``add_options``, with its
``DESCRIPTION`` and ``EPILOG``) and its ``run(args, environ)``; this module only names
them. Only the command being run is imported (pip's ``commands_dict``): the
``export`` helper, which Terraform starts once per export, loads its own module and
nothing of the others, so --help and bad input stay instant and cdktf and jsii are
never loaded.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol, cast

from redis_enterprise_export._version import __version__
from redis_enterprise_export.errors import ExportError, error_lines
from redis_enterprise_export.extras import command_name

# Command name -> (its module in commands/, its one-line summary).
COMMANDS = {
    "export": ("export", "start one export and follow it to the end"),
    "preflight": ("preflight", "check that tonight's exports will work, without exporting"),
    "status": (
        "status",
        "each export's own latest outcome and last success, beside what its cluster shows",
    ),
    "discover": ("discover", "resolve database selectors into the lock file beside the config"),
    "synth": ("synth", "synthesize the exports file into a Terraform stack"),
    "restore": ("restore", "import an export's file into a database, ERASING its content"),
    "drill": ("drill", "import an export's files into a scratch database and check its key count"),
    "start-state": (
        "start_state",
        "give a pg or s3 stack an empty state before its first plan (never over one)",
    ),
    "prune": (
        "prune",
        "delete the exports' old files their retention policy no longer keeps (--dry-run lists)",
    ),
    "logins": ("logins", "list the refused logins this machine honours; --clear forgets them"),
}


def build_parser(environ: Mapping[str, str], command: str | None) -> argparse.ArgumentParser:
    """The parser, with ``command``'s options (its module imported); the others are
    listed by name and summary only."""
    parser = argparse.ArgumentParser(
        # Usage lines name the command as it was typed: the console script or -m.
        prog=command_name(),
        description="Export a Redis Enterprise Software database and wait for it to finish.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module, summary) in COMMANDS.items():
        if name != command:
            subparsers.add_parser(name, help=summary)
            continue
        found = _module(module)
        options = subparsers.add_parser(
            name, help=summary, description=found.DESCRIPTION, epilog=found.EPILOG
        )
        found.add_options(options, environ)
    return parser


class Command(Protocol):
    """What each module in commands/ provides."""

    DESCRIPTION: str
    EPILOG: str

    def add_options(self, parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
        """Add the command's options to its parser."""

    def run(self, args: argparse.Namespace, environ: Mapping[str, str]) -> int:
        """Act on the parsed arguments; the exit code."""


def _module(name: str) -> Command:
    return cast(Command, importlib.import_module(f"redis_enterprise_export.commands.{name}"))


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The command is the first word that is not an option: only its module is loaded.
    command = next((a for a in args_list if not a.startswith("-")), None)
    args = build_parser(env, command if command in COMMANDS else None).parse_args(args_list)
    module = _module(COMMANDS[args.command][0])
    try:
        code = module.run(args, env)
    except ExportError as exc:
        # What a command leaves to the CLI, e.g. an optional package not installed.
        print(error_lines(exc), file=sys.stderr)
        return exc.exit_code
    return code
