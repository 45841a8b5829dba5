"""Process supervision for the helper: a worker that outlives Terraform's SIGKILL,
signals turned into an exception so the result is always recorded, and whatever
ended a command's work turned into its outcome."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import NoReturn

from redis_enterprise_export.errors import (
    ExitCode,
    ExportError,
    InterruptedExportError,
    LocalSetupError,
)


def supervised(work: Callable[[], int]) -> int:
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
        code = int(ExitCode.INTERNAL)
        try:
            _die_with(parent)
            code = work()
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


@contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into InterruptedExportError, so the result is recorded.

    Afterwards both stay ignored until the process exits, a moment later.
    """

    def handler(signum: int, _frame: FrameType | None) -> NoReturn:
        # Once: Ctrl-C reaches us twice (from the terminal and from the supervisor),
        # and a second raise must not cut the result's writing short.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise InterruptedExportError(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    try:
        yield
    finally:
        # Not the old handlers: the default SIGTERM action would kill us while
        # the result is written, and Terraform's death sends one (PDEATHSIG).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def guarded(
    work: Callable[[], None],
    interrupted: Callable[[InterruptedExportError], BaseException],
) -> BaseException | None:
    """Run ``work`` with SIGINT and SIGTERM raised as errors; return what ended it (None:
    it succeeded). ``interrupted`` turns a signal into the outcome, knowing whether the
    work had posted. Nothing the work raises escapes: a bug comes back as its exception,
    to be recorded, its text never printed (see ``outcome_message``)."""
    try:
        with signals_raise():
            work()
    except InterruptedExportError as exc:
        return interrupted(exc)
    except ExportError as exc:
        return exc
    except OSError as exc:
        # A local file or directory the helper needs is unusable; strerror and the
        # file name say which, and neither holds a secret.
        return LocalSetupError(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}")
    except ModuleNotFoundError as exc:
        # Not a bug: the Python that runs the helper lacks one of its packages.
        return LocalSetupError(
            f"the Python running the helper ({sys.executable}) cannot import {exc.name!r}: "
            "install redis-enterprise-export with its dependencies into it, or put a Python "
            "that has them first on Terraform's PATH (or name it: the construct's python)"
        )
    except Exception as exc:
        return exc
    return None


def outcome_message(outcome: BaseException | None, success: str) -> str:
    """The one line that says how the work ended: ``success``, the error's text, or for a
    bug where it happened (its text may hold a secret: never shown)."""
    if outcome is None:
        return success
    if isinstance(outcome, ExportError):
        return str(outcome)
    frame = traceback.extract_tb(outcome.__traceback__)[-1]
    return (
        f"internal error: {type(outcome).__name__} at {Path(frame.filename).name}:{frame.lineno} "
        "(a bug; please report it; its text is not shown, as it may hold a secret)"
    )
