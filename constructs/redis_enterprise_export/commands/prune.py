"""``prune``: apply each export's retention policy by hand; ``--dry-run`` lists what
would go and why (see ``run.retention``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from contextlib import suppress

from redis_enterprise_export.commands.common import (
    CHECK_FAILED,
    OK,
    add_config_arguments,
    bad_input,
    load,
)
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.redact import scrub

DESCRIPTION = (
    "Apply the [exports.NAME.retention] policy of every export that has one (or --name): "
    "delete the export's own recorded files that the policy no longer keeps, never the "
    "newest proven run's, never a file the export's records do not hold or that no longer "
    "matches them. With --dry-run, list what would be deleted and why, and delete nothing."
)
EPILOG = (
    "exit codes: 0 done (or nothing to do), 1 a prune could not finish (its records or "
    "location could not be read or written, or another prune of the export held its lock; "
    "a rerun finishes it), 2 bad input"
)


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    add_config_arguments(parser, environ)
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, and why; delete nothing"
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        _config, selected = load(args)
    except ConfigError as exc:
        return bad_input(exc)
    from redis_enterprise_export.run.retention import RetentionError, prune

    with_policy = [spec for spec in selected if spec.retention is not None]
    if not with_policy:
        _say("no export selected has a [retention] table: nothing to prune")
        return OK
    code = OK
    for spec in with_policy:
        assert spec.retention is not None
        secrets = spec.secrets(environ)

        def say(line: str, name: str = spec.name, hidden: list[str] = secrets) -> None:
            _say(scrub(f"[{name}] {line}", hidden))

        try:
            outcome = prune(spec, environ, dry_run=args.dry_run, report=say)
        except RetentionError as exc:
            with suppress(OSError):
                print(scrub(f"error: [{spec.name}] {exc}", secrets), file=sys.stderr)
            code = CHECK_FAILED
            continue
        verb = "would delete" if args.dry_run else "deleted"
        say(f"{spec.retention.describe()}; {spec.describe()}")
        for name, why in outcome.planned:
            if args.dry_run or name in outcome.pruned:
                say(f"{verb} {name}: {why}")
        for note in outcome.notes:
            say(note)
        left = "would keep" if args.dry_run else "kept"
        say(
            f"{left} {outcome.retained_files} files, {outcome.retained_bytes} bytes"
            + (f", the oldest from {outcome.oldest_retained}" if outcome.oldest_retained else "")
        )
        if outcome.unfinished:
            code = CHECK_FAILED
    return code


def _say(line: str) -> None:
    with suppress(OSError):
        print(line, flush=True)
