"""The package's error tree. Each error knows its outcome: an exit code and a status word.

Only the CLI turns an error into an exit code, by reading ``exit_code`` off it;
the result record reads ``status`` the same way, so there is one mapping, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from difflib import get_close_matches
from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """The helper's exit codes; ``describe()`` is what ``--help`` prints."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    REFUSED = 3
    EXPORT_FAILED = 4
    TIMED_OUT = 5
    UNREACHABLE = 6
    OUTCOME_UNKNOWN = 7
    INTERRUPTED = 130

    @classmethod
    def describe(cls, meanings: Mapping[ExitCode, str] | None = None) -> str:
        """Each code and what it means: the export's words, or a command's own."""
        words = _MEANINGS if meanings is None else meanings
        return ", ".join(f"{code.value} {words[code]}" for code in cls)


_MEANINGS = {
    ExitCode.OK: "succeeded",
    ExitCode.INTERNAL: "internal error (a bug; please report it)",
    ExitCode.BAD_INPUT: "bad input or local set-up",
    ExitCode.REFUSED: "the cluster refused (4xx)",
    ExitCode.EXPORT_FAILED: "the export failed",
    ExitCode.TIMED_OUT: "timed out",
    ExitCode.UNREACHABLE: "cluster unreachable or not speaking the API",
    ExitCode.OUTCOME_UNKNOWN: "lost track of the export: outcome unknown",
    ExitCode.INTERRUPTED: "interrupted",
}


class ExportError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNREACHABLE
    # The result record's export_status when this error ends a run.
    status: ClassVar[str] = "error"


class ConfigError(ExportError, ValueError):
    """Raised when a config value or construct prop is not allowed.

    The message names where the value came from (``where``, e.g. a file and
    table, or a construct id), the key, the value received and what is allowed.
    """

    exit_code = ExitCode.BAD_INPUT

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


class MultiConfigError(ConfigError):
    """Several config errors a single read found: one line each, every line naming its
    file, table and key. Its own key, value and where are the first error's."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.key, first.value, first.expected, where=first.where,
                         hint=first.hint)  # fmt: skip

    def _message(self) -> str:
        return "\n".join(str(error) for error in self.errors)

    def within(self, where: str, prefix: str = "") -> ConfigError:
        return MultiConfigError([error.within(where, prefix) for error in self.errors])

    @classmethod
    def of(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """The one error, or all of them."""
        return errors[0] if len(errors) == 1 else cls(errors)


def error_lines(exc: BaseException) -> str:
    """``exc`` as the CLI prints it: each of its lines after ``error: ``."""
    return "\n".join(f"error: {line}" for line in str(exc).splitlines() or [""])


class _Marker:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_MISSING: Any = _Marker("nothing")
_UNKNOWN: Any = _Marker("an unknown key")
# Shown instead of a value that must not be printed (a secret, or what may be one).
HIDDEN: Any = _Marker("a value not shown")


class LocalSetupError(ExportError):
    """Raised when this machine cannot run the helper: e.g. an unusable slot directory."""

    exit_code = ExitCode.BAD_INPUT


class ApiError(ExportError):
    """Raised when the cluster answers a request with an error status.

    Carries the status, the method and path, RS's ``error_code`` and its human
    text (from ``description`` or, on older clusters, ``message``).
    """

    exit_code = ExitCode.REFUSED

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
        self.http_status = status
        self.method = method
        self.path = path
        self.error_code = error_code
        self.description = description
        self.hint = hint
        detail = ": ".join(part for part in (error_code, description) if part)
        text = f"{method} {path} answered {status}" + (f" ({detail})" if detail else "")
        super().__init__(f"{text}. {hint}" if hint else text)


class LoginSkippedError(ExportError):
    """Raised instead of signing in with credentials the cluster refused (401) to another
    command on this machine moments ago: RS locks a user after a few failed logins.

    ``refusal`` says which record holds it, for preflight to name."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, *, refusal: str = "") -> None:
        super().__init__(message)
        self.refusal = refusal


class DatabaseNotFoundError(ExportError):
    """Raised when the cluster's list of databases holds no database ``wanted`` names
    (or several by that name): the helper's finding from ``GET /v1/bdbs``, not an
    answer of the cluster's. ``advice`` is what to do, in the caller's words."""

    exit_code = ExitCode.REFUSED

    def __init__(
        self, wanted: int | str, found: int, names: list[str], *, advice: str = ""
    ) -> None:
        self.wanted = wanted
        self.found = found
        self.names = names
        self.advice = advice
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        what = f"uid {wanted}" if isinstance(wanted, int) else f"named {wanted!r}"
        if found > 1:
            text = f"the cluster has {found} databases {what}: name it by its uid"
        else:
            text = f"the cluster has no database {what}"
        text += f" (GET /v1/bdbs lists {shown or 'no databases'})"
        super().__init__(f"{text}; {advice}" if advice else text)

    def advised(self, advice: str) -> DatabaseNotFoundError:
        """This finding with ``advice`` instead: what the caller's reader should do."""
        return DatabaseNotFoundError(self.wanted, self.found, self.names, advice=advice)


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


class ServerError(TransportError):
    """Raised when the cluster (or a proxy in front of it) answers 500, 502, 503 or 504:
    transient trouble on its side. The export job reads again within its deadline; after
    a POST it looks whether the export started before posting again."""


class TlsError(TransportError):
    """Raised when the cluster's certificate does not verify; asking again cannot help."""


class ProtocolError(ExportError):
    """Raised when the cluster's answer is not what the API documents."""


REDIRECT_HINT = (
    "RS redirects API requests that reach a node other than the master while the "
    "cluster setting handle_redirects is off: run `rladmin cluster config "
    "handle_redirects enabled`, or ask for the cluster's API address"
)


class RedirectError(ProtocolError):
    """Raised when the cluster answers 3xx: a node that is not the master redirects API
    requests to the master unless the cluster's ``handle_redirects`` is on."""

    def __init__(self, method: str, path: str, status: int, location: str) -> None:
        super().__init__(
            f"{method} {path} answered {status}, a redirect to {location!r}, which the helper "
            f"never follows (it would carry the credentials elsewhere). {REDIRECT_HINT}"
        )


class ExportFailedError(ExportError):
    """Raised when the cluster reports ``export_status: failed`` for this run's export."""

    exit_code = ExitCode.EXPORT_FAILED
    status = "failed"
    noun: ClassVar[str] = "export"

    def __init__(self, database: int, reason: str) -> None:
        self.database = database
        self.reason = reason
        super().__init__(
            f"{self.noun} of database {database} failed: {self.noun}_failure_reason "
            f"{reason or '(empty)'!r}. {self.hint(reason)}".rstrip()
        )

    def hint(self, reason: str) -> str:
        return _FAILURE_HINTS.get(reason, "")


class ImportFailedError(ExportFailedError):
    """Raised when the cluster reports ``import_status: failed`` for this run's import."""

    noun = "import"

    def hint(self, reason: str) -> str:
        # Some reasons carry parameters: file-larger-than-mem-limit:<expected>:<limit>.
        name, _, parameters = reason.partition(":")
        hint = _IMPORT_HINTS.get(name, "")
        if name == "file-larger-than-mem-limit":
            expected, _, limit = parameters.partition(":")
            hint += f" ({expected or '?'} bytes needed, a limit of {limit or '?'} bytes)."
        return (
            f"{hint} RS does not document what a failed import leaves in the database: "
            "check its content before using it"
        ).lstrip()


_FAILURE_HINTS = {
    "no-permission": "The cluster could not write to the location: check its credentials "
    "and that they allow writes.",
    "wrong-file-path": "The location's path, bucket, container or subdir does not exist "
    "or is mistyped.",
    "general-error": "The cluster's event log says more (Cluster > Logs in the admin console).",
}


_IMPORT_HINTS = {
    "download-error": "The cluster could not fetch the file: check the file name, the "
    "location, its credentials, and that every node can reach it.",
    "file-corrupted": "The file is not a whole RDB or gzipped RDB: it was cut short or "
    "altered, or it is not an export file. Check that the export that wrote it succeeded, "
    "or restore another file.",
    "general-error": _FAILURE_HINTS["general-error"],
    "file-larger-than-mem-limit": "The data needs more memory than the database's limit: "
    "raise its memory limit, or restore into a larger database",
    "key-too-long": "A key in the file is longer than the database accepts.",
    "invalid-bulk-length": "A value in the file has an impossible length: the file is "
    "damaged, or from an incompatible Redis version.",
    "out-of-memory": "The database ran out of memory while loading: raise its memory limit.",
}


class DrillFailedError(ExportError):
    """Raised when a drill does not prove its export loads: nothing to import, or the
    scratch database's key count after the import is not the source's."""

    exit_code = ExitCode.EXPORT_FAILED
    status = "failed"


class ExportTimeoutError(ExportError):
    """Raised when the export did not finish within its deadline.

    ``posted`` says whether this run's export was accepted: only then may it
    still finish on the cluster.
    """

    exit_code = ExitCode.TIMED_OUT
    status = "timeout"
    noun: ClassVar[str] = "export"
    knob: ClassVar[str] = "timeout_seconds"  # what raises the deadline

    def __init__(
        self,
        database: int,
        seconds: float,
        last_status: str,
        *,
        posted: bool = True,
        knob: str | None = None,
    ) -> None:
        self.database = database
        self.seconds = seconds
        self.last_status = last_status
        self.posted = posted
        # What raises the deadline, as the reader set it: the class's, or the caller's.
        self.raised_by = self.knob if knob is None else knob
        after = (
            f"The {self.noun} may still finish on the cluster."
            if posted
            else f"No {self.noun} was started by this run."
        )
        super().__init__(
            f"{self.noun} of database {database} did not finish within {seconds:g} s "
            f"(last {self.noun}_status {last_status!r}); raise {self.raised_by} or check the "
            f"cluster. {after}"
        )

    def as_kind(
        self, kind: type[ExportTimeoutError], knob: str | None = None
    ) -> ExportTimeoutError:
        """This timeout in ``kind``'s words, saying ``knob`` raises the deadline: a lock's
        wait (raised as an export's) that an import ran out of, or a drill's import,
        whose knob is timeout_seconds where the import's own error names --timeout."""
        return kind(self.database, self.seconds, self.last_status, posted=self.posted, knob=knob)


class ImportTimeoutError(ExportTimeoutError):
    """Raised when the import did not finish within the restore's deadline."""

    noun = "import"
    knob = "--timeout"


class DrillTimeoutError(ExportError):
    """Raised when a drill's run ends at its deadline (timeout_seconds): in its import,
    or in its count, before the scratch database's key count was proven."""

    exit_code = ExitCode.TIMED_OUT
    status = "timeout"


class OutcomeUnknownError(ExportError):
    """Raised when the helper loses track of its own export (another client exported
    the same database meanwhile): it reports that it does not know, never a guess."""

    exit_code = ExitCode.OUTCOME_UNKNOWN
    status = "unknown"


class InterruptedExportError(ExportError):
    """Raised when SIGINT or SIGTERM stops the helper; ``posted`` as for a timeout."""

    exit_code = ExitCode.INTERRUPTED
    status = "interrupted"
    noun: ClassVar[str] = "export"
    # What happens to an action that may still run.
    then: ClassVar[str] = "and the next apply waits for it, then exports again"

    def __init__(self, signal_name: str, *, posted: bool = True) -> None:
        self.signal_name = signal_name
        after = (
            f"the {self.noun} may still be running on the cluster, {self.then}"
            if posted
            else f"no {self.noun} was started by this run"
        )
        super().__init__(f"interrupted by {signal_name}; {after}")


class InterruptedImportError(InterruptedExportError):
    """Raised when SIGINT or SIGTERM stops a restore; ``posted`` as for a timeout."""

    noun = "import"
    then = "erasing the database's content: watch its import_status before restoring again"


class ActiveActiveError(ExportError):
    """Raised instead of importing into an Active-Active database (bdb ``crdt: true``):
    RS merges the file into its data there, adding counters up, rather than restoring."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, database: int, name: str) -> None:
        super().__init__(
            f"database {database} ({name!r}) is Active-Active (crdt: true): RS would merge "
            "the file into its data and add up its counters instead of restoring it; nothing "
            "was imported. Restore into a database that is not Active-Active"
        )
