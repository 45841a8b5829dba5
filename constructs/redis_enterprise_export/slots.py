"""Per-cluster export slots shared by the helpers Terraform runs side by side.

RS runs only a few exports at once (``max_simultaneous_backups``, 4 by default)
and answers 409 to the rest. Without coordination a fleet of helpers storms the
cluster with POSTs that each back off blindly. Instead, a helper holds one of N
lock files per cluster for its whole export; the others wait their turn on the
machine, without a request. ``flock`` locks vanish with their process, even on
SIGKILL, so a crashed helper never keeps a slot.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .contract import SLOTS_ENV
from .errors import ExportTimeoutError
from .polling import Deadline


def slots_dir(environ: Mapping[str, str]) -> Path:
    """Per user, so every stack this user runs on this machine shares a cluster's slots."""
    if environ.get(SLOTS_ENV):
        return Path(environ[SLOTS_ENV])
    return Path(tempfile.gettempdir()) / f"redis-enterprise-export-{os.getuid()}" / "slots"


# How often a waiting helper looks for a free slot: local and cheap, and short
# against a handover that otherwise idles a cluster slot.
WAIT_SECONDS = 0.05


@contextmanager
def export_slot(
    directory: Path,
    cluster_url: str,
    limit: int,
    deadline: Deadline,
    *,
    database: int,
    on_wait: Callable[[], None] = lambda: None,
) -> Iterator[int | None]:
    """Hold one of ``limit`` slots of ``cluster_url`` for the block; 0 means no limit.

    Yields the slot's number, or None without a limit.
    """
    if limit <= 0:
        yield None
        return
    key = hashlib.sha256(cluster_url.encode()).hexdigest()[:16]
    folder = directory / key
    folder.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for number in random.sample(range(limit), limit):
            fd = os.open(folder / f"slot-{number}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield number
            finally:
                os.close(fd)  # releases the lock
            return
        if deadline.expired():
            raise ExportTimeoutError(database, deadline.seconds, "waiting for an export slot")
        if not waited:
            waited = True
            on_wait()
        deadline.sleep(WAIT_SECONDS)
