"""``python -m redis_enterprise_export export``: the helper Terraform's local-exec runs.

It must start fast (once per export): it imports requests and this package's
pure modules, never cdktf or jsii.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import (
    ApiError,
    ConfigError,
    ExportError,
    ExportFailedError,
    ExportTimeoutError,
    InterruptedExportError,
)
from .models import Cluster, ExportSpec, resolve_env

if TYPE_CHECKING:
    from .export import ExportJob

SPEC_ENV = "REDIS_EXPORT_SPEC"
RESULT_ENV = "REDIS_EXPORT_RESULT"
RUN_ID_ENV = "REDIS_EXPORT_RUN_ID"
INSECURE_ENV = "REDIS_ENTERPRISE_INSECURE"
SLOTS_ENV = "REDIS_EXPORT_SLOTS_DIR"


class ExitCode(IntEnum):
    OK = 0
    BAD_INPUT = 2
    REFUSED = 3  # the cluster answered the request with an error
    EXPORT_FAILED = 4
    TIMED_OUT = 5
    UNREACHABLE = 6  # no usable answer: connection, TLS or protocol trouble
    INTERRUPTED = 130


def exit_code(error: ExportError) -> ExitCode:
    if isinstance(error, ConfigError):
        return ExitCode.BAD_INPUT
    if isinstance(error, ApiError):
        return ExitCode.REFUSED
    if isinstance(error, ExportFailedError):
        return ExitCode.EXPORT_FAILED
    if isinstance(error, ExportTimeoutError):
        return ExitCode.TIMED_OUT
    if isinstance(error, InterruptedExportError):
        return ExitCode.INTERRUPTED
    return ExitCode.UNREACHABLE


def build_parser() -> argparse.ArgumentParser:
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
        epilog=(
            "exit codes: 0 succeeded, 2 bad input, 3 the cluster refused (4xx), "
            "4 the export failed, 5 timed out, 6 cluster unreachable, 130 interrupted"
        ),
    )
    source = export.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="a TOML file like exports.toml")
    source.add_argument("--spec", type=Path, help="a JSON spec as the construct synthesizes")
    export.add_argument("--name", help="with --config: which [exports.NAME] to run")
    export.add_argument(
        "--result",
        type=Path,
        default=os.environ.get(RESULT_ENV),
        help=f"write the result JSON here (default: ${RESULT_ENV}; none if unset)",
    )
    export.add_argument(
        "--run-id",
        default=os.environ.get(RUN_ID_ENV, ""),
        help=f"recorded in the result (default: ${RUN_ID_ENV})",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    return _supervised(lambda: _export(args, env))


def _supervised(work: Callable[[], int]) -> int:
    """Run ``work`` in a child process that records its result even if this one is killed.

    Terraform answers Ctrl-C by SIGKILLing the local-exec process about 10 ms
    later, which in 3 of 6 tries came before the helper had written
    ``interrupted``. The child gets SIGTERM when this process dies
    (PR_SET_PDEATHSIG), so it still records the result; this process passes
    SIGINT and SIGTERM on to it and exits with its code.
    """
    if not sys.platform.startswith("linux"):
        return work()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's coverage is its exit code)
        code = 1
        try:
            _die_with(parent)
            code = work()
        except BaseException:
            with suppress(OSError):
                traceback.print_exc()
        finally:
            with suppress(OSError):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: os.kill(child, signum))
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def _die_with(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when ``parent`` dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _export(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    started = _utc_now()
    record: dict[str, Any] = {"run_id": args.run_id, "started_at": started}
    job: ExportJob | None = None
    outcome: ExportError | None = None
    try:
        with _signals_raise(), ExitStack() as cleanup:
            spec = _load_spec(args, environ)
            record |= {"name": spec.name, "location": spec.location.describe()}
            job = _make_job(spec, environ, cleanup)
            job.run()
    except ExportError as exc:
        outcome = exc
    state = job.state if job else None
    if job is not None:
        # Monotonic marks as wall-clock epoch seconds, to line up with other runs.
        offset = time.time() - time.monotonic()
        record |= {
            "database_uid": job.uid,
            "conflicts": job.conflicts,
            "status_reads": job.status_reads,
            "timeline": {k: round(v + offset, 3) for k, v in job.marks.items()},
        }
    if state is not None:
        record |= {
            "export_status": state.export_status,
            "export_progress": state.export_progress,
            "export_failure_reason": state.export_failure_reason,
            "last_export_time": state.last_export_time,
            "database_name": state.name,
        }
    if isinstance(outcome, InterruptedExportError):
        record["export_status"] = "interrupted"
    elif isinstance(outcome, ExportTimeoutError):
        record["export_status"] = "timeout"
    elif outcome is not None and not isinstance(outcome, ExportFailedError):
        record["export_status"] = "error"
    record |= {"finished_at": _utc_now(), "message": str(outcome) if outcome else "exported"}
    if args.result is not None:
        write_result(args.result, _with_defaults(record))
    if outcome is None:
        return ExitCode.OK
    with suppress(OSError):  # Terraform may be gone, and our stderr with it
        print(f"error: {outcome}", file=sys.stderr)
    return exit_code(outcome)


def _with_defaults(record: dict[str, Any]) -> dict[str, Any]:
    """Every key the outputs promise, present in every result."""
    defaults: dict[str, Any] = {
        "name": "",
        "database_uid": None,
        "database_name": "",
        "export_status": "error",
        "export_progress": 0.0,
        "export_failure_reason": "",
        "last_export_time": "",
        "location": "",
        "conflicts": 0,
        "status_reads": 0,
        "timeline": {},
    }
    return defaults | record


def _load_spec(args: argparse.Namespace, environ: Mapping[str, str]) -> ExportSpec:
    if args.config is not None:
        from .config import load_config  # tomllib only when a person runs it by hand

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
        return ExportSpec.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise exc.within(where) from None
        raise ConfigError(
            "spec", type(exc).__name__, f"a spec as the construct writes it ({exc})", where=where
        ) from None


def _make_job(spec: ExportSpec, environ: Mapping[str, str], cleanup: ExitStack) -> ExportJob:
    # Imported here, not at the top, so --help and input errors stay instant.
    from .client import RsClient
    from .export import ExportJob
    from .polling import Deadline, SystemClock
    from .slots import export_slot

    cluster = spec.cluster
    user = resolve_env("username_env", cluster.username_env, environ)
    password = resolve_env("password_env", cluster.password_env, environ)
    verify = _verify(cluster, environ, cleanup)
    client = RsClient(
        cluster.url,
        auth=(user, password),
        verify=verify,
        timeout_seconds=cluster.request_timeout_seconds,
    )
    cleanup.callback(client.close)

    def report(line: str) -> None:
        _say(f"[{spec.name}] {line}")

    def gate(uid: int, deadline: Deadline) -> Any:
        limit = cluster.max_concurrent_exports
        return export_slot(
            _slots_dir(environ),
            cluster.url,
            limit,
            deadline,
            database=uid,
            on_wait=lambda: report(f"waiting for one of {limit} export slots of {cluster.url}"),
        )

    return ExportJob(
        spec=spec,
        client=client,
        environ=environ,
        clock=SystemClock(),
        report=report,
        gate=gate,
    )


def _slots_dir(environ: Mapping[str, str]) -> Path:
    """Machine-wide, so every stack on this machine shares a cluster's slots."""
    if environ.get(SLOTS_ENV):
        return Path(environ[SLOTS_ENV])
    return Path(tempfile.gettempdir()) / f"redis-enterprise-export-{os.getuid()}" / "slots"


def _say(line: str) -> None:
    with suppress(OSError):  # a closed stdout must not stop the export
        print(line, flush=True)


def _verify(cluster: Cluster, environ: Mapping[str, str], cleanup: ExitStack) -> bool | str:
    insecure = environ.get(INSECURE_ENV, "").lower() in ("1", "true", "yes")
    if insecure or not cluster.tls_verify:
        why = f"{INSECURE_ENV}=true" if insecure else "tls_verify = false"
        print(
            f"warning: TLS verification of {cluster.url} is OFF ({why}): anyone on the path "
            "can read the cluster password and the location secrets",
            file=sys.stderr,
        )
        import urllib3  # here, not at the top: the helper loads it with requests anyway

        # urllib3 would repeat that warning on every request.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return False
    if cluster.ca_cert_pem is None:
        return True
    # requests wants a path; the PEM lives in the spec so the stack stays relocatable.
    ca = tempfile.NamedTemporaryFile("w", prefix="rs-ca-", suffix=".pem", delete=False)  # noqa: SIM115
    with ca:
        ca.write(cluster.ca_cert_pem)
    cleanup.callback(Path(ca.name).unlink, missing_ok=True)
    return ca.name


def write_result(path: Path, record: Mapping[str, Any]) -> None:
    """Write the result atomically: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(record, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into InterruptedExportError, so the result is recorded.

    Afterwards both stay ignored until the process exits, a moment later.
    """

    def handler(signum: int, _frame: FrameType | None) -> NoReturn:
        # Once: Ctrl-C reaches us twice (from the terminal and from the supervisor),
        # and a second raise must not cut the result's writing short.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise InterruptedExportError(
            f"interrupted by {signal.Signals(signum).name}; the export may still be running on "
            "the cluster, and the next apply waits for it, then exports again"
        )

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    try:
        yield
    finally:
        # Not the old handlers: the default SIGTERM action would kill us while
        # the result is written, and Terraform's death sends one (PDEATHSIG).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
