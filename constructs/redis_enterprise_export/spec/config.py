"""The platform team's TOML file: clusters and exports, turned into models.

Every error names the file, the table and the key, the value and what is allowed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from redis_enterprise_export.errors import ConfigError, MultiConfigError
from redis_enterprise_export.spec.drill import DRILL_FIELDS, DrillSpec, exported_databases
from redis_enterprise_export.spec.export import INPUT_FIELDS, Cluster, ExportSpec
from redis_enterprise_export.spec.locations import location_from_dict
from redis_enterprise_export.spec.retention import retention_from_table
from redis_enterprise_export.spec.selectors import (
    Lock,
    Selector,
    check_selector_name,
    lock_path,
    parse_selector,
)
from redis_enterprise_export.spec.state import StateBackend, parse_state
from redis_enterprise_export.spec.values import bounded, read_bounded

# A cluster table has Cluster's own fields, but a CA file's path instead of its text.
CLUSTER_KEYS = {f.name for f in fields(Cluster)} - {"ca_cert_pem"} | {"ca_cert"}
EXPORT_KEYS = set(INPUT_FIELDS) | {"databases", "exclude"}
DRILL_KEYS = {"export", *DRILL_FIELDS}
TOP_KEYS = {"clusters", "exports", "state", "drills"}

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
        data = tomllib.loads(read_bounded(path, "file", "TOML file").decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError("file", where, "an existing TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("file", where, f"a readable UTF-8 TOML file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("syntax", str(exc), "valid TOML", where=where) from None
    return parse_config(data, path, resolve=resolve)


def parse_config(data: Mapping[str, Any], path: Path, *, resolve: bool = True) -> ExportsConfig:
    """Validate already-parsed TOML ``data``; ``path`` is for messages and relative paths.

    Every table is checked, so one read reports every error it can find (MultiConfigError,
    one line each); a table that leans on one in error (an export on a cluster in error,
    a drill of an export in error) is left unchecked rather than blamed for it.
    """
    where = str(path)
    read = _Reader()
    read("", _known_keys, data, TOP_KEYS, where)
    clusters_table = read("", _table, data, "clusters", where)
    exports_table = read("", _table, data, "exports", where)
    clusters: dict[str, Cluster] = {}
    cluster_tables = (
        read("", _tables, clusters_table, "clusters", where) if clusters_table else None
    )
    for name, table in (cluster_tables or {}).items():
        cluster = read(f"{where} [clusters.{name}]", _cluster, table, path)
        if cluster is None:
            read.broken_clusters.add(name)
        else:
            clusters[name] = cluster
    # Each export names a cluster: without the clusters' tables none can be checked.
    exports, selectors = _exports(read, exports_table if cluster_tables else None, clusters, where)
    state = read(f"{where} [state]", parse_state, data.get("state", {}))
    if resolve and selectors and not read.errors:
        lock = Lock.read(lock_path(path)) or Lock({})
        for selector in selectors:
            found = _placed(f"{where} [exports.{selector.name}]", lock.matches, selector, path)
            exports += selector.expand(found)
        unique_names(exports, where)
        selectors = []
    drills: list[DrillSpec] = []
    if not selectors and "*" not in read.broken_exports:
        drills_table = (
            read("", lambda: _table(data, "drills", where, required=False))
            if "drills" in data
            else {}
        )
        by_name = {spec.name: spec for spec in exports}
        for name, table in read.tables(drills_table, "drills", where).items():
            if not _names(table, "export", read.broken_exports):
                drill = read(f"{where} [drills.{name}]", _drill, name, table, by_name)
                drills += [drill] if drill is not None else []
    if read.errors or state is None:
        raise MultiConfigError.of(read.errors)
    return ExportsConfig(path=path, clusters=clusters, exports=exports, state=state,
                         selectors=selectors, drills=drills)  # fmt: skip


class _Reader:
    """Calls that build one table each, placed and collected: the errors of every table,
    and the names of the tables in error (``*``: a selector, whose exports' names are
    its own name and a database's)."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.broken_clusters: set[str] = set()
        self.broken_exports: set[str] = set()

    def __call__(self, where: str, build: Callable[..., T], *args: Any) -> T | None:
        try:
            return _placed(where, build, *args)
        except ConfigError as exc:
            self.errors.append(exc)
            return None

    def tables(
        self, data: Mapping[str, Any] | None, kind: str, where: str
    ) -> dict[str, Mapping[str, Any]]:
        return self("", _tables, data or {}, kind, where) or {}


def _exports(
    read: _Reader, table: Mapping[str, Any] | None, clusters: Mapping[str, Cluster], where: str
) -> tuple[list[ExportSpec], list[Selector]]:
    exports: list[ExportSpec] = []
    selectors: list[Selector] = []
    for name, export in read.tables(table, "exports", where).items():
        if _names(export, "cluster", read.broken_clusters):
            read.broken_exports.add(name)
            continue
        place = f"{where} [exports.{name}]"
        if "databases" in export:
            selector = read(place, _selector, name, export, clusters)
            read.broken_exports |= {"*"} if selector is None else set()
            selectors += [selector] if selector is not None else []
        else:
            spec = read(place, _export, name, export, clusters)
            read.broken_exports |= {name} if spec is None else set()
            exports += [spec] if spec is not None else []
    return exports, selectors


def _names(table: Mapping[str, Any], key: str, names: set[str]) -> bool:
    """Whether ``table``'s ``key`` names one of ``names`` (tables in error)."""
    value = table.get(key)
    return isinstance(value, str) and value in names


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
        raise (exc.within(where) if where else exc) from None


def _known_keys(table: Mapping[str, Any], allowed: set[str], where: str = "") -> None:
    for key in table:
        if key not in allowed:
            error = ConfigError.unknown_key(key, allowed)
            raise error.within(where) if where else error


def _table(
    data: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> Mapping[str, Any]:
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
    # A CA file's comments may dwarf its certificates, but not without bound.
    try:
        data = read_bounded(path.parent / value, "ca_cert", "PEM file", shown=value)
    except FileNotFoundError:
        expected = f"{bounded('PEM file')} (relative to {path.name})"
        raise ConfigError("ca_cert", value, expected) from None
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
    if "retention" in table:
        given["retention"] = retention_from_table(table["retention"])
    return ExportSpec(name=name, **given)


_EXPECTED = {
    "cluster": "the name of a [clusters.NAME] table",
    "database": "a database uid (integer >= 1) or its name",
    "location": "an inline table: { type = ..., <the API's fields> }",
    "export": "the name of the export whose files the drill imports",
    "into": "the scratch database's uid or name (a drill ERASES its content)",
    "erase": "into's value again (a drill ERASES that database)",
}
