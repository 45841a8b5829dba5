"""One failed login per machine, not one per command.

RS locks a user after 5 failed logins in 15 minutes, and a stack of 8 exports with
a wrong password would make 8 at once, and a CI job's preflight, status and
drills more. So every command makes its first request to a cluster under a lock
file, and records in this user's private lock directory whether the cluster
accepted or refused the login. For 15 minutes after a refusal, commands with
the same cluster, user and password fail at once, without asking, until
``logins --clear`` removes the record (once the cluster side is fixed).

A record's name is an HMAC of the three under a random key kept beside the
records, so neither the name nor the file tells anything of the password; a
corrected password is asked about at once. The record itself holds the
normalized URL and the user as shown, for ``logins`` to list.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from redis_enterprise_export.errors import ApiError, LocalSetupError, LoginSkippedError
from redis_enterprise_export.redact import user_shown
from redis_enterprise_export.rs.connect import Credentials, cluster_identity
from redis_enterprise_export.run.slots import private_dir
from redis_enterprise_export.spec.export import normalized_url
from redis_enterprise_export.spec.values import read_bounded

if TYPE_CHECKING:
    from redis_enterprise_export.polling import Deadline
    from redis_enterprise_export.rs.client import RsClient
    from redis_enterprise_export.spec.export import Cluster

T = TypeVar("T")
# RS's default login_lockout_counter_reset_after: failed logins older than this no
# longer count towards a lockout.
REMEMBER_SECONDS = 15 * 60
ACCEPTED, REFUSED = "accepted", "refused"
# The way out, as every message about a refused login says it.
CLEAR_COMMAND = "redis-enterprise-export logins --clear"
KEY_NAME, KEY_BYTES = "key", 32
_RECORD_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Refusal:
    """A refused login this machine remembers: where, as whom, when."""

    path: Path
    url: str
    user: str
    at: float

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(self.at))
        return f"{self.url} refused {self.user} at {when} (recorded in {self.path})"


def first_login(directory: Path, url: str, credentials: Credentials, attempt: Callable[[], T]) -> T:
    """``attempt()``, a command's first request to the cluster at ``url``, made by one
    process at a time until the login is known good.

    Raises LoginSkippedError if the same login was refused lately, and records a
    401 from ``attempt`` before raising it; LocalSetupError if the records cannot
    be kept safely.
    """
    folder = private_dir(directory / "logins")
    record = folder / _record_name(folder, url, credentials)
    shown = user_shown(credentials.user)
    if _known(record) == ACCEPTED:
        return _noting(record, url, shown, attempt, learn=False)
    # The holder makes one request, bounded by its own timeouts; then the rest go on.
    with _held(record.with_name(f"{record.name}.lock")):
        learn = _known(record) != ACCEPTED
        return _noting(record, url, shown, attempt, learn=learn)


def signed_in(
    directory: Path,
    cluster: Cluster,
    credentials: Credentials,
    client: RsClient,
    *,
    deadline: Deadline,
    report: Callable[[str], None],
) -> str:
    """The cluster's identity (``connect.cluster_identity``), read as the run's first
    request, past the login gate: what every command that acts on a database does
    first, so a wrong password costs one failed login per machine, not one per run.
    Its answer keys every lock, whatever the URL's spelling."""
    return first_login(
        directory, cluster.url, credentials, lambda: cluster_identity(client, deadline, report)
    )


def refusals(directory: Path, urls: Iterable[str] | None = None) -> list[Refusal]:
    """The refused logins this machine remembers and still honours: of the clusters at
    ``urls``, else of all."""
    wanted = None if urls is None else {normalized_url(url) for url in urls}
    found = []
    with suppress(OSError):
        for path in sorted((directory / "logins").iterdir()):
            refusal = _refusal(path)
            if refusal is not None and (wanted is None or refusal.url in wanted):
                found.append(refusal)
    return found


def clear(directory: Path, urls: Iterable[str] | None = None) -> list[Refusal]:
    """Forget the refused logins (of the clusters at ``urls``, else all); those forgotten."""
    gone = []
    for refusal in refusals(directory, urls):
        with suppress(FileNotFoundError):
            refusal.path.unlink()
            gone.append(refusal)
    return gone


def _noting(record: Path, url: str, user: str, attempt: Callable[[], T], *, learn: bool) -> T:
    """``attempt()``; a 401 is recorded always, an answer only when ``learn``."""
    try:
        value = attempt()
    except ApiError as exc:
        if exc.http_status == 401:
            _remember(record, REFUSED, url, user)
        elif learn:  # any other answer proves the login
            _remember(record, ACCEPTED, url, user)
        raise
    # A TransportError passes as it is: no answer says nothing of the login.
    if learn:
        _remember(record, ACCEPTED, url, user)
    return value


def _record_name(folder: Path, url: str, credentials: Credentials) -> str:
    token = "\0".join((normalized_url(url), credentials.user, credentials.password))
    return hmac.new(_key(folder), token.encode(), hashlib.sha256).hexdigest()[:32]


def _key(folder: Path) -> bytes:
    """This machine's key for record names: made once, atomically, mode 0600."""
    path = folder / KEY_NAME
    try:
        with suppress(FileExistsError):
            _make_key(path)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            key = file.read(KEY_BYTES + 1)
    except OSError as exc:
        raise LocalSetupError(
            f"cannot use the login records' key {path} ({exc.strerror})"
        ) from None
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        problem = f"is not a private file of this user (mode {stat.S_IMODE(info.st_mode):o})"
    elif len(key) != KEY_BYTES:
        problem = f"holds {len(key)} bytes, not {KEY_BYTES}"
    else:
        return key
    raise LocalSetupError(f"the login records' key {path} {problem}: remove it")


def _make_key(path: Path) -> None:
    """Write a new key beside ``path`` and link it into place: it appears whole or not
    at all, and a key another process made first stays (FileExistsError)."""
    if path.exists() or path.is_symlink():
        raise FileExistsError(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with suppress(FileNotFoundError):  # left by a killed process with this pid
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(KEY_BYTES))
        os.link(tmp, path)
    finally:
        tmp.unlink()


@contextmanager
def _held(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock; again on the new file if pruning replaced it meanwhile."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with suppress(FileNotFoundError):
                if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                    yield
                    return
        finally:
            os.close(fd)  # releases the lock


def _read(path: Path) -> tuple[float, dict[str, str]] | None:
    """A record's age and content, if it is recent and readable."""
    try:
        age = time.time() - path.stat(follow_symlinks=False).st_mtime
        content = json.loads(read_bounded(path, "file", "login record", limit=64 * 1024))
    except (OSError, ValueError):
        return None
    if not 0 <= age < REMEMBER_SECONDS or not isinstance(content, dict):
        return None
    return age, content


def _refusal(path: Path) -> Refusal | None:
    if not set(path.name) <= _RECORD_CHARS:
        return None
    read = _read(path)
    if read is None or read[1].get("outcome") != REFUSED:
        return None
    age, content = read
    return Refusal(path, str(content.get("url")), str(content.get("user")), time.time() - age)


def _known(record: Path) -> str:
    """ACCEPTED or REFUSED if ``record`` says so and is recent; raises on REFUSED."""
    refusal = _refusal(record)
    if refusal is not None:
        raise LoginSkippedError(
            f"not signing in to {refusal.url} as {refusal.user}: the cluster refused this user "
            f"and password (401) at {time.strftime('%H:%M:%S UTC', time.gmtime(refusal.at))}, "
            "and RS locks a user after 5 failed logins in 15 minutes. Fix the password "
            "variable (a changed password is tried at once); or, once the cluster accepts "
            f"them again, run: {CLEAR_COMMAND}",
            refusal=refusal.describe(),
        )
    read = _read(record)
    return str(read[1].get("outcome", "")) if read else ""


def _remember(record: Path, outcome: str, url: str, user: str) -> None:
    tmp = record.with_name(f".{record.name}.{os.getpid()}")
    content = {"outcome": outcome, "url": normalized_url(url), "user": user}
    with suppress(OSError):  # best effort: without it, each command asks for itself
        _prune(record.parent)
        tmp.write_text(json.dumps(content), encoding="utf-8")
        os.replace(tmp, record)


def _prune(folder: Path) -> None:
    """Remove the records older than REMEMBER_SECONDS, and their lock files when free."""
    now = time.time()
    for path in folder.iterdir():
        if path.name == KEY_NAME:
            continue
        with suppress(OSError):
            if now - path.stat(follow_symlinks=False).st_mtime < REMEMBER_SECONDS:
                continue
            if not path.name.endswith(".lock"):
                path.unlink()
                continue
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:  # only a lock nobody holds; _held notices a replaced one
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()
            finally:
                os.close(fd)
