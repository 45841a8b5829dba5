"""``drill``: import an export's files into a scratch database and check its key
count, recording the outcome whatever happens (see ``drill``).

Run by Terraform's local-exec right after its export (the ``DatabaseDrill``
construct), or by hand with ``--config`` and ``--name`` after an export ran.
The scratch database's content is ERASED: the config names it twice.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from contextlib import ExitStack, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from redis_enterprise_export.commands.common import (
    add_record_options,
    append_to_summary,
    conclude,
    utc_now,
    write_record,
)
from redis_enterprise_export.contract import (
    DRILL_ENV,
    EXPORT_RESULT_ENV,
    SPEC_ENV,
    DrillResult,
    Result,
    outcome_status,
    result_path,
    unpack_spec,
)
from redis_enterprise_export.errors import (
    ConfigError,
    ExitCode,
    InterruptedExportError,
    InterruptedImportError,
)
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.run.supervise import guarded, outcome_message, supervised
from redis_enterprise_export.spec.values import read_bounded

if TYPE_CHECKING:
    from redis_enterprise_export.run.drill import Drill
    from redis_enterprise_export.spec.drill import DrillSpec
    from redis_enterprise_export.spec.export import ExportSpec

DESCRIPTION = (
    "A restore drill: import the files the export of drill NAME wrote into the drill's "
    "scratch database (ERASING its content), then check that the scratch database holds "
    "the key count the source held at export time, within the drill's tolerance. The "
    f"drill comes from --config and --name, or from ${DRILL_ENV} and ${SPEC_ENV} (what "
    "Terraform passes); the export's record from --export-result."
)
MEANINGS = {
    ExitCode.OK: "the export loaded and its key count matched",
    ExitCode.INTERNAL: "internal error (a bug; please report it)",
    ExitCode.BAD_INPUT: "bad input or local set-up (nothing imported)",
    ExitCode.REFUSED: "the cluster refused (4xx)",
    ExitCode.EXPORT_FAILED: "the drill failed: the import failed, or the key count did not "
    "match, or there was nothing to drill",
    ExitCode.TIMED_OUT: "timed out",
    ExitCode.UNREACHABLE: "cluster unreachable or not speaking the API",
    ExitCode.OUTCOME_UNKNOWN: "lost track of the import: outcome unknown",
    ExitCode.INTERRUPTED: "interrupted",
}


EPILOG = f"exit codes: {ExitCode.describe(MEANINGS)}"


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    # No default file: without --config, the drill is the one Terraform passes.
    parser.add_argument("--config", type=Path, help="a TOML file like exports.toml")
    parser.add_argument("--name", help="with --config: which [drills.NAME] to run")
    parser.add_argument(
        "--export-result",
        type=Path,
        default=environ.get(EXPORT_RESULT_ENV),
        metavar="FILE",
        help="the export's result file, which holds its files and key counts (default: "
        f"${EXPORT_RESULT_ENV}, or with --config the stack's .results/EXPORT.json)",
    )
    add_record_options(parser, environ)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    return supervised(lambda: _drill(args, environ))


def _drill(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    known: dict[str, Any] = {"run_id": args.run_id, "started_at": utc_now()}
    result_file: Path | None = args.result
    drill: Drill | None = None
    secrets: list[str] = []
    cluster = ""
    # The result's retention fields, once the drill proved its export's run.
    retained: dict[str, Any] = {}

    def say(line: str) -> None:
        name = known.get("name", "drill")
        with suppress(OSError):
            print(scrub(f"[drill {name}] {line}", secrets), flush=True)

    def work() -> None:
        nonlocal drill, cluster
        from redis_enterprise_export.polling import Deadline, SystemClock
        from redis_enterprise_export.rs.connect import Credentials, connect
        from redis_enterprise_export.run.drill import Drill
        from redis_enterprise_export.run.locks import Locks
        from redis_enterprise_export.run.logins import signed_in
        from redis_enterprise_export.run.slots import slots_dir

        if result_file is not None:
            write_record(
                result_file, DrillResult(**known, drill_status="running", message="running")
            )
        spec, export = _load(args, environ)
        known.update(name=spec.name, export=spec.export)
        # host[:port], never userinfo: the summary's cluster column, as the export's.
        cluster = urlsplit(export.cluster.url).netloc.rpartition("@")[2]
        exported = _exported(args.export_result or _default_export_result(args, spec), spec)
        known["export_finished_at"] = exported.finished_at
        # The run's one deadline: the identity, the import and the count all spend it.
        deadline = Deadline(SystemClock(), spec.timeout_seconds)
        secrets[:] = export.secrets(environ)
        credentials = Credentials.read(export.cluster, environ, secrets)
        secrets[:] = credentials.secrets
        with ExitStack() as cleanup:
            client = connect(export.cluster, credentials, environ, cleanup, deadline)
            directory = slots_dir(environ)
            identity = signed_in(
                directory, export.cluster, credentials, client, deadline=deadline, report=say
            )
            # The database's lock that exports and restores take too: this machine's,
            # and with coordination = "postgres" every runner's.
            locks = Locks(export.cluster, identity, directory, environ, say, cleanup,
                          doing="drill")  # fmt: skip
            drill = Drill(spec=spec, export=export, exported=exported, client=client,
                          environ=environ, clock=deadline.clock, report=say,
                          gate=locks.database, lock_lost=locks.lost,
                          deadline=deadline)  # fmt: skip
            drill.run()
            if export.retention is not None:
                retained.update(_prove(export, exported, environ, say))

    def interrupted(exc: InterruptedExportError) -> InterruptedImportError:
        posted = drill is not None and drill.job is not None and drill.job.posted
        return InterruptedImportError(exc.signal_name, posted=posted)

    outcome = guarded(work, interrupted)
    proven = drill.proven if drill is not None else ""
    message = scrub(outcome_message(outcome, proven), secrets)
    record = _record(drill, outcome, message, known | retained)
    # The import's reason is the cluster's text: read as sent, shown without secrets.
    record = replace(
        record,
        import_failure_reason=scrub(record.import_failure_reason, secrets),
        retention_note=scrub(record.retention_note, secrets),
    )

    def summarize() -> None:
        if args.summary is not None:
            from redis_enterprise_export.commands.summary import append_drill_summary

            append_to_summary(
                args.summary, lambda path: append_drill_summary(path, record, cluster)
            )

    return conclude(record, outcome, message, result_file, summarize)


def _record(
    drill: Drill | None, outcome: BaseException | None, message: str, known: dict[str, Any]
) -> DrillResult:
    values = dict(known)
    if drill is not None:
        job = drill.job
        values |= {
            "files": list(drill.files),
            "key_tolerance_percent": drill.spec.key_tolerance_percent,
            "keys_loaded": drill.keys_loaded,
            "import_seconds": _rounded(drill.import_seconds),
            "count_seconds": _rounded(drill.count_seconds),
        }
        if drill.expected is not None:
            values |= {
                "keys_expected_min": drill.expected.low,
                "keys_expected_max": drill.expected.high,
            }
        if job is not None:
            values["database_uid"] = job.uid
            if job.state is not None and job.state.phase == "failed":
                values["import_failure_reason"] = job.state.reason
    return DrillResult(
        **values, drill_status=outcome_status(outcome), message=message, finished_at=utc_now()
    )


def _prove(
    export: ExportSpec, exported: Result, environ: Mapping[str, str], say: Callable[[str], None]
) -> dict[str, Any]:
    """Mark the drilled run proven in the export's retention records and prune its older
    files; best effort: a prune's trouble never fails a drill that succeeded."""
    from redis_enterprise_export.run.retention import PruneOutcome, prove

    if not exported.files:
        outcome = PruneOutcome(notes=["retention: the export recorded no files to prove"])
    else:
        outcome = prove(export, environ, files=exported.files, report=say)
    if outcome.note:
        say(outcome.note)
    return outcome.fields()


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _load(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[DrillSpec, ExportSpec]:
    """The drill and its export: from the config, or as the construct passed them."""
    from redis_enterprise_export.spec.drill import DrillSpec

    if args.config is not None:
        from redis_enterprise_export.spec.config import load_config

        config = load_config(args.config)
        drills = {d.name: d for d in config.drills}
        if args.name not in drills:
            raise ConfigError(
                "--name", args.name, "one of the [drills.NAME]: " + ", ".join(drills),
                where=str(args.config),
            )  # fmt: skip
        spec = drills[args.name]
        return spec, next(e for e in config.exports if e.name == spec.export)
    if not environ.get(DRILL_ENV) or not environ.get(SPEC_ENV):
        raise ConfigError("drill", None, f"--config and --name, or ${DRILL_ENV} and ${SPEC_ENV}")
    try:
        spec = DrillSpec.from_dict(json.loads(environ[DRILL_ENV]))
        export = unpack_spec(json.loads(environ[SPEC_ENV]), environ)
    except ConfigError as exc:
        raise exc.within(f"${DRILL_ENV}/${SPEC_ENV}") from None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ConfigError(
            "drill", type(exc).__name__, "a drill as the construct writes it", where=DRILL_ENV
        ) from None
    spec.check_source(export)
    return spec, export


def _default_export_result(args: argparse.Namespace, spec: DrillSpec) -> Path:
    if args.config is None:
        raise ConfigError("--export-result", None, "the export's result file")
    from redis_enterprise_export.commands.synth import default_stack

    return default_stack(args.config) / result_path(spec.export)


def _exported(path: Path, spec: DrillSpec) -> Result:
    """The record of the latest run of the drill's export, as its helper wrote it:
    refused (ConfigError naming the file) if it is another export's, or not shaped as
    a result record, so a wrong file is never blamed on the storage."""
    try:
        data = json.loads(read_bounded(path, "--export-result", "result file").decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        wrong = _misshapen(data, spec)
        if wrong:
            raise ConfigError(
                "--export-result", str(path), f"export {spec.export!r}'s result file ({wrong})"
            )
        return Result.from_dict(data)
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError(
            "--export-result", str(path), "the export's result file (run the export first)"
        ) from None
    except RecursionError:
        raise ConfigError(
            "--export-result", str(path), "a readable result file (nested too deep)"
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError("--export-result", str(path), f"a readable result file ({why})") from None


# The fields a drill reads from its export's record, and the types each may hold.
_TEXT_FIELDS = ("export_status", "finished_at", "files_note", "keys_note")
_COUNT_FIELDS = ("keys_before", "keys_after", "database_uid")


def _misshapen(data: dict[str, Any], spec: DrillSpec) -> str:
    """What is wrong with ``data`` as the record of ``spec``'s export, or ""."""
    name = data.get("name")
    if name != spec.export:
        shown = f"export {name!r}'s" if isinstance(name, str) else f"a record with name {name!r}"
        return f"this is {shown[:120]}, not the record of the drill's export"
    for key in _TEXT_FIELDS:
        if not isinstance(data.get(key, ""), str):
            return f"its {key} is not text"
    for key in _COUNT_FIELDS:
        value = data.get(key)
        if value is not None and (type(value) is not int or value < 0):
            return f"its {key} {value!r:.40} is not a whole number"
    files = data.get("files")
    if files is not None and (
        not isinstance(files, list) or not all(isinstance(f, str) for f in files)
    ):
        return f"its files {files!r:.40} is not a list of file names"
    return ""
