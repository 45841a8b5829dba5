"""What the day-2 commands share: the config they read, and their exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from redis_enterprise_export.contract import RESULT_ENV, RUN_ID_ENV, SUMMARY_ENV
from redis_enterprise_export.errors import (
    ConfigError,
    ExitCode,
    ExportError,
    LocalSetupError,
    error_lines,
)
from redis_enterprise_export.spec.values import parse_duration, parse_time

if TYPE_CHECKING:
    from redis_enterprise_export.commands.inventory import ClusterView
    from redis_enterprise_export.contract import Record
    from redis_enterprise_export.spec.config import ExportsConfig
    from redis_enterprise_export.spec.export import Cluster, ExportSpec

CONFIG_ENV = "REDIS_EXPORT_CONFIG"
# Day-2 commands: 0 all is well, 1 a check failed, 2 bad input, 6 (the helper's
# "unreachable") a cluster could not be read, which outranks 1: what it holds is unknown.
OK, CHECK_FAILED, BAD_INPUT = 0, 1, int(ExitCode.BAD_INPUT)
UNREADABLE = int(ExitCode.UNREACHABLE)
UNREADABLE_MEANING = (
    f"{UNREADABLE} a cluster could not be read (unreachable, TLS, a redirect, refused credentials)"
)


def add_config_arguments(
    parser: argparse.ArgumentParser, environ: Mapping[str, str], *, names: bool = True
) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(environ.get(CONFIG_ENV) or "exports.toml"),
        help=f"the exports file (default: ${CONFIG_ENV}, else ./exports.toml)",
    )
    if not names:
        return
    parser.add_argument(
        "--name",
        action="append",
        metavar="EXPORT",
        help="only this export (repeatable); default: every export in the file",
    )


def load(args: argparse.Namespace) -> tuple[ExportsConfig, list[ExportSpec]]:
    """The whole config, and its exports narrowed to ``--name``; raises ConfigError.

    The config stays whole: coverage is judged against every export it holds."""
    # Here, not at the top: cli builds every parser, the export helper's too, which
    # starts once per export and never reads TOML.
    from redis_enterprise_export.spec.config import load_config

    config = load_config(args.config)
    if not args.name:
        return config, list(config.exports)
    names = [spec.name for spec in config.exports]
    unknown = [name for name in args.name if name not in names]
    if unknown:
        raise ConfigError(
            "--name", unknown[0], "one of " + ", ".join(names), where=str(args.config)
        )
    return config, [spec for spec in config.exports if spec.name in args.name]


def clusters_of(config: ExportsConfig, selected: list[ExportSpec]) -> dict[str, Cluster]:
    """The clusters to read: those the selected exports use (every one without --name)."""
    if len(selected) == len(config.exports):
        return dict(config.clusters)
    return {
        name: cluster
        for name, cluster in config.clusters.items()
        if any(spec.cluster is cluster for spec in selected)
    }


def unread(views: Mapping[str, ClusterView]) -> list[ClusterView]:
    """The clusters whose databases could not be read, for a reason other than an
    unset credentials variable (that is the config's fault, and said elsewhere)."""
    return [
        view
        for view in views.values()
        if not view.databases.ok and not isinstance(view.databases.error, ConfigError)
    ]


def bad_input(exc: ConfigError) -> int:
    print(error_lines(exc), file=sys.stderr)
    return BAD_INPUT


def duration(text: str) -> float:
    """``26h``, ``90m``, ``2d`` or ``3600s`` as seconds (for argparse)."""
    seconds = parse_duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; expected a number and a unit (s, m, h or d), such as 26h or 90m"
        )
    return seconds


# How far a time may lie ahead of this machine's clock (clocks drift) before it is a
# problem: a time in the future proves nothing about a backup's age.
CLOCK_SKEW_SECONDS = 300.0


def age_seconds(text: str, now: datetime) -> float | None:
    """Seconds since ``text``: 0 for a time a little ahead (clock skew), negative for
    one further ahead, which is a problem to report; None if it is not a time."""
    when = parse_time(text)
    if when is None:
        return None
    try:
        age = (now - when).total_seconds()
    except OverflowError:
        return None
    return 0.0 if -CLOCK_SKEW_SECONDS <= age < 0 else age


def hours(seconds: float) -> str:
    """A duration in the unit that shows it: seconds under a minute, minutes under an hour."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def freshness(
    text: str,
    now: datetime,
    max_age: float | None,
    *,
    newest: str,
    none: str,
    field: str,
    clock: str = "the cluster's",
) -> str:
    """The problem with ``text``, the time (``field``) of the ``newest`` good backup, or "".

    ``none`` is the problem when there is no time at all; ``clock`` wrote the time."""
    age = age_seconds(text, now)
    if not text:
        return none
    if age is None:
        return f"{field} {text!r} is not a time this tool can read"
    if age < -CLOCK_SKEW_SECONDS:
        return (
            f"{field} {text} is {hours(-age)} in the future: {clock} clock or this "
            "machine's is wrong, so the backup's age is unknown"
        )
    if max_age is not None and age > max_age:
        return f"{newest} is {hours(age)} old (limit {hours(max_age)})"
    return ""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_record(path: Path, record: Record) -> None:
    """Write a helper's record; LocalSetupError if the file cannot be written."""
    try:
        record.write(path)
    except OSError as exc:
        raise LocalSetupError(f"cannot write the result file {path}: {exc.strerror}") from None


def conclude(
    record: Record,
    outcome: BaseException | None,
    message: str,
    result_file: Path | None,
    summarize: Callable[[], None],
    *,
    recorded_exits_zero: bool = False,
) -> int:
    """Record a run's outcome, add its summary row, say its error; its exit code.

    A record that cannot be written is an outcome too: an unrecordable success is none.
    With ``recorded_exits_zero``, an outcome the record holds exits 0 (the caller
    judges the record).
    """
    recorded = False
    try:
        if result_file is not None:
            write_record(result_file, record)
            recorded = True
    except LocalSetupError as exc:
        # The run's own outcome stays what it was.
        outcome = outcome or exc
        message = f"{message}; and {exc}" if outcome is not exc else str(exc)
    summarize()
    if outcome is None:
        return ExitCode.OK
    with suppress(OSError):  # Terraform may be gone, and our stderr with it
        print(f"error: {message}", file=sys.stderr)
    if recorded and recorded_exits_zero:
        return ExitCode.OK
    return outcome.exit_code if isinstance(outcome, ExportError) else ExitCode.INTERNAL


def append_to_summary(path: Path, append: Callable[[Path], None]) -> None:
    """Append a row to the job summary; best effort: a summary never changes an outcome."""
    try:
        append(path)
    except (OSError, ValueError) as exc:  # ValueError: a file that is not UTF-8
        why = (
            exc.strerror
            if isinstance(exc, OSError)
            else "it is not a regular file: a device, FIFO or folder"
            if isinstance(exc, ConfigError)
            else "it is not UTF-8 text"
        )
        with suppress(OSError):
            print(f"warning: the job summary {path} was not written ({why})", file=sys.stderr)


def add_record_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
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
