"""The platform team's TOML file: clusters and exports, turned into models.

Every error names the file, the table and the key, the value and what is allowed.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.drill import DRILL_FIELDS, DrillSpec, exported_databases
from redis_enterprise_export.spec.export import INPUT_FIELDS, Cluster, ExportSpec
from redis_enterprise_export.spec.locations import location_from_dict
from redis_enterprise_export.spec.selectors import (
    Lock,
    Selector,
    check_selector_name,
    lock_path,
    parse_selector,
)
from redis_enterprise_export.spec.state import StateBackend, parse_state

# A cluster table has Cluster's own fields, but a CA file's path instead of its text.
CLUSTER_KEYS = {f.name for f in fields(Cluster)} - {"ca_cert_pem"} | {"ca_cert"}
EXPORT_KEYS = set(INPUT_FIELDS) | {"databases", "exclude"}
DRILL_KEYS = {"export", *DRILL_FIELDS}
TOP_KEYS = {"clusters", "exports", "state", "drills"}

# A CA file's comments may dwarf its certificates, but not without bound.
MAX_CA_FILE_BYTES = 16 * 2**20

T = TypeVar("T")


@dataclass(frozen=True)
class ExportsConfig:
    """What a config file declares: its clusters by name, the exports (each with its
    cluster), the state, and the drills of exports."""

    path: Path
    clusters: dict[str, Cluster]
    exports: list[ExportSpec]
    state: StateBackend
    # Exports over several databases; in ``exports`` once resolved by the lock file.
    selectors: list[Selector]
    # Read only once selectors are resolved: a drill may name an export they made.
    drills: list[DrillSpec] = field(default_factory=list)


def load_config(path: Path, *, resolve: bool = True) -> ExportsConfig:
    """Read and validate ``path``; raises ConfigError naming the file, table and key.

    With ``resolve`` (synthesis), each selector becomes its exports as the lock
    file beside ``path`` recorded them; without (``discover``), selectors stay as they are.
    """
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("file", where, "an existing TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("file", where, f"a readable UTF-8 TOML file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("syntax", str(exc), "valid TOML", where=where) from None
    return parse_config(data, path, resolve=resolve)


def parse_config(data: Mapping[str, Any], path: Path, *, resolve: bool = True) -> ExportsConfig:
    """Validate already-parsed TOML ``data``; ``path`` is for messages and relative paths."""
    where = str(path)
    _known_keys(data, TOP_KEYS, where)
    clusters_table = _table(data, "clusters", where, required=True)
    exports_table = _table(data, "exports", where, required=True)
    clusters = {
        name: _placed(f"{where} [clusters.{name}]", _cluster, table, path)
        for name, table in _tables(clusters_table, "clusters", where).items()
    }
    exports: list[ExportSpec] = []
    selectors: list[Selector] = []
    for name, table in _tables(exports_table, "exports", where).items():
        if "databases" in table:
            selectors.append(_placed(f"{where} [exports.{name}]", _selector, name, table, clusters))
        else:
            exports.append(_placed(f"{where} [exports.{name}]", _export, name, table, clusters))
    state = _placed(f"{where} [state]", parse_state, data.get("state", {}))
    if resolve and selectors:
        lock = Lock.read(lock_path(path)) or Lock({})
        for selector in selectors:
            found = _placed(f"{where} [exports.{selector.name}]", lock.matches, selector, path)
            exports += selector.expand(found)
        unique_names(exports, where)
        selectors = []
    drills: list[DrillSpec] = []
    if not selectors:
        by_name = {spec.name: spec for spec in exports}
        drills_table = _table(data, "drills", where, required=False) if "drills" in data else {}
        for name, table in _tables(drills_table, "drills", where).items():
            drills.append(_placed(f"{where} [drills.{name}]", _drill, name, table, by_name))
    return ExportsConfig(path=path, clusters=clusters, exports=exports, state=state,
                         selectors=selectors, drills=drills)  # fmt: skip


def _drill(name: str, table: Mapping[str, Any], exports: Mapping[str, ExportSpec]) -> DrillSpec:
    _known_keys(table, DRILL_KEYS)
    for key in ("export", "into", "erase"):
        if key not in table:
            raise ConfigError.missing(key, _EXPECTED[key])
    export = exports.get(table["export"]) if isinstance(table["export"], str) else None
    if export is None:
        raise ConfigError("export", table["export"], "the name of an export: " + ", ".join(exports))
    drill = DrillSpec(name=name, **table, guarded=exported_databases(export, exports.values()))
    drill.check_source(export)
    # Nor any other export's database on that cluster, as far as config spells it the
    # same (the drill checks uids at run time): a drill would erase what it exports.
    for other in exports.values():
        if other.cluster.same_as(export.cluster) and other.database == drill.into:
            raise ConfigError(
                "into",
                drill.into,
                f"a scratch database no export exports (export {other.name!r} exports it, and a "
                "drill ERASES it)",
            )
    return drill


def _selector(name: str, table: Mapping[str, Any], clusters: Mapping[str, Cluster]) -> Selector:
    include, exclude = parse_selector(table)
    check_selector_name(name)
    single = {k: v for k, v in table.items() if k not in ("databases", "exclude")}
    # Validated as an export of a stand-in database; expansion names the real ones.
    template = _export(name, single | {"database": 1}, clusters)
    return Selector(name, table["cluster"], include, exclude, template)


def unique_names(exports: list[ExportSpec], where: str) -> None:
    """Every export's name is its own (a name becomes a Terraform address and a file)."""
    seen: set[str] = set()
    for spec in exports:
        if spec.name in seen:
            raise ConfigError(
                "name",
                spec.name,
                "a name no other export has (a selector's exports are named <export>-<database>)",
                where=where,
            )
        seen.add(spec.name)


def _placed(where: str, build: Callable[..., T], *args: Any) -> T:
    try:
        return build(*args)
    except ConfigError as exc:
        raise exc.within(where) from None


def _known_keys(table: Mapping[str, Any], allowed: set[str], where: str = "") -> None:
    for key in table:
        if key not in allowed:
            error = ConfigError.unknown_key(key, allowed)
            raise error.within(where) if where else error


def _table(data: Mapping[str, Any], key: str, where: str, *, required: bool) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None and required:
        raise ConfigError.missing(f"[{key}]", f"a [{key}.NAME] table").within(where)
    if not isinstance(value, Mapping) or (required and not value):
        raise ConfigError(f"[{key}]", value, f"at least one [{key}.NAME] table").within(where)
    return value


def _tables(data: Mapping[str, Any], kind: str, where: str) -> dict[str, Mapping[str, Any]]:
    for name, table in data.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{kind}.{name}", table, f"a [{kind}.{name}] table").within(where)
    return dict(data)


def _cluster(table: Mapping[str, Any], path: Path) -> Cluster:
    _known_keys(table, CLUSTER_KEYS)
    if "url" not in table:
        raise ConfigError.missing("url", "https://HOST[:PORT] of the cluster's REST API")
    kwargs = {key: value for key, value in table.items() if key != "ca_cert"}
    if "ca_cert" in table:
        kwargs["ca_cert_pem"] = _read_ca(table["ca_cert"], path)
    return Cluster(**kwargs)


def _read_ca(value: Any, path: Path) -> str:
    """The CA file's PEM text; the stack carries it so it stays relocatable.

    A regular file only, read up to a bound: /dev/zero, a FIFO or a huge file would
    otherwise hang synthesis or fill memory.
    """
    if not isinstance(value, str) or not value:
        raise ConfigError("ca_cert", value, "the path of a PEM CA file")
    expected = f"a readable PEM file of at most {MAX_CA_FILE_BYTES // 2**20} MiB"
    try:
        # Non-blocking, so opening a FIFO with no writer returns at once.
        fd = os.open(path.parent / value, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        raise ConfigError("ca_cert", value, f"{expected} (relative to {path.name})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError("ca_cert", value, f"{expected}, not a device, FIFO or folder")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(MAX_CA_FILE_BYTES + 1)
        except OSError:
            raise ConfigError("ca_cert", value, expected) from None
    if len(data) > MAX_CA_FILE_BYTES:
        raise ConfigError("ca_cert", value, expected)
    # Comments in bundles may be UTF-8 (certifi's names issuers); only the base64
    # CERTIFICATE blocks are kept, so other bytes need not decode.
    text = data.decode("utf-8", errors="replace")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError("ca_cert", value, "a PEM file with a CERTIFICATE block")
    return text


def _export(name: str, table: Mapping[str, Any], clusters: Mapping[str, Cluster]) -> ExportSpec:
    _known_keys(table, EXPORT_KEYS)
    if "exclude" in table:
        raise ConfigError(
            "exclude", table["exclude"], "no exclude without databases (it narrows a selector)"
        )
    for key in ("cluster", "database", "location"):
        if key not in table:
            raise ConfigError.missing(key, _EXPECTED[key])
    cluster_name = table["cluster"]
    if not isinstance(cluster_name, str) or cluster_name not in clusters:
        raise ConfigError(
            "cluster", cluster_name, "the name of a [clusters.NAME] table: " + ", ".join(clusters)
        )
    location = location_from_dict(table["location"])
    given = dict(table) | {"cluster": clusters[cluster_name], "location": location}
    return ExportSpec(name=name, **given)


_EXPECTED = {
    "cluster": "the name of a [clusters.NAME] table",
    "database": "a database uid (integer >= 1) or its name",
    "location": "an inline table: { type = ..., <the API's fields> }",
    "export": "the name of the export whose files the drill imports",
    "into": "the scratch database's uid or name (a drill ERASES its content)",
    "erase": "into's value again (a drill ERASES that database)",
}
