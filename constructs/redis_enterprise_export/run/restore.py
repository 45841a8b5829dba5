"""One restore: files of an export's location imported into one database, followed
to the end by the ``job.ActionJob`` for ``import_status``.

Importing ERASES the database's content (RS: "Importing data erases all existing
content in the database"). On an Active-Active database RS merges the file into
the data instead, adding counters up, which restores nothing: the job refuses
such a database (bdb ``crdt: true``) before any POST.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from redis_enterprise_export.errors import (
    ActiveActiveError,
    ConfigError,
    ExportError,
    ImportFailedError,
    ImportTimeoutError,
)
from redis_enterprise_export.redact import clipped
from redis_enterprise_export.rs.answers import ImportState, KeyCount
from redis_enterprise_export.run.job import ActionJob, Kind
from redis_enterprise_export.spec.export import Cluster
from redis_enterprise_export.spec.locations import Location
from redis_enterprise_export.spec.values import (
    DEFAULT_TIMEOUT_SECONDS,
    FILE_EXPECTED,
    check_file_name,
    check_timeout,
)

IMPORT = Kind(
    noun="import",
    doing="importing",
    done="imported into",
    preposition="from",
    running=frozenset({"initializing", "importing"}),
    failed=ImportFailedError,
    timed_out=ImportTimeoutError,
)


class ImportApi(Protocol):
    """The calls the job makes; ``client.RsClient`` is the real one."""

    def import_state(self, uid: int) -> ImportState: ...

    def find_database(self, name: str) -> int: ...

    def start_import(self, uid: int, body: dict[str, Any]) -> str | None: ...

    def reset_import_status(self, uid: int) -> None: ...


class KeyCounter(Protocol):
    def key_count(self, uid: int) -> KeyCount: ...


def described(client: KeyCounter, uid: int, name: str) -> str:
    """Database ``uid`` as the target of an import is shown before any POST: uid, name
    and key count, or why the count could not be read (which does not stop the run)."""
    try:
        keys = client.key_count(uid).keys
    except ExportError as exc:
        held = f"its key count could not be read: {exc}"
    else:
        held = "its statistics give no key count" if keys is None else f"{keys} keys"
    return f"database {uid} ({clipped(name, 80)!r}, {held})"


@dataclass(frozen=True, kw_only=True)
class RestoreSpec:
    """What goes where: ``files`` of ``location`` into ``database`` of ``cluster``.

    Args:
        cluster: how to reach the cluster that holds the target database.
        database: the target's uid, or its name; ITS CONTENT IS ERASED.
        location: where the files are: the location of the export that wrote them.
        files: the files' names there (several: one per shard, loaded together).
        timeout_seconds: how long to wait for the import; if omitted, one hour.
        name: the name the target was confirmed by (shown, checked against the
            exports), or "" for none: every read before a POST must still show it,
            so a database renamed (or replaced) meanwhile is never imported into.
    """

    cluster: Cluster
    database: int | str
    location: Location
    files: tuple[str, ...]
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    name: str = ""

    def __post_init__(self) -> None:
        if not self.files:
            raise ConfigError.missing("--file", FILE_EXPECTED)
        for file in self.files:
            check_file_name(file)
        check_timeout(self.timeout_seconds, "--timeout")

    def request_body(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """The documented POST body, with the location's secrets resolved."""
        return {
            "dataset_import_sources": [
                self.location.import_source(environ, file) for file in self.files
            ]
        }

    def describe(self) -> str:
        """The files and their location, secret-free, for progress lines."""
        return f"{', '.join(map(repr, self.files))} in {self.location.describe()}"


@dataclass(kw_only=True)
class ImportJob(ActionJob[ImportState]):
    """Runs one import of ``spec`` through ``client``; progress goes to ``report``."""

    kind: ClassVar[Kind] = IMPORT
    spec: RestoreSpec
    client: ImportApi

    def read(self, uid: int) -> ImportState:
        return self.client.import_state(uid)

    def post(self, uid: int, body: dict[str, Any]) -> str | None:
        return self.client.start_import(uid, body)

    def reset(self, uid: int) -> None:
        self.client.reset_import_status(uid)

    def __post_init__(self) -> None:
        super().__post_init__()
        # The name the operator confirmed: a target renamed while the run waited is refused.
        self.resolved_name = self.resolved_name or self.spec.name

    def check_target(self, uid: int, state: ImportState) -> None:
        # Read before any POST (the settle's reads), and again after a 409.
        if state.crdt:
            raise ActiveActiveError(uid, state.name)
