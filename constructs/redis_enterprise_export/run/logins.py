"""One failed login per machine, not one per export.

RS locks a user after 5 failed logins in 15 minutes, and a stack of 8 exports with
a wrong password would make 8 at once. So a helper makes its first request under
a lock file, and records in this user's private lock directory whether the
cluster accepted or refused the login. For 15 minutes after a refusal, helpers
with the same cluster, user and password fail at once, without asking. The
record's name is a hash of the three (never the password itself), so a corrected
password is asked about at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from redis_enterprise_export.errors import ApiError, ConfigError, LoginSkippedError, TransportError
from redis_enterprise_export.rs.connect import Credentials, normalized_url
from redis_enterprise_export.run.slots import private_dir
from redis_enterprise_export.spec.values import read_bounded

T = TypeVar("T")
# RS's default login_lockout_counter_reset_after: failed logins older than this no
# longer count towards a lockout.
REMEMBER_SECONDS = 15 * 60
ACCEPTED, REFUSED = "accepted", "refused"


def first_login(
    directory: Path, url: str, credentials: Credentials, attempt: Callable[[], T]
) -> T | None:
    """``attempt()`` (the helper's first request), made by one helper at a time until
    the login is known good; None if it was not needed or not answered.

    Raises LoginSkippedError if the same login was refused lately, and records a
    401 from ``attempt`` before raising it.
    """
    user = credentials.user
    token = "\0".join(
        ("redis-enterprise-export-login", normalized_url(url), user, credentials.password)
    )
    record = private_dir(directory / "logins") / hashlib.sha256(token.encode()).hexdigest()[:32]
    if _known(record, url, user) == ACCEPTED:
        return None
    fd = os.open(f"{record}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        # The holder makes one request, bounded by its own timeouts; then the rest go on.
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _known(record, url, user) == ACCEPTED:
            return None
        try:
            value = attempt()
        except ApiError as exc:
            _remember(record, REFUSED if exc.http_status == 401 else ACCEPTED)
            raise
        except TransportError:  # no answer: nothing learned about the login
            return None
        _remember(record, ACCEPTED)
        return value
    finally:
        os.close(fd)


def _known(record: Path, url: str, user: str) -> str:
    """ACCEPTED or REFUSED if ``record`` says so and is recent; raises on REFUSED."""
    try:
        age = time.time() - record.stat().st_mtime
        outcome = read_bounded(record, "file", "login record", limit=1024).decode("ascii").strip()
    except (OSError, UnicodeError, ConfigError):
        return ""
    if not 0 <= age < REMEMBER_SECONDS:
        return ""
    if outcome == REFUSED:
        at = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() - age))
        raise LoginSkippedError(
            f"not signing in to {normalized_url(url)} as {user!r}: the cluster refused this "
            f"user and password (401) to another export at {at}, and RS locks a user after 5 "
            "failed logins in 15 minutes; fix the password variable (a changed password is "
            "tried at once)"
        )
    return outcome


def _remember(record: Path, outcome: str) -> None:
    tmp = record.with_name(f".{record.name}.{os.getpid()}")
    with suppress(OSError):  # best effort: without it, each helper asks for itself
        tmp.write_text(outcome, encoding="ascii")
        os.replace(tmp, record)
