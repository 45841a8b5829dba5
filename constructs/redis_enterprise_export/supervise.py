"""Process supervision for the helper: a worker that outlives Terraform's SIGKILL, and
signals turned into an exception so the result is always recorded."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import NoReturn

from .errors import ExitCode, InterruptedExportError


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
