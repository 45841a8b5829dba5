"""``restore``: import files of an export's location into one database.

Importing ERASES the database's content, so the database is named twice
(``--into`` and ``--confirm``, the same text) before anything is read; an
Active-Active database is refused before any POST. Run by a person or a
pipeline step, never by ``terraform apply``. Secrets come from the environment
variables the config names; nothing is written but these lines.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from typing import TYPE_CHECKING

from redis_enterprise_export.commands.common import add_config_arguments, duration
from redis_enterprise_export.errors import (
    ConfigError,
    ExitCode,
    ExportError,
    InterruptedExportError,
    InterruptedImportError,
)
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.run.supervise import guarded, outcome_message

if TYPE_CHECKING:
    from redis_enterprise_export.run.restore import ImportJob, RestoreSpec

DESCRIPTION = (
    "Import FILE from the location of the export --from-export into the database --into "
    "of the cluster --cluster, and follow the import to its end. Importing ERASES all "
    "content of that database: name it twice, with --into and --confirm (the same text). "
    "Active-Active databases are refused (RS would merge, adding counters up). Secrets "
    "come from the environment variables the config names. RS does not say which file an "
    "export wrote: see the README's restore runbook."
)
# The options every restore names: flag, metavar, help.
REQUIRED = (
    ("--cluster", "NAME", "the [clusters.NAME] to restore into"),
    ("--into", "DATABASE", "the database to import into, by name or uid (digits); ITS "
     "CONTENT IS ERASED"),
    ("--confirm", "DATABASE", "--into's database again, exactly"),
    ("--from-export", "EXPORT", "the [exports.EXPORT] whose location holds the file (its "
     "secrets' variables too)"),
)  # fmt: skip
# What each exit code means for a restore (the export's codes, in the import's words).
MEANINGS = {
    ExitCode.OK: "restored",
    ExitCode.INTERNAL: "internal error (a bug; please report it)",
    ExitCode.BAD_INPUT: "bad input or local set-up, --confirm not --into, or an Active-Active "
    "target (nothing imported)",
    ExitCode.REFUSED: "the cluster refused (4xx)",
    ExitCode.EXPORT_FAILED: "the import failed (import_failure_reason)",
    ExitCode.TIMED_OUT: "timed out",
    ExitCode.UNREACHABLE: "cluster unreachable or not speaking the API",
    ExitCode.OUTCOME_UNKNOWN: "lost track of the import: outcome unknown",
    ExitCode.INTERRUPTED: "interrupted",
}
# A uid as RS gives it; any other --into is a database's name.
UID = re.compile(r"[1-9][0-9]{0,17}\Z")


EPILOG = f"exit codes: {ExitCode.describe(MEANINGS)}"


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    add_config_arguments(parser, environ, names=False)
    for flag, metavar, text in REQUIRED:
        parser.add_argument(flag, required=True, metavar=metavar, help=text)
    parser.add_argument(
        "--file",
        required=True,
        action="append",
        metavar="FILE",
        help="the file's name in that location; repeat it for one file per shard",
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=3600.0,
        metavar="AGE",
        help="how long to wait for the import: 2h, 90m, 3600s (default: 1h)",
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    # Exact text, before anything else: a guard that forgives a typo guards nothing.
    if args.confirm != args.into:
        _error(
            f"--confirm {_shown(args.confirm)} is not --into {_shown(args.into)}: importing "
            "ERASES all content of the database --into names, so name it exactly the same "
            "twice; nothing was read or imported"
        )
        return ExitCode.BAD_INPUT
    job: ImportJob | None = None
    # The password and the location's secrets: cluster text is read as sent, and no
    # line this run prints may show one.
    secrets: list[str] = []

    def say(line: str) -> None:
        _say(scrub(f"[restore] {line}", secrets))

    def work() -> None:
        nonlocal job
        from redis_enterprise_export.polling import Deadline, SystemClock
        from redis_enterprise_export.rs.connect import Credentials, connect
        from redis_enterprise_export.run.restore import ImportJob

        spec = _spec(args)
        secrets[:] = spec.location.secrets(environ)
        credentials = Credentials.read(spec.cluster, environ, secrets)
        secrets[:] = credentials.secrets
        say(
            f"importing {spec.describe()} into database {_shown(args.into)} of "
            f"{spec.cluster.url}: this ERASES its content"
        )
        with ExitStack() as cleanup:
            # The run's one deadline: the job's phases and every request spend it.
            deadline = Deadline(SystemClock(), spec.timeout_seconds)
            client = connect(spec.cluster, credentials, environ, cleanup, deadline)
            job = ImportJob(spec=spec, client=client, environ=environ, clock=deadline.clock,
                            report=say, deadline=deadline)  # fmt: skip
            state = job.run()
        say(f"database {state.uid} ({state.name!r}) now holds the file's data")

    def interrupted(exc: InterruptedExportError) -> InterruptedImportError:
        return InterruptedImportError(exc.signal_name, posted=job is not None and job.posted)

    outcome = guarded(work, interrupted)
    if outcome is None:
        return ExitCode.OK
    _error(scrub(outcome_message(outcome, "restored"), secrets))
    return outcome.exit_code if isinstance(outcome, ExportError) else ExitCode.INTERNAL


def _spec(args: argparse.Namespace) -> RestoreSpec:
    """The restore the arguments ask for, from the config; raises ConfigError."""
    from redis_enterprise_export.run.restore import RestoreSpec
    from redis_enterprise_export.spec.config import load_config

    config = load_config(args.config)
    where = str(args.config)
    cluster = config.clusters.get(args.cluster)
    if cluster is None:
        raise ConfigError(
            "--cluster", args.cluster, "one of " + ", ".join(config.clusters), where=where
        )
    export = next((e for e in config.exports if e.name == args.from_export), None)
    if export is None:
        names = ", ".join(e.name for e in config.exports)
        raise ConfigError("--from-export", args.from_export, "one of " + names, where=where)
    into = args.into
    if not into.strip():
        raise ConfigError("--into", into, "a database's name, or its uid")
    return RestoreSpec(
        cluster=cluster,
        database=int(into) if UID.match(into) else into,
        location=export.location,
        files=tuple(args.file),
        timeout_seconds=args.timeout,
    )


def _shown(text: str) -> str:
    """A value from the command line for a message: quoted, one line, bounded."""
    return repr(text if len(text) <= 80 else text[:80] + "…")


def _say(line: str) -> None:
    with suppress(OSError):
        print(line, flush=True)


def _error(line: str) -> None:
    with suppress(OSError):
        print(f"error: {line}", file=sys.stderr)
