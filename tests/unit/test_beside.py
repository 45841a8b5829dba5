"""Work beside a block: its value after the block, its error raised there, no thread left."""

from __future__ import annotations

import threading

import pytest

from redis_enterprise_export.run import beside
from redis_enterprise_export.run.beside import Beside


def test_the_work_runs_during_the_block_and_its_value_is_there_after() -> None:
    """The work waits for the block's signal: it gets it only if both run at once."""
    signal = threading.Event()
    with Beside(lambda: "beside" if signal.wait(5) else "alone") as work:
        signal.set()
    assert work.value == "beside"


def test_an_error_of_the_work_is_raised_at_the_end_of_the_block() -> None:
    """The block ended well, the work did not: its error is not lost in its thread."""

    def fails() -> None:
        raise OSError("the store went away")

    with pytest.raises(OSError, match="the store went away"), Beside(fails):
        pass


def test_no_thread_outlives_a_block_that_ends_well() -> None:
    """A thread left running could touch shared state (random, say) after its block."""
    before = {t.ident for t in threading.enumerate()}
    with Beside(lambda: sum(range(10_000))) as work:
        pass
    assert work.value == sum(range(10_000))
    assert {t.ident for t in threading.enumerate()} <= before


def test_a_failed_block_keeps_its_own_error_and_does_not_wait_for_slow_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The work is still running when the block fails: the block's error comes out, the
    work is abandoned (a daemon), and its value is refused rather than made up."""
    monkeypatch.setattr(beside, "ABANDON_SECONDS", 0.01)
    release = threading.Event()
    with pytest.raises(KeyError), Beside(lambda: release.wait(30)) as work:
        raise KeyError("the block's own")
    try:
        with pytest.raises(RuntimeError, match="did not finish"):
            _ = work.value
    finally:
        release.set()
