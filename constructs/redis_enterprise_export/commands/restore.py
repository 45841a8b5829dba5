"""``restore``: import files of an export's location into one database.

Importing ERASES the database's content, so the database is named twice: ``--into``
and ``--confirm`` the same name, or ``--into`` its uid and ``--confirm`` its name.
Before any POST the target is resolved and shown (uid, name, key count); refused: a
digits-only ``--into`` that is also a database's name, a database that an export of
the config or RS's scheduled backups back up (unless --overwrite-backed-up-database),
and an Active-Active database. The database's lock is the one exports and drills
take, so a restore never runs inside either. Run by a person or a
pipeline step, never by ``terraform apply``. Secrets come from the environment
variables the config names; nothing is written but these lines.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from redis_enterprise_export.commands.common import add_config_arguments, duration
from redis_enterprise_export.errors import (
    ConfigError,
    DatabaseNotFoundError,
    ExitCode,
    ExportError,
    ExportTimeoutError,
    ImportTimeoutError,
    InterruptedExportError,
    InterruptedImportError,
)
from redis_enterprise_export.redact import clipped, scrub
from redis_enterprise_export.run.supervise import guarded, outcome_message

if TYPE_CHECKING:
    from redis_enterprise_export.run.restore import ImportJob, RestoreSpec
    from redis_enterprise_export.spec.export import ExportSpec

DESCRIPTION = (
    "Import FILE from the location of the export --from-export into the database --into "
    "of the cluster --cluster, and follow the import to its end. Importing ERASES all "
    "content of that database: name it twice, --into and --confirm the same name, or --into "
    "its uid and --confirm its name. A database that an export of the config or RS's "
    "scheduled backups back up is refused without --overwrite-backed-up-database. "
    "Active-Active databases are refused (RS would merge, adding counters up). Secrets "
    "come from the environment variables the config names. RS does not say which file an "
    "export wrote: see the README's restore runbook."
)
# The options every restore names: flag, metavar, help.
REQUIRED = (
    ("--cluster", "NAME", "the [clusters.NAME] to restore into"),
    ("--into", "DATABASE", "the database to import into, by name or uid (digits); ITS "
     "CONTENT IS ERASED"),
    ("--confirm", "NAME", "--into's database again, by name: --into's text exactly, or with "
     "a uid in --into that database's name"),
    ("--from-export", "EXPORT", "the [exports.EXPORT] whose location holds the file (its "
     "secrets' variables too)"),
)  # fmt: skip
# What each exit code means for a restore (the export's codes, in the import's words).
MEANINGS = {
    ExitCode.OK: "restored",
    ExitCode.INTERNAL: "internal error (a bug; please report it)",
    ExitCode.BAD_INPUT: "bad input or local set-up, --confirm not the database's name, an "
    "ambiguous or backed-up target, or an Active-Active target (nothing imported)",
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
        "--overwrite-backed-up-database",
        action="store_true",
        help="import even into a database that an export of the config, or RS's own "
        "scheduled backups, back up (a restore into production); without it, refused",
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=3600.0,
        metavar="AGE",
        help="how long to wait for the import: 2h, 90m, 3600s (default: 1h)",
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    # Exact text, before anything else: a guard that forgives a typo guards nothing. A
    # uid's --confirm is checked against its name, read from the cluster before any POST.
    if not UID.match(args.into) and args.confirm != args.into:
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
        from redis_enterprise_export.polling import Deadline, SystemClock, backoff, ride_out
        from redis_enterprise_export.rs.answers import as_uid
        from redis_enterprise_export.rs.connect import Credentials, connect
        from redis_enterprise_export.run.locks import Locks
        from redis_enterprise_export.run.logins import signed_in
        from redis_enterprise_export.run.restore import ImportJob, described
        from redis_enterprise_export.run.slots import slots_dir

        spec, exports = _spec(args)
        secrets[:] = spec.location.secrets(environ)
        spec.request_body(environ)  # a location secret unset fails here, before any request
        credentials = Credentials.read(spec.cluster, environ, secrets)
        secrets[:] = credentials.secrets
        # The run's one deadline: the identity, the target, the lock and the import.
        deadline = Deadline(SystemClock(), spec.timeout_seconds)
        with ExitStack() as cleanup:
            client = connect(spec.cluster, credentials, environ, cleanup, deadline)
            directory = slots_dir(environ)
            identity = signed_in(
                directory, spec.cluster, credentials, client, deadline=deadline, report=say
            )
            rows = ride_out(lambda: client.databases("uid,name,backup"), deadline, backoff(), say)
            row = _target(rows, args.into, args.confirm)
            uid = as_uid(row.get("uid"), "uid", "/v1/bdbs")
            name = row["name"] if isinstance(row.get("name"), str) else ""
            say(f"target: {described(client, uid, name)} of {spec.cluster.url}")
            if not args.overwrite_backed_up_database:
                _refuse_backed_up(row, uid, name, exports)
            say(f"importing {spec.describe()} into database {uid}: this ERASES its content")
            locks = Locks(spec.cluster, identity, directory, environ, say, cleanup,
                          doing="restore")  # fmt: skip
            job = ImportJob(spec=replace(spec, database=uid, name=name), client=client,
                            environ=environ, clock=deadline.clock, report=say, deadline=deadline,
                            gate=locks.database, lock_lost=locks.lost)  # fmt: skip
            try:
                state = job.run()
            except ExportTimeoutError as exc:
                # A lock's wait raises an export's timeout: this run is an import.
                raise exc.as_kind(ImportTimeoutError) from None
        say(f"database {state.uid} ({state.name!r}) now holds the file's data")

    def interrupted(exc: InterruptedExportError) -> InterruptedImportError:
        return InterruptedImportError(exc.signal_name, posted=job is not None and job.posted)

    outcome = guarded(work, interrupted)
    if outcome is None:
        return ExitCode.OK
    _error(scrub(outcome_message(outcome, "restored"), secrets))
    return outcome.exit_code if isinstance(outcome, ExportError) else ExitCode.INTERNAL


def _spec(args: argparse.Namespace) -> tuple[RestoreSpec, list[ExportSpec]]:
    """The restore the arguments ask for, from the config, and the config's exports of
    its cluster (whose databases a restore overwrites only when told); raises ConfigError."""
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
    spec = RestoreSpec(
        cluster=cluster,
        database=int(into) if UID.match(into) else into,
        location=export.location,
        files=tuple(args.file),
        timeout_seconds=args.timeout,
    )
    return spec, [e for e in config.exports if e.cluster.same_as(cluster)]


def _target(rows: list[dict[str, Any]], into: str, confirm: str) -> dict[str, Any]:
    """The database ``--into`` names, of ``rows`` (``GET /v1/bdbs``), once the names
    agree: a name is looked up as it is (``--confirm`` is its text, checked already); a
    uid must not also be some database's name, and ``--confirm`` must be its name."""
    from redis_enterprise_export.rs.answers import pick_database, row_uid

    advice = "name a database the cluster has in --into and --confirm; nothing was imported"
    if not UID.match(into):
        try:
            return pick_database(rows, into)
        except DatabaseNotFoundError as exc:
            raise exc.advised(advice) from None
    uid = int(into)
    named = [row for row in rows if row.get("name") == into]
    by_uid = [row for row in rows if row_uid(row) == uid]
    if named and named != by_uid:
        found = f"uid {uid} ({by_uid[0].get('name')!r})" if by_uid else "no database's uid"
        others = ", ".join(str(row_uid(row)) for row in named)
        raise ConfigError(
            "--into",
            into,
            f"one database: {into!r} is {found}, and the name of database {others}; importing "
            "ERASES the database, so name it unambiguously: for the one named "
            f"{into!r}, its uid in --into and its name in --confirm (--into {row_uid(named[0])} "
            f"--confirm {into}); nothing was imported",
        )
    try:
        row = pick_database(rows, uid)
    except DatabaseNotFoundError as exc:
        raise exc.advised(advice) from None
    name = row.get("name")
    if confirm != name:
        raise ConfigError(
            "--confirm",
            confirm,
            f"the name of database {uid}, {clipped(str(name), 80)!r}: with a uid in --into, "
            "--confirm names the database in words, as importing ERASES it; nothing was "
            "imported",
        )
    return row


def _refuse_backed_up(row: dict[str, Any], uid: int, name: str, exports: list[ExportSpec]) -> None:
    """Refuse a database that is backed up, by an export of the config or by RS's own
    scheduled backups: its content is what someone keeps, and a restore ERASES it."""
    why = [
        f"export {spec.name!r} of the config exports it"
        for spec in exports
        if spec.database in (uid, name)
    ]
    if row.get("backup") is True:
        why.append("RS backs it up on a schedule (backup: true)")
    if why:
        raise ConfigError(
            "--into",
            name,
            "a database that nothing backs up, or --overwrite-backed-up-database: database "
            f"{uid} is backed up ({'; '.join(why)}), so its content is likely kept on "
            "purpose; to overwrite it (a restore into production, say), add "
            "--overwrite-backed-up-database; nothing was imported",
        )


def _shown(text: str, limit: int = 100) -> str:
    """A value from the command line for a message: quoted, escaped, at most ``limit``
    characters once escaped (an escape can be 10 characters for one)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _say(line: str) -> None:
    with suppress(OSError):
        print(line, flush=True)


def _error(line: str) -> None:
    with suppress(OSError):
        print(f"error: {line}", file=sys.stderr)
