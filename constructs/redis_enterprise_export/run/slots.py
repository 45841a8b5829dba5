"""Locks the helpers on one machine share: a lock per database, and per-cluster export slots.

RS runs only a few backups at once (``max_simultaneous_backups``, 4 by default).
That exports count against it and that RS answers 409 to the rest is assumed,
unconfirmed (RS documents neither; see docs/unconfirmed.md). If so, without
coordination a fleet of helpers storms the cluster with POSTs that each back off
blindly. Instead, a helper holds one of N
lock files per cluster for its whole export; the others wait their turn,
without a request: the first waiter in line (another lock) looks for a freed slot
every few milliseconds, the rest seldom, so a slot passes on at once at little
cost. Before all that a helper holds its database's lock, from the first status
read to the last, so two exports of one database on this machine never
interleave and neither can take the other's outcome for its own. Every lock is
keyed by the cluster's identity (``connect.cluster_identity``: its own name and
creation time), so stacks that spell its URL differently still share them, and two
clusters of one name (clones) do not.

``flock`` locks vanish with their process, even on SIGKILL, so a crashed helper
never keeps one. The locks live in a private directory of the user running the
helper (``slots_dir``): another local user can neither plant links there nor
hold its locks.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from redis_enterprise_export.contract import SLOTS_ENV
from redis_enterprise_export.errors import LocalSetupError
from redis_enterprise_export.polling import Deadline, Turn

# How often a waiting helper looks for a free lock: local and cheap, and short
# against a handover that otherwise idles a cluster slot.
WAIT_SECONDS = 0.05
# How often the first waiter in line looks for a free slot: a freed slot idles
# until someone looks. Only that one waiter looks this often, so a fleet of waiters
# costs one process's polling, not one per waiter.
HEAD_WAIT_SECONDS = 0.005


def slots_dir(environ: Mapping[str, str]) -> Path:
    """This user's private lock directory, created if needed and checked.

    ``$REDIS_EXPORT_SLOTS_DIR`` if set; else ``$XDG_RUNTIME_DIR/redis-enterprise-export``
    (a per-user tmpfs on systemd machines); else a ``-<uid>`` directory in the
    system's temporary directory. Raises LocalSetupError if it is not safe to use.
    """
    if environ.get(SLOTS_ENV):
        path = Path(environ[SLOTS_ENV])
    elif environ.get("XDG_RUNTIME_DIR"):
        path = Path(environ["XDG_RUNTIME_DIR"]) / "redis-enterprise-export"
    else:
        path = Path(tempfile.gettempdir()) / f"redis-enterprise-export-{os.getuid()}"
    return private_dir(path)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can use: made with mode 0700 if missing,
    else checked with ``lstat`` (a real directory, ours, not writable by others)."""
    try:
        with suppress(FileExistsError):  # a file in the way: lstat below says so
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise LocalSetupError(
            f"cannot use {path} for export locks ({exc.strerror}); set {SLOTS_ENV} to a "
            "directory of your own"
        ) from None
    problem = ""
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != os.getuid():
        problem = f"belongs to uid {info.st_uid}, not to this user ({os.getuid()})"
    elif info.st_mode & 0o022:
        problem = f"is writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise LocalSetupError(
            f"the export lock directory {path} {problem}: another user could hold or redirect "
            f"its locks. Remove it, or set {SLOTS_ENV} to a directory of your own (mode 0700)"
        )
    return path


def _cluster_dir(directory: Path, cluster: str) -> Path:
    key = hashlib.sha256(cluster.encode()).hexdigest()[:16]
    return private_dir(directory / key)


def _open_lock(path: Path) -> int:
    """The lock file's descriptor; never through a symbolic link."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LocalSetupError(f"cannot open the lock file {path} ({exc.strerror})") from None


def _try_lock(path: Path) -> int | None:
    """The descriptor holding ``path``'s lock, or None if another process holds it."""
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def database_lock(
    directory: Path,
    cluster: str,
    database: int,
    deadline: Deadline,
    *,
    on_wait: Callable[[], None] = lambda: None,
) -> Iterator[None]:
    """Hold the lock of one database of one cluster for the block."""
    path = _cluster_dir(directory, cluster) / f"database-{database}.lock"
    turn = Turn(deadline, database, "this machine's other export, drill or restore of it", on_wait)
    while (fd := _try_lock(path)) is None:
        turn.not_yet()
        deadline.sleep(WAIT_SECONDS)
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def export_slot(
    directory: Path,
    cluster: str,
    limit: int,
    deadline: Deadline,
    *,
    database: int,
    on_wait: Callable[[], None] = lambda: None,
) -> Iterator[int | None]:
    """Hold one of ``limit`` slots of the cluster ``cluster`` identifies; 0 means no limit.

    Yields the slot's number, or None without a limit.
    """
    if limit <= 0:
        yield None
        return
    folder = _cluster_dir(directory, cluster)
    turn = Turn(deadline, database, "an export slot", on_wait)
    # First in line: a lock of its own, so it dies with a killed waiter too.
    head: int | None = None
    try:
        while True:
            for number in random.sample(range(limit), limit):
                fd = _try_lock(folder / f"slot-{number}")
                if fd is None:
                    continue
                if head is not None:
                    os.close(head)  # the next waiter moves up, before this export runs
                    head = None
                try:
                    yield number
                finally:
                    os.close(fd)  # releases the lock
                return
            turn.not_yet()
            if head is None:
                head = _try_lock(folder / "next-in-line")
            deadline.sleep(WAIT_SECONDS if head is None else HEAD_WAIT_SECONDS)
    finally:
        if head is not None:
            os.close(head)
