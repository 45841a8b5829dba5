"""Selectors of databases, and the lock file that fixes what they matched.

An export may name ``databases = "*"`` (or names and globs, with ``exclude``)
instead of one ``database``. Like AWS CDK's context lookups, synthesis never
asks the cluster: ``discover`` writes what each selector matches into a lock
file beside the config, reviewed and committed like any change, and synthesis
reads only that file. So a new database becomes a new export through a PR.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.extras import command_name
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.spec.values import read_bounded

LOCK_VERSION = 1
# An export name's length (models.EXPORT_NAME), and the hash that keeps a cut name unique.
MAX_NAME = 64
HASH_CHARS = 8
MAX_SELECTOR_NAME = MAX_NAME - HASH_CHARS - 1
_TAIL = re.compile(r"[A-Za-z0-9_-]+\Z")
LOCK_NOTE = (
    "Written by `python -m redis_enterprise_export discover`: what each selector matched. "
    "Review and commit it; synthesis reads only this file."
)


def lock_path(config: Path) -> Path:
    """``exports.toml`` -> ``exports.lock.json``, beside it."""
    return config.with_name(config.stem + ".lock.json")


@dataclass(frozen=True)
class Match:
    """A database a selector matched."""

    uid: int
    name: str


@dataclass(frozen=True)
class Selector:
    """An export over every database whose name matches ``include`` and not ``exclude``."""

    name: str
    cluster: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    template: ExportSpec  # the export's other fields; name and database are replaced

    def key(self) -> dict[str, Any]:
        """What the lock records of the selector itself, to see that it is unchanged."""
        return {
            "cluster": self.cluster,
            "databases": list(self.include),
            "exclude": list(self.exclude),
        }

    def select(self, databases: Sequence[Mapping[str, Any]]) -> list[Match]:
        """The databases (rows with uid and name) this selector matches, by uid."""
        matches = [
            Match(row["uid"], row["name"])
            for row in databases
            if isinstance(row.get("uid"), int)
            and isinstance(row.get("name"), str)
            and any(fnmatchcase(row["name"], pattern) for pattern in self.include)
            and not any(fnmatchcase(row["name"], pattern) for pattern in self.exclude)
        ]
        return sorted(matches, key=lambda m: m.uid)

    def expand(self, matches: Sequence[Match]) -> list[ExportSpec]:
        """One export per match, named by ``export_name``, its database by uid."""
        return [
            replace(self.template, name=export_name(self.name, m.name), database=m.uid)
            for m in matches
        ]


def export_name(selector: str, database: str) -> str:
    """``<selector>-<database>`` if the database's name fits as it is; else its letters,
    digits, _ and - cut to fit, then a hash of the whole name.

    It depends on that one name only, so a new database never renames another's export,
    and two names that read alike (``a.b``, ``a_b``) never share one.
    """
    room = MAX_NAME - len(selector) - 1
    if len(database) <= room and _TAIL.match(database):
        return f"{selector}-{database}"
    digest = hashlib.sha256(database.encode()).hexdigest()[:HASH_CHARS]
    keep = re.sub(r"[^A-Za-z0-9_-]", "_", database)[: max(room - HASH_CHARS - 1, 0)]
    return f"{selector}-{keep}-{digest}" if keep else f"{selector}-{digest}"


def check_selector_name(name: str) -> None:
    """A selector's name leaves room for a database's hashed tail in an export name."""
    if len(name) > MAX_SELECTOR_NAME:
        raise ConfigError(
            "name",
            name,
            f"at most {MAX_SELECTOR_NAME} characters for an export with databases "
            "(each database adds -<name> within Terraform's 64)",
        )


def parse_selector(table: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``databases`` and ``exclude`` patterns of an export table; raises ConfigError."""
    if "database" in table:
        raise ConfigError("databases", table["databases"], "either database or databases, not both")
    return _patterns(table, "databases", required=True), _patterns(table, "exclude")


def _patterns(table: Mapping[str, Any], key: str, *, required: bool = False) -> tuple[str, ...]:
    value = table.get(key, [] if not required else None)
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or (required and not value)
        or not all(isinstance(p, str) and p for p in value)
    ):
        raise ConfigError(key, value, '"*", or a list of database names and globs')
    return tuple(value)


@dataclass(frozen=True)
class Lock:
    """The lock file: per selector, what it was and what it matched."""

    entries: Mapping[str, Mapping[str, Any]]

    @classmethod
    def read(cls, path: Path) -> Lock | None:
        """The lock at ``path``, or None if there is none; raises ConfigError naming the
        file and what in it is wrong if it is not a lock that discover writes."""
        try:
            data = json.loads(read_bounded(path, "file", "lock file").decode("utf-8"))
        except FileNotFoundError:
            return None
        except ConfigError:
            raise
        except (OSError, ValueError) as exc:
            raise ConfigError(
                "file", str(path), f"a lock file written by discover ({exc})"
            ) from None
        try:
            return cls(_entries(data))
        except ConfigError as exc:
            raise ConfigError(
                exc.key, exc.value, f"{exc.expected} (run discover to rewrite it)", where=str(path)
            ) from None

    def matches(self, selector: Selector, config: Path) -> list[Match]:
        """What ``selector`` matched when discover last ran; raises ConfigError if the
        lock has no entry for it, or one for a different selector."""
        entry = self.entries.get(selector.name)
        if (
            not isinstance(entry, Mapping)
            or {k: entry.get(k) for k in selector.key()} != selector.key()
        ):
            raise stale(selector, config)
        try:
            return [Match(int(m["uid"]), str(m["name"])) for m in entry["matches"]]
        except (KeyError, TypeError, ValueError):
            raise stale(selector, config) from None

    @classmethod
    def of(cls, found: Mapping[str, tuple[Selector, list[Match]]]) -> Lock:
        return cls(
            {
                name: selector.key() | {"matches": [{"uid": m.uid, "name": m.name} for m in found]}
                for name, (selector, found) in sorted(found.items())
            }
        )

    def text(self) -> str:
        data = {"note": LOCK_NOTE, "version": LOCK_VERSION, "selectors": dict(self.entries)}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def write(self, path: Path) -> None:
        """Atomically, so a reader never sees half a lock; raises ConfigError naming the
        file if it cannot be written."""
        umask = os.umask(0)
        os.umask(umask)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            # It holds no secret and is committed: the mode any new file gets (0644
            # under the usual umask), not mkstemp's 0600.
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.text())
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise ConfigError(
                "lock file", str(path), f"a file discover can write ({exc.strerror})"
            ) from None


def _entries(data: Any) -> dict[str, Any]:
    """The selectors of a lock file's JSON, every shape checked; ConfigError names the key."""
    if not isinstance(data, dict):
        raise ConfigError("(top level)", _Kind(data), "a JSON object, as discover writes")
    version = data.get("version")
    if version != LOCK_VERSION:
        shown = version if isinstance(version, int) else _Kind(version)
        raise ConfigError("version", shown, f"{LOCK_VERSION}")
    entries = data.get("selectors")
    if not isinstance(entries, dict):
        raise ConfigError("selectors", _Kind(entries), "an object: selector name -> entry")
    for name, entry in entries.items():
        matches = entry.get("matches") if isinstance(entry, dict) else None
        if not isinstance(matches, list) or not all(
            isinstance(m, dict)
            and isinstance(m.get("uid"), int)
            and not isinstance(m.get("uid"), bool)
            and isinstance(m.get("name"), str)
            for m in matches
        ):
            raise ConfigError(
                f"selectors.{name}", _Kind(entry), "an object whose matches are {uid, name}s"
            )
    return entries


class _Kind:
    """A value of a lock file, for a message: its JSON type (a lock can be large)."""

    def __init__(self, value: object) -> None:
        self.text = f"a JSON {_JSON_NAMES.get(type(value), type(value).__name__)}"

    def __repr__(self) -> str:
        return self.text


_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}  # fmt: skip


def stale(selector: Selector, config: Path) -> ConfigError:
    """The error for a selector the lock file does not (or no longer) resolve."""
    return ConfigError(
        "databases",
        list(selector.include),
        f"an up-to-date entry in {lock_path(config).name}",
        hint=f"run: {command_name()} discover --config {config}",
    )
