"""The spec's values: names, limits and defaults, and the checks every spec shares
(hosts and URLs, environment variable names, timeouts, file names, times)."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.redact import Redacted, hidden, redact_url

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# Export names become Terraform names, file names and output keys.
EXPORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")


# The export stack's own variable and output: an export of that name would collide.
RESERVED_NAMES = frozenset({"run_id", "exports", "drills"})


# A file of an export's location, by its name alone: no folder (the location says
# where), no control character, at most 255 characters (a file name's limit).
FILE_NAME = re.compile(r"[^/\x00-\x1f\x7f]{1,255}\Z")


FILE_EXPECTED = (
    "a file's name in the export's location: 1-255 characters, no '/', no control "
    "characters, not '.' or '..'"
)


DEFAULT_USERNAME_ENV = "REDIS_ENTERPRISE_USER"


DEFAULT_PASSWORD_ENV = "REDIS_ENTERPRISE_PASSWORD"  # noqa: S105 (a variable name)


DEFAULT_TIMEOUT_SECONDS = 3600


# RS answers status reads in milliseconds; 30 s of silence means a node is in trouble.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30


# RS's own default for max_simultaneous_backups. RS documents it for backups only: that
# exports count against it, and get a 409 beyond it, is assumed, unconfirmed.
DEFAULT_MAX_CONCURRENT_EXPORTS = 4


MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


COORDINATIONS = ("local", "postgres", "cluster")


# The CA reaches each helper in its environment, which Linux caps, with argv, near
# 2 MiB in all (a quarter of the stack limit): half of that is left to the rest.
MAX_CA_BYTES = 1024 * 1024


CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----"
)


def certificate_blocks(pem: object) -> str:
    """The CERTIFICATE blocks of PEM text, and nothing else; "" if there are none."""
    if not isinstance(pem, str):
        return ""
    return "".join(block + "\n" for block in CERTIFICATE.findall(pem))


# A DNS label: 1-63 letters, digits, - or _ (names in private zones use _), no - at an end.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")


def valid_host(host: str) -> bool:
    """Whether ``host`` is an IP address or a DNS name: labels of 1-63 characters,
    253 in all, one trailing dot allowed; non-ASCII names as IDNA allows them."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host.removesuffix(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def split_url(key: str, url: object, expected: str) -> SplitResult:
    """``urlsplit`` plus the port and host checks, as a ConfigError naming ``key``,
    userinfo hidden."""
    if not isinstance(url, str):
        raise ConfigError(key, Redacted(url), expected)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        # ValueError's text may quote a piece of a misspelt password: not shown.
        raise ConfigError(
            key, redact_url(url), f"{expected} (a well-formed host and a port 0-65535)"
        ) from None
    if parts.hostname and not valid_host(parts.hostname):
        raise ConfigError(
            key,
            redact_url(url),
            f"{expected} (a host name of labels of 1-63 letters, digits, - or _, "
            "253 characters in all, or an IP address)",
        )
    return parts


def strings_of(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every string in ``data``, with its dotted key."""
    for key, value in data.items():
        if isinstance(value, str):
            yield prefix + key, value
        elif isinstance(value, Mapping):
            yield from strings_of(value, f"{prefix}{key}.")


def check_text(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, value, "a non-empty string")


def check_optional_text(obj: object, name: str) -> None:
    if getattr(obj, name) is not None:
        check_text(obj, name)


def check_env_name(obj: object, name: str, *, required: bool) -> None:
    value = getattr(obj, name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not ENV_NAME.match(value):
        # A pasted secret is the likeliest wrong value here: never print it.
        raise ConfigError(
            name, hidden(value), "the name of an environment variable (letters, digits, _)"
        )


def resolve_env(name: str, env_name: str, environ: Mapping[str, str]) -> str:
    """The value of the variable ``env_name`` that config key ``name`` points at."""
    value = environ.get(env_name, "")
    if not value:
        raise ConfigError(
            name, env_name, "the name of an environment variable that is set and not empty"
        )
    return value


def resolved(
    data: Mapping[str, Any], environ: Mapping[str, str], prefix: str = ""
) -> dict[str, Any]:
    """``data`` with each ``x_env`` key replaced by ``x`` and the variable's value."""
    body: dict[str, Any] = {}
    for key, value in data.items():
        if key.endswith("_env"):
            body[key.removesuffix("_env")] = resolve_env(prefix + key, value, environ)
        elif isinstance(value, Mapping):
            body[key] = resolved(value, environ, f"{prefix}{key}.")
        else:
            body[key] = value
    return body


def check_timeout(value: object, key: str = "timeout_seconds") -> None:
    """Raise ConfigError naming ``key`` unless ``value`` is a timeout we accept."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_TIMEOUT_SECONDS
    ):
        raise ConfigError(key, value, f"a number of seconds above 0, at most {MAX_TIMEOUT_SECONDS}")


def check_file_name(value: object, key: str = "--file") -> str:
    """``value`` if it names a file in a location; raises ConfigError naming ``key``."""
    if (
        not isinstance(value, str)
        or not FILE_NAME.match(value)
        or value in (".", "..")
        or not value.strip()
    ):
        shown = value[:100] + "…" if isinstance(value, str) and len(value) > 100 else value
        raise ConfigError(key, shown, FILE_EXPECTED)
    return value


# A unit is required: "26" could mean hours as well as seconds.
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_EXPECTED = "a number and a unit (s, m, h or d), such as 26h, 90m or 14d"


def parse_duration(text: object) -> float | None:
    """``26h``, ``90m``, ``2d`` or ``3600s`` as seconds above 0; None for anything else
    (``--max-age`` and a retention's ``keep_within`` share these units)."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    match = _DURATION.match(text.strip().lower())
    if not match or float(match[1]) <= 0:
        return None
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def spelled(value: object) -> str:
    """How TOML spelled ``value``, for a message where 3 and "3" would look alike."""
    return "a number" if isinstance(value, int) else "text"


def parse_time(text: object) -> datetime | None:
    """An ISO 8601 time as an aware time, or None. RS writes UTC (UNCONFIRMED for
    last_export_time and last_backup_time), so a time without a zone is UTC."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# Every file a run is pointed at (a config, a spec, a record, a lock file) is far
# smaller; a larger one, or one that never ends (/dev/zero), is none of them.
MAX_INPUT_FILE_BYTES = 16 * 2**20


def bounded(what: str, limit: int = MAX_INPUT_FILE_BYTES) -> str:
    """What a bounded read allows: "a readable TOML file of at most 16 MiB"."""
    size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"
    return f"a readable {what} of at most {size}"


def open_regular(
    path: Path, flags: int, key: str, expected: str, *, shown: object = None, where: str = ""
) -> int:
    """``os.open`` of ``path``, refused with one ConfigError (``key``, the file as
    ``shown``, ``expected``) unless it is a regular file. Opened non-blocking, so a FIFO
    with no writer answers at once; nothing is read from a device, FIFO or folder.
    An OSError of the open (FileNotFoundError among them) is raised as it is."""
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        value = str(path) if shown is None else shown
        raise ConfigError(key, value, f"{expected}, not a device, FIFO or folder", where=where)
    return fd


def read_bounded(
    path: Path,
    key: str,
    what: str,
    *,
    limit: int = MAX_INPUT_FILE_BYTES,
    shown: object = None,
    where: str = "",
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; anything else
    (a device, a FIFO, a folder, a larger file, a read error) is one ConfigError naming
    ``key``, the file (``shown``, else its path) and what is allowed (``bounded(what)``).
    A missing file raises FileNotFoundError, which means something different to each caller."""
    expected = bounded(what, limit)
    value = str(path) if shown is None else shown
    try:
        fd = open_regular(path, os.O_RDONLY, key, expected, shown=value, where=where)
        with os.fdopen(fd, "rb") as file:
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ConfigError(key, value, f"{expected} ({why})", where=where) from None
    if len(data) > limit:
        raise ConfigError(key, value, expected, where=where)
    return data
