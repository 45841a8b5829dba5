"""``export``: run one export and record its outcome, whatever happens.

A result file is written on every path: first a ``running`` record, so a
previous run's file never looks current, then the outcome.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from redis_enterprise_export.commands.common import (
    append_to_summary,
    conclude,
    utc_now,
    write_record,
)
from redis_enterprise_export.contract import SPEC_ENV, Result, unpack_spec
from redis_enterprise_export.errors import ConfigError, InterruptedExportError
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.run.supervise import guarded, outcome_message, supervised
from redis_enterprise_export.spec.export import ExportSpec

if TYPE_CHECKING:
    from redis_enterprise_export.run.export import ExportJob


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
        with ExitStack() as cleanup:
            if result_file is not None:
                write_record(
                    result_file, Result(**known, export_status="running", message="running")
                )
            spec = _load_spec(args, environ)
            known.update(name=spec.name, location=spec.location.describe())
            secrets[:] = [environ.get(spec.cluster.password_env, ""), *spec.secrets(environ)]
            # host[:port], never userinfo: the summary's cluster column.
            cluster = urlsplit(spec.cluster.url).netloc.rpartition("@")[2]
            job = _make_job(spec, environ, cleanup, secrets)
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

    return conclude(record, outcome, message, result_file, summarize)


def _load_spec(args: argparse.Namespace, environ: Mapping[str, str]) -> ExportSpec:
    if args.config is not None:
        from redis_enterprise_export.spec.config import load_config

        config = load_config(args.config)
        names = [e.name for e in config.exports]
        for spec in config.exports:
            if spec.name == args.name:
                return spec
        raise ConfigError("--name", args.name, "one of " + ", ".join(names), where=str(args.config))
    if args.spec is not None:
        where = str(args.spec)
        try:
            text = args.spec.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--spec", where, f"a readable JSON file ({exc})") from None
    elif environ.get(SPEC_ENV):
        text, where = environ[SPEC_ENV], SPEC_ENV
    else:
        raise ConfigError("spec", None, f"--config and --name, --spec FILE, or ${SPEC_ENV}")
    try:
        return unpack_spec(json.loads(text), environ)
    except ConfigError as exc:
        raise exc.within(where) from None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ConfigError(
            "spec", type(exc).__name__, "a spec as the construct writes it", where=where
        ) from None


def _make_job(
    spec: ExportSpec, environ: Mapping[str, str], cleanup: ExitStack, secrets: list[str]
) -> ExportJob:
    # Imported here, not at the top, so --help and input errors stay instant.
    from redis_enterprise_export.polling import Deadline, SystemClock
    from redis_enterprise_export.rs.connect import cluster_identity, connect
    from redis_enterprise_export.run.coordination import PgLocks, cluster_turn
    from redis_enterprise_export.run.export import ExportJob
    from redis_enterprise_export.run.logins import first_login
    from redis_enterprise_export.run.slots import database_lock, export_slot, slots_dir
    from redis_enterprise_export.spec.values import resolve_env

    cluster = spec.cluster
    client = connect(cluster, environ, cleanup, spec.secrets(environ))

    def report(line: str) -> None:
        _say(scrub(f"[{spec.name}] {line}", secrets))

    directory = slots_dir(environ)
    limit = cluster.max_concurrent_exports
    # The first request: one helper at a time until the login is known good, so a
    # wrong password costs one failed login per machine, not one per export. Its
    # answer, the cluster's name, keys every lock, whatever the URL's spelling.
    password = resolve_env("password_env", cluster.password_env, environ)
    spec.request_body(environ)  # a missing secret fails here, before any request
    start = Deadline(SystemClock(), spec.timeout_seconds)
    identity = first_login(
        directory,
        cluster.url,
        client.user,
        password,
        lambda: cluster_identity(client, start, report),
    ) or cluster_identity(client, start, report)
    pg = PgLocks(environ, report) if cluster.coordination == "postgres" else None
    if pg is not None:
        cleanup.callback(pg.close)

    def waiting(what: str) -> Callable[[], None]:
        return lambda: report(f"waiting for {what}")

    @contextmanager
    def gate(uid: int, deadline: Deadline) -> Iterator[None]:
        # The database first: a helper waiting for it, or settling it, holds no slot.
        other = waiting(f"this machine's other export of database {uid} to end")
        with database_lock(directory, identity, uid, deadline, on_wait=other):
            if pg is None:
                yield
                return
            runner = waiting(f"another runner's export of database {uid} to end")
            with pg.database(identity, uid, deadline, on_wait=runner):
                yield

    @contextmanager
    def slot(uid: int, deadline: Deadline) -> Iterator[None]:
        wait = waiting(f"one of {limit} export slots of {cluster.url}")
        if pg is not None and limit > 0:
            slots: Any = pg.slot(identity, limit, deadline, database=uid, on_wait=wait)
        else:
            slots = export_slot(directory, identity, limit, deadline, database=uid, on_wait=wait)
        with slots:
            yield

    def admit(uid: int, deadline: Deadline) -> None:
        # Asked again before each POST: after a 409, another runner took the
        # place, and posting again without looking would meet the next 409.
        if cluster.coordination == "cluster" and limit > 0:
            busy = waiting(f"{cluster.url} to run fewer than {limit} exports")
            cluster_turn(client, limit, deadline, database=uid, on_wait=busy, report=report)

    return ExportJob(
        spec=spec,
        client=client,
        environ=environ,
        clock=SystemClock(),
        report=report,
        gate=gate,
        slot=slot,
        admit=admit,
    )


def _say(line: str) -> None:
    with suppress(OSError):  # a closed stdout must not stop the export
        print(line, flush=True)
