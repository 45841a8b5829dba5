"""Work that runs beside a block, so a phase costs the longer of the two, not their sum."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

# How long a block that failed waits for the work beside it: its outcome no longer
# matters, and the error must not wait on, say, a slow store's listing.
ABANDON_SECONDS = 1.0


class Beside(Generic[T]):
    """``with Beside(work) as beside: ...`` runs ``work`` in a thread during the block.

    The block's end waits for it, so no thread outlives the block; ``value`` is what
    ``work`` returned, and an error it raised is raised there. A block that raises waits
    at most ``ABANDON_SECONDS``, and its own error is the one that counts.
    """

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._value: T | None = None
        self._error: BaseException | None = None
        # A daemon: work abandoned by a failed block never keeps the helper alive.
        self._thread = threading.Thread(target=self._run, name="beside", daemon=True)

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # handed to the block's thread, raised there
            self._error = exc

    def __enter__(self) -> Beside[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.join(None if exc_type is None else ABANDON_SECONDS)
        if exc_type is None and self._error is not None:
            raise self._error

    @property
    def value(self) -> T:
        """What the work returned; only after a block that ended without an error."""
        if self._thread.is_alive() or self._error is not None:
            raise RuntimeError("the work beside the block did not finish")
        return self._value  # type: ignore[return-value]
