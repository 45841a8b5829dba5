"""``export``: run one export and record its outcome, whatever happens.

A result file is written on every path: first a ``running`` record, so a
previous run's file never looks current, then the outcome.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from contextlib import ExitStack, suppress
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
from redis_enterprise_export.contract import RECORDED_FAILURE_ENV, SPEC_ENV, Result, unpack_spec
from redis_enterprise_export.errors import ConfigError, ExitCode, InterruptedExportError
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.run.supervise import guarded, outcome_message, supervised
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.spec.values import read_bounded

if TYPE_CHECKING:
    from redis_enterprise_export.run.export import ExportJob


DESCRIPTION = (
    "Start one export and follow it to the end. The spec comes from --config and "
    f"--name, from --spec, or from the {SPEC_ENV} variable (what Terraform passes). "
    "Credentials and location secrets come from the environment variables the "
    "spec names; they are never taken from the command line."
)
EPILOG = f"exit codes: {ExitCode.describe()}"


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="a TOML file like exports.toml")
    source.add_argument("--spec", type=Path, help="a JSON spec as the construct synthesizes")
    parser.add_argument("--name", help="with --config: which [exports.NAME] to run")
    add_record_options(parser, environ)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    return supervised(lambda: _export(args, environ))


def _export(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    known: dict[str, Any] = {"run_id": args.run_id, "started_at": utc_now()}
    result_file: Path | None = args.result
    job: ExportJob | None = None
    cluster = ""
    # The password and the location's secrets: no text from the cluster that this
    # run shows or records may hold one (it is read as sent, and scrubbed here).
    secrets: list[str] = []

    def work() -> None:
        nonlocal job, cluster
        # Imported here, not at the top, so --help and input errors stay instant.
        from redis_enterprise_export.polling import Deadline, SystemClock
        from redis_enterprise_export.rs.connect import Credentials, connect
        from redis_enterprise_export.run.export import prepare

        with ExitStack() as cleanup:
            if result_file is not None:
                write_record(
                    result_file, Result(**known, export_status="running", message="running")
                )
            spec, drilled = _load_spec(args, environ)
            # The run's one deadline: every phase from here on spends it.
            deadline = Deadline(SystemClock(), spec.timeout_seconds)
            known.update(name=spec.name, location=spec.location.describe())
            secrets[:] = spec.secrets(environ)
            credentials = Credentials.read(spec.cluster, environ, secrets)
            secrets[:] = credentials.secrets
            # host[:port], never userinfo: the summary's cluster column.
            cluster = urlsplit(spec.cluster.url).netloc.rpartition("@")[2]
            spec.request_body(environ)  # a missing secret fails here, before any request
            client = connect(spec.cluster, credentials, environ, cleanup, deadline)

            def report(line: str) -> None:
                _say(scrub(f"[{spec.name}] {line}", secrets))

            job = prepare(
                spec, client, credentials=credentials, environ=environ, deadline=deadline,
                report=report, cleanup=cleanup,
            )  # fmt: skip
            job.run_id = args.run_id
            job.drilled = drilled
            job.run()

    def interrupted(exc: InterruptedExportError) -> InterruptedExportError:
        # Only the job knows whether anything was posted: until then, nothing runs.
        posted = job is not None and job.posted
        return exc if posted else InterruptedExportError(exc.signal_name, posted=False)

    outcome = guarded(work, interrupted)
    from redis_enterprise_export.run.export import result_of  # loaded by the work already

    message = scrub(outcome_message(outcome, "exported"), secrets)
    record = result_of(job, outcome, message=message, finished_at=utc_now(), **known)
    record = record.scrubbed(secrets)

    def summarize() -> None:
        if args.summary is not None:
            from redis_enterprise_export.commands.summary import append_summary

            append_to_summary(args.summary, lambda path: append_summary(path, record, cluster))

    # An interrupted run still fails by itself: Terraform is stopping, and the
    # resource it saves tainted is what reruns it.
    judged_by_stack = environ.get(RECORDED_FAILURE_ENV) == "1"
    return conclude(
        record, outcome, message, result_file, summarize,
        recorded_exits_zero=judged_by_stack and not isinstance(outcome, InterruptedExportError),
    )  # fmt: skip


def _load_spec(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[ExportSpec, bool]:
    """The export's spec, and whether the exports file (--config) drills it: then, as in
    the stack, its drill and not this run proves its files."""
    if args.config is not None:
        from redis_enterprise_export.spec.config import load_config

        config = load_config(args.config)
        names = [e.name for e in config.exports]
        for spec in config.exports:
            if spec.name == args.name:
                return spec, any(drill.export == spec.name for drill in config.drills)
        raise ConfigError("--name", args.name, "one of " + ", ".join(names), where=str(args.config))
    if args.spec is not None:
        where = str(args.spec)
        try:
            text = read_bounded(args.spec, "--spec", "JSON file").decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--spec", where, f"a readable JSON file ({exc})") from None
    elif environ.get(SPEC_ENV):
        text, where = environ[SPEC_ENV], SPEC_ENV
    else:
        raise ConfigError("spec", None, f"--config and --name, --spec FILE, or ${SPEC_ENV}")
    try:
        return unpack_spec(json.loads(text), environ), False
    except ConfigError as exc:
        raise exc.within(where) from None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ConfigError(
            "spec", type(exc).__name__, "a spec as the construct writes it", where=where
        ) from None


def _say(line: str) -> None:
    with suppress(OSError):  # a closed stdout must not stop the export
        print(line, flush=True)
