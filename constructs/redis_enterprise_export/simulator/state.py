"""A database's state (its fields, modules, statistics) and how a read shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .redis_server import RedisServer
from .scenario import Scenario

if TYPE_CHECKING:  # lifecycle.py runs the actions on a Database: it imports this module
    from .lifecycle import Run

IMPORT_RUNNING = frozenset({"initializing", "importing"})


@dataclass(frozen=True)
class Module:
    """One version of a module: GET /v1/modules lists one entry per version."""

    uid: str
    module_name: str
    semantic_version: str
    capabilities: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "module_name": self.module_name,
            "semantic_version": self.semantic_version,
            "capabilities": list(self.capabilities),
        }


@dataclass
class Database:
    """One database: its identity, modules, data, and each action's shown fields."""

    uid: int
    name: str
    redis: RedisServer | None  # None: exports to mount_point fail with general-error
    modules: list[Module] = field(default_factory=list)
    pre_start: list[str] = field(default_factory=list)  # statuses still to show
    export_status: str = ""
    export_progress: float = 0.0
    export_failure_reason: str = ""
    last_export_time: str | None = None
    # RS's own scheduled backups (periodic-backup policy and outcome), as on a fresh
    # database: off, every 24 h, never run. The simulator never runs them.
    backup: bool = False
    backup_interval: int = 86400
    backup_location: dict[str, Any] = field(
        default_factory=lambda: {"type": "s3", "secret_access_key": "sim-backup-secret"}
    )
    backup_status: str = ""
    backup_failure_reason: str = ""
    last_backup_time: str | None = None
    export: Run | None = None
    files: list[Path] = field(default_factory=list)
    stale_reads: int = 0
    stale_view: dict[str, Any] = field(default_factory=dict)
    data_bytes: int = 0  # the dataset's size, when no redis-server backs the database
    keys: int = 0  # the key count, when no redis-server backs the database
    # The latest statistics sample (GET /v1/bdbs/stats/last/{uid}), and when (clock) it
    # was taken.
    sample: dict[str, Any] | None = None
    sampled_at: float = 0.0
    crdt: bool = False  # an Active-Active database: an import merges instead of erasing
    import_status: str = ""
    import_progress: float = 0.0
    import_failure_reason: str = ""
    load: Run | None = None  # the latest import

    def dataset_bytes(self) -> int:
        if self.redis is None:
            return self.data_bytes
        return int(self.redis.client.info("memory")["used_memory_dataset"])

    def used_memory(self) -> int:
        if self.redis is None:
            return self.data_bytes
        return int(self.redis.client.info("memory")["used_memory"])

    def key_count(self) -> int:
        if self.redis is None:
            return self.keys
        return int(self.redis.client.dbsize())

    def latest_sample(self, now: float, interval: float) -> dict[str, Any]:
        """The latest statistics sample. A new one is taken when the last is ``interval``
        old (clock seconds), covering the time since it; until then the last one shows,
        however the data changed."""
        if self.sample is None or now - self.sampled_at >= interval:
            etime = iso_now()
            # The first sample covers the instant it is taken (ours).
            stime = etime if self.sample is None else self.sample["etime"]
            self.sample = {
                "stime": stime,
                "etime": etime,
                "no_of_keys": float(self.key_count()),
                "used_memory": float(self.used_memory()),
            }
            self.sampled_at = now
        return self.sample

    def exporting(self) -> bool:
        return self.export_status == "exporting"

    def importing(self) -> bool:
        return self.import_status in IMPORT_RUNNING

    def fields(self, scenario: Scenario) -> dict[str, Any]:
        data: dict[str, Any] = {
            "uid": self.uid,
            "name": self.name,
            # The one documented bdb status an action sets (status.md).
            "status": "import-pending" if self.importing() else "active",
            "crdt": self.crdt,
            "export_status": self.export_status,
            "export_progress": shown_progress(self.export_progress, scenario),
            "export_failure_reason": self.export_failure_reason,
            "import_status": self.import_status,
            "import_progress": shown_progress(self.import_progress, scenario),
            "import_failure_reason": self.import_failure_reason,
            # module_id names the version; module_args "" as on RS 8.0 (RER's fixture).
            "module_list": [
                {
                    "module_id": m.uid,
                    "module_name": m.module_name,
                    "semantic_version": m.semantic_version,
                    "module_args": "",
                }
                for m in self.modules
            ],
            # The full object carries secrets; clients must ask for fields instead.
            "authentication_redis_pass": "sim-db-password-never-log-me",
            # So does the backup location: a client that asks for it must not show them.
            "backup_location": dict(self.backup_location),
            "backup": self.backup,
            "backup_interval": self.backup_interval,
            "backup_status": self.backup_status,
            "backup_progress": 0.0,
            "backup_failure_reason": self.backup_failure_reason,
        }
        if self.last_export_time is not None:
            data["last_export_time"] = self.last_export_time
        if self.last_backup_time is not None:
            data["last_backup_time"] = self.last_backup_time
        # Documented as "UID of the action currently running"; that an export shows
        # here while it runs is UNCONFIRMED. Helpers must work with and without it.
        if scenario.action_uid and (run := self.action()) is not None:
            data["action_uid"] = run.action_uid
        return data

    def action(self) -> Run | None:
        """The import or export running on the database, if one is."""
        if self.importing() and self.load is not None:
            return self.load
        if self.exporting() and self.export is not None:
            return self.export
        return None


def iso_now() -> str:
    """The wall clock as RS writes times: ISO 8601, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown_progress(value: float, scenario: Scenario) -> Any:
    """A progress field as the scenario has the cluster show it."""
    if scenario.non_numeric_progress is not None:
        odd = scenario.non_numeric_progress
        return None if odd == "null" else odd
    return f"{value:g}" if scenario.progress_as_string else value
