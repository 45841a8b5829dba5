"""One restore drill, as config and the construct give it: its export, the scratch
database it ERASES, and how close the key count must come."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from redis_enterprise_export.errors import HIDDEN, ConfigError
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.spec.values import (
    DEFAULT_TIMEOUT_SECONDS,
    EXPORT_NAME,
    FILE_EXPECTED,
    check_file_name,
    check_timeout,
    spelled,
)

# What a drill can find an export's files in by itself; other types name them.
LISTED_TYPES = ("mount_point", "s3")


@dataclass(frozen=True, kw_only=True)
class DrillInputs:
    """What one drill needs besides its export; ``DrillSpec`` and
    ``DatabaseDrillProps`` share these fields.

    Args:
        into: the scratch database, by uid or name, on the export's cluster. ITS
            CONTENT IS ERASED by every drill.
        erase: ``into`` again, the same value: a drill erases it, so it is named twice.
        files: the export's files by name, for a location whose files the drill
            cannot list (any type but mount_point and s3); if omitted, the files
            the export recorded.
        key_tolerance_percent: how far the scratch database's key count may be from
            the source's at export time, in percent of the source's; if omitted, 0.
        timeout_seconds: how long the import and the count may take; if omitted, one hour.
        erase_backed_up: ``true`` lets the drill erase a scratch database that RS itself
            backs up on a schedule (``backup: true``); if omitted, such a database is
            refused, as its scheduled backups suggest its content is kept. A database
            that an export exports is never a scratch database.
    """

    into: int | str
    erase: int | str
    files: tuple[str, ...] = ()
    key_tolerance_percent: float = 0.0
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    erase_backed_up: bool = False

    def drill_inputs(self) -> dict[str, Any]:
        """The shared fields by name, as given."""
        return {name: getattr(self, name) for name in DRILL_FIELDS}


DRILL_FIELDS = tuple(f.name for f in fields(DrillInputs))


@dataclass(frozen=True, kw_only=True)
class DrillSpec(DrillInputs):
    """One drill, named, of the export named ``export``; validated.

    ``guarded``: the databases (uids or names, as configured) that exports of the
    drill's cluster export, its own export's included. Filled by the config and by
    ``ExportStack``; the drill refuses to import into any of them, also when the
    config spells one differently from ``into`` (a name for a uid).
    """

    name: str
    export: str
    guarded: tuple[int | str, ...] = ()

    def __post_init__(self) -> None:
        for key in ("name", "export"):
            value = getattr(self, key)
            if not isinstance(value, str) or not EXPORT_NAME.match(value):
                raise ConfigError(key, value, "a letter or _ then up to 63 letters, digits, _ or -")
        into = self.into
        if isinstance(into, bool) or not (
            (isinstance(into, int) and into >= 1)
            or (isinstance(into, str) and into.strip() and "\x00" not in into)
        ):
            raise ConfigError("into", into, "the scratch database's uid (integer >= 1) or name")
        if self.erase != into or type(self.erase) is not type(into):
            raise ConfigError(
                "erase",
                self.erase,
                f"into's value again, exactly ({into!r}, {spelled(into)}): every drill ERASES "
                "that database",
            )
        if not isinstance(self.files, list | tuple):
            raise ConfigError("files", self.files, f"a list of names, each {FILE_EXPECTED}")
        object.__setattr__(self, "files", tuple(self.files))
        for file in self.files:
            check_file_name(file, "files")
        tolerance = self.key_tolerance_percent
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int | float)
            or not 0 <= tolerance <= 100
        ):
            raise ConfigError("key_tolerance_percent", tolerance, "a number from 0 to 100")
        check_timeout(self.timeout_seconds)
        if not isinstance(self.erase_backed_up, bool):
            raise ConfigError(
                "erase_backed_up",
                self.erase_backed_up,
                "true or false: whether the drill may erase a scratch database that RS "
                "backs up on a schedule",
            )
        if not isinstance(self.guarded, list | tuple) or not all(
            isinstance(g, int | str) and not isinstance(g, bool) for g in self.guarded
        ):
            raise ConfigError("guarded", HIDDEN, "a list of database uids and names")
        object.__setattr__(self, "guarded", tuple(self.guarded))

    def check_source(self, export: ExportSpec) -> None:
        """Refuse what config can already tell is wrong for ``export``: its own
        database as the scratch one, or no way to know its files."""
        if self.into == export.database:
            raise ConfigError(
                "into",
                self.into,
                f"a scratch database, not export {export.name!r}'s own: a drill ERASES the "
                "database it imports into",
            )
        if export.location.type not in LISTED_TYPES and not self.files:
            raise ConfigError.missing(
                "files",
                "the files' names: RS does not say which file an export wrote, and a drill "
                f"finds them only in {' and '.join(LISTED_TYPES)} locations, not "
                f"{export.location.type}",
            )

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data; ``from_dict`` reads it back."""
        return self.trigger() | {
            "guarded": list(self.guarded),
            "erase_backed_up": self.erase_backed_up,
        }

    def trigger(self) -> dict[str, Any]:
        """What, when changed, means a new drill: not ``guarded``, which grows with
        every export added to the cluster, nor ``erase_backed_up``, a permission (a drill
        it stopped failed, and runs again anyway)."""
        inputs = self.drill_inputs()
        del inputs["erase_backed_up"]
        return {"name": self.name, "export": self.export} | inputs | {"files": list(self.files)}

    @classmethod
    def from_dict(cls, data: object) -> DrillSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(
                "drill", type(data).__name__, "a JSON object as the construct writes it"
            )
        known = {"name", "export", "guarded", *DRILL_FIELDS}
        return cls(**{k: v for k, v in data.items() if k in known})


def exported_databases(export: ExportSpec, exports: Iterable[ExportSpec]) -> tuple[int | str, ...]:
    """The databases that ``exports`` of ``export``'s cluster export: a drill of
    ``export`` guards them (``DrillSpec.guarded``)."""
    return tuple(dict.fromkeys(e.database for e in exports if e.cluster.same_as(export.cluster)))
