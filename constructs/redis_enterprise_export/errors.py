"""The package's error tree; only the CLI turns these into exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any


class ExportError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ExportError, ValueError):
    """Raised when a config value or construct prop is not allowed.

    The message names where the value came from (``where``, e.g. a file and
    table, or a construct id), the key, the value received and what is allowed.
    """

    def __init__(
        self, key: str, value: Any, expected: str, *, where: str = "", hint: str = ""
    ) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        self.where = where
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        place = f"{self.where}: " if self.where else ""
        shown = "nothing" if self.value is _MISSING else repr(self.value)
        text = f"{place}{self.key}: got {shown}; expected {self.expected}"
        return f"{text} ({self.hint})" if self.hint else text

    def within(self, where: str, prefix: str = "") -> ConfigError:
        """Return this error placed inside ``where``, its key under ``prefix``."""
        key = f"{prefix}.{self.key}" if prefix else self.key
        return ConfigError(key, self.value, self.expected, where=where, hint=self.hint)

    @classmethod
    def missing(cls, key: str, expected: str) -> ConfigError:
        return cls(key, _MISSING, expected)

    @classmethod
    def unknown_key(cls, key: str, allowed: Iterable[str]) -> ConfigError:
        allowed = sorted(allowed)
        close = get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else ""
        return cls(key, _UNKNOWN, "one of " + ", ".join(allowed), hint=hint)


class _Marker:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_MISSING: Any = _Marker("nothing")
_UNKNOWN: Any = _Marker("an unknown key")


class ApiError(ExportError):
    """Raised when the cluster answers a request with an error status.

    Carries the status, the method and path, RS's ``error_code`` and its human
    text (from ``description`` or, on older clusters, ``message``).
    """

    def __init__(
        self,
        status: int,
        method: str,
        path: str,
        *,
        error_code: str = "",
        description: str = "",
        hint: str = "",
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.error_code = error_code
        self.description = description
        self.hint = hint
        detail = ": ".join(part for part in (error_code, description) if part)
        text = f"{method} {path} answered {status}" + (f" ({detail})" if detail else "")
        super().__init__(f"{text}. {hint}" if hint else text)


class ClusterBusyError(ApiError):
    """Raised on 409: the database is busy with another action; retrying later helps."""


class TransportError(ExportError):
    """Raised when the cluster could not be reached or did not answer in time.

    ``maybe_sent`` is False only when the connection was never made, so the
    request surely did not reach the cluster.
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        self.maybe_sent = maybe_sent
        super().__init__(message)


class TlsError(TransportError):
    """Raised when the cluster's certificate does not verify; asking again cannot help."""


class ProtocolError(ExportError):
    """Raised when the cluster's answer is not what the API documents."""


class ExportFailedError(ExportError):
    """Raised when the cluster reports ``export_status: failed``."""

    def __init__(self, database: int, reason: str) -> None:
        self.database = database
        self.reason = reason
        super().__init__(
            f"export of database {database} failed: export_failure_reason "
            f"{reason or '(empty)'!r}. {_FAILURE_HINTS.get(reason, '')}".rstrip()
        )


_FAILURE_HINTS = {
    "no-permission": "The cluster could not write to the location: check its credentials "
    "and that they allow writes.",
    "wrong-file-path": "The location's path, bucket, container or subdir does not exist "
    "or is mistyped.",
    "general-error": "The cluster's event log says more (Cluster > Logs in the admin console).",
}


class ExportTimeoutError(ExportError):
    """Raised when the export did not finish within its deadline."""

    def __init__(self, database: int, seconds: float, last_status: str) -> None:
        self.database = database
        self.seconds = seconds
        super().__init__(
            f"export of database {database} did not finish within {seconds:g} s "
            f"(last export_status {last_status!r}); raise timeout_seconds or check the "
            "cluster. The export may still finish on the cluster."
        )


class InterruptedExportError(ExportError):
    """Raised when SIGINT or SIGTERM stops the helper."""
