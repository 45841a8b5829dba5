"""The simulated cluster's behaviour, free of HTTP: databases, users, exports, faults.

It follows the documented API, awkward parts included: ``export_status`` is
``""`` on a fresh database and ``idle`` after a reset, it keeps the previous
export's value until reset and may go on showing it for a few reads after a POST
(``Scenario.stale_reads``); ``export_progress`` can come as a string; error
bodies carry ``description`` or, like older clusters, ``message``. Imports load
the file into the database's real redis-server (``redis_server.read_rdb``).
Database statistics are sampled, so they lag (``Scenario.stats_interval_seconds``).
SOURCES.md beside this file names the page each modelled behaviour comes from.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .redis_server import CorruptRdbError, Entry, RedisServer, read_rdb

# The permissions table (SOURCES.md: permissions.md). start_bdb_export and
# reset_bdb_current_export_status:
EXPORT_ROLES = frozenset({"admin", "cluster_member", "db_member"})
# start_bdb_import and reset_bdb_current_import_status: the same three.
IMPORT_ROLES = EXPORT_ROLES
ROLES = EXPORT_ROLES | {"db_viewer", "cluster_viewer", "user_manager", "none"}
# view_bdb_info, view_bdb_stats, view_cluster_info and view_cluster_modules: every
# role but none.
VIEW_ROLES = ROLES - {"none"}
# view_all_users_info (GET /v1/users).
USER_VIEW_ROLES = frozenset({"admin", "user_manager"})
# The built-in roles' uids, as GET /v1/roles shows them (roles.md's example);
# user_manager is not in that example: 7 is ours.
ROLE_UIDS = {
    "admin": 1,
    "cluster_member": 2,
    "cluster_viewer": 3,
    "db_member": 4,
    "db_viewer": 5,
    "none": 6,
    "user_manager": 7,
}
# RS's default max_simultaneous_backups, reported when the scenario sets no limit.
DEFAULT_MAX_SIMULTANEOUS_BACKUPS = 4
FAILURE_REASONS = ("no-permission", "wrong-file-path", "general-error")

# Required fields per documented location type (backup_location.md).
LOCATION_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "url": ({"url"}, set()),
    "sftp": ({"sftp_url"}, {"key"}),
    "s3": (
        {"bucket_name", "access_key_id", "secret_access_key"},
        {"subdir", "region_name", "encryption"},
    ),
    "gs": (
        {"bucket_name", "client_id", "client_email", "private_key_id", "private_key"},
        {"subdir"},
    ),
    "abs": ({"account_name", "container"}, {"account_key", "sas_token", "subdir"}),
    "mount_point": ({"path"}, set()),
}
# An import source names one file: s3, gs and abs add filename, mount_point's path
# is the file, url and sftp_url end with it (dataset_import_sources.md).
SOURCE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    kind: (required | {"filename"}, optional)
    if kind in ("s3", "gs", "abs")
    else (required, optional)
    for kind, (required, optional) in LOCATION_FIELDS.items()
}
IMPORT_RUNNING = frozenset({"initializing", "importing"})
# The statistics a sample holds (db-metrics.md names many more; these are modelled).
METRICS = ("no_of_keys", "used_memory")
# The share of an import's time spent "initializing" (fetching the file) before "importing".
INITIALIZING_SHARE = 0.2


@dataclass
class Scenario:
    """Faults and timings for the next requests; tests set these per case."""

    export_seconds: float = 1.0  # plus data_bytes / export_bytes_per_second, if that is set
    import_seconds: float = 1.0  # plus the sources' file bytes / import_bytes_per_second
    # Fail imports midway with this import_failure_reason, whatever the file holds
    # (e.g. "out-of-memory", "file-larger-than-mem-limit:2048:1024").
    import_fail_reason: str | None = None
    export_bytes_per_second: float | None = None
    import_bytes_per_second: float | None = None
    # Like rladmin's max_simultaneous_backups: a POST beyond it is answered 409.
    max_concurrent_exports: int | None = None
    conflicts: int = 0  # answer 409 to this many POSTs first
    stale_reads: int = 0  # after an accepted POST or reset, reads show the old state this often
    fail_reason: str | None = None  # fail exports midway with this reason
    # With fail_reason: fail only this many exports from now on (None: every one).
    fail_exports: int | None = None
    progress_as_string: bool = False
    # Every read shows export_progress as the string "NaN", JSON null, or the string
    # "junk": the docs say a number, the actions API sends strings; be ready for worse.
    non_numeric_progress: Literal["NaN", "null", "junk"] | None = None
    # After an accepted POST, the next reads show these statuses in turn (e.g.
    # "initializing", "queued": import_status has them, export_status may) before
    # "exporting". export_status is not a closed set in practice.
    pre_start_statuses: list[str] = field(default_factory=list)
    # The running export's uid as the bdb's action_uid (UNCONFIRMED that RS shows
    # it); False: no action_uid anywhere (the POST's 200 has no body either way).
    action_uid: bool = True
    # GET /v1/users rows carry role_uids instead of role, as on RBAC clusters.
    rbac: bool = False
    # A database's statistics are sampled at most this often; in between, reads show
    # the last sample, so a change (an import) shows late. 0: every read samples.
    stats_interval_seconds: float = 1.0
    # Unique per simulator, as a real cluster's FQDN: helpers key their locks by it,
    # and the simulators of tests running at once must not share them.
    cluster_name: str = field(default_factory=lambda: f"cluster-{uuid.uuid4().hex[:12]}.sim.local")
    # The cluster setting: a node that is not the master forwards requests to it.
    handle_redirects: bool = False
    # Set: this node is not the master, whose internal address this is; unless
    # handle_redirects, every request is answered 307 with a Location there.
    master_url: str | None = None
    error_text_field: str = "description"  # or "message", as older clusters send
    # Transport faults per method, taken one per request in order: "" (none),
    # "503" (answered before any work: nothing started), "503-started" (processed,
    # e.g. an export started, then answered 503), "reset" (connection reset,
    # request not processed), "drop" (processed, then the connection reset: the
    # answer is lost), "slow:<seconds>", "html", "trickle" (processed, then the
    # answer sent a byte every TRICKLE_SECONDS, as a stalled proxy or a sick node does).
    # The list is the whole plan for its method: a request beyond it is answered
    # 500 and fails Simulator.check_assertions(), unless the list ends with "...",
    # which answers every later request normally. Methods not listed are normal.
    faults: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


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
            "export_progress": _shown_progress(self.export_progress, scenario),
            "export_failure_reason": self.export_failure_reason,
            "import_status": self.import_status,
            "import_progress": _shown_progress(self.import_progress, scenario),
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
        if scenario.action_uid and self.export_status == "exporting" and self.export is not None:
            data["action_uid"] = self.export.action_uid
        if scenario.action_uid and self.importing() and self.load is not None:
            data["action_uid"] = self.load.action_uid
        return data


def _iso_now() -> str:
    """The wall clock as RS writes times: ISO 8601, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown_progress(value: float, scenario: Scenario) -> Any:
    """A progress field as the scenario has the cluster show it."""
    if scenario.non_numeric_progress is not None:
        odd = scenario.non_numeric_progress
        return None if odd == "null" else odd
    return f"{value:g}" if scenario.progress_as_string else value


@dataclass
class Run:
    """One export or import under way; its work is done when its time is up."""

    what: Any  # the export's location, or the import's sources
    body: Any  # the POST's body
    started: float
    seconds: float
    fail_reason: str | None
    done: bool = False
    finished_at: float | None = None  # wall clock, for measuring detection latency
    # Seconds the simulator itself spent at the end writing or loading the file (a
    # status read waits for it): its own cost, which the bench reports apart.
    work_seconds: float = 0.0
    action_uid: str = field(default_factory=lambda: uuid.uuid4().hex)

    def step(self, now: float) -> float | None:
        """The share of its time gone at ``now``, below 1 while it runs; None once it
        ends: at its time, or halfway with ``fail_reason``. Marks the end."""
        fraction = (now - self.started) / self.seconds if self.seconds else 1.0
        if fraction < (0.5 if self.fail_reason else 1.0):
            return fraction
        self.done, self.finished_at = True, time.time()
        return None


@dataclass
class Request:
    """One request as the simulator saw it (no body: bodies may carry secrets)."""

    method: str
    path: str
    query: str
    user: str
    status: int  # the cluster's own answer, even when a fault (drop, 503-started) replaced it
    at: float = field(default_factory=time.time)  # wall clock, comparable across processes
    body: Any = None  # the answer (the simulator's own, never a secret)


class SimCluster:
    """Databases, users and exports of one simulated cluster; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.databases: dict[int, Database] = {}
        self.users: dict[str, tuple[str, str]] = {}
        self.modules: dict[str, Module] = {}
        self.scenario = Scenario()
        self.log: list[Request] = []
        self.export_bodies: list[dict[str, Any]] = []
        self.import_bodies: list[dict[str, Any]] = []
        self.failed_logins = 0
        self._timers: list[threading.Timer] = []
        self._closed = False

    # Set-up -----------------------------------------------------------------

    def add_user(self, email: str, password: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role {role!r}: expected one of {sorted(ROLES)}")
        self.users[email] = (password, role)

    def add_module(
        self, name: str, version: str = "1.0.0", capabilities: tuple[str, ...] | list[str] = ()
    ) -> Module:
        """Install a version of a module (again: the same one); its uid is like RS's."""
        uid = hashlib.md5(f"{name}@{version}".encode()).hexdigest()  # noqa: S324 - a name
        module = Module(uid, name, version, tuple(capabilities))
        self.modules.setdefault(uid, module)
        return self.modules[uid]

    def add_database(
        self,
        uid: int,
        name: str,
        redis: RedisServer | None = None,
        modules: list[dict[str, Any]] | None = None,
        *,
        crdt: bool = False,
    ) -> Database:
        """A database loading ``modules``: each names an installed version by
        ``module_id``, or installs one from ``module_name``, ``semantic_version``
        (default 1.0.0) and ``capabilities``. ``crdt``: an Active-Active database."""
        loaded = [
            self.modules[m["module_id"]]
            if "module_id" in m
            else self.add_module(
                m["module_name"], m.get("semantic_version", "1.0.0"), m.get("capabilities", ())
            )
            for m in modules or []
        ]
        db = Database(uid=uid, name=name, redis=redis, modules=loaded, crdt=crdt)
        self.databases[uid] = db
        return db

    def exports_started(self, uid: int | None = None) -> int:
        """How many export POSTs the cluster accepted (for one database, or all); the log
        holds the cluster's own answers, including those a fault then lost."""
        return self._accepted("export", uid)

    def imports_started(self, uid: int | None = None) -> int:
        """How many import POSTs the cluster accepted, as ``exports_started``."""
        return self._accepted("import", uid)

    def _accepted(self, action: str, uid: int | None) -> int:
        database = str(uid) if uid is not None else r"\d+"
        path = re.compile(rf"/v1/bdbs/{database}/actions/{action}\Z")
        return sum(
            1 for r in self.log if r.method == "POST" and r.status == 200 and path.match(r.path)
        )

    # Requests ---------------------------------------------------------------

    def authenticate(self, user: str, password: str) -> str | None:
        """The user's role, or None for bad credentials."""
        known = self.users.get(user)
        if known is None or known[0] != password:
            self.failed_logins += 1
            return None
        return known[1]

    def next_fault(self, method: str) -> str:
        """The scripted fault for the next ``method`` request: "" for none.

        Raises ValueError for a request the script did not plan (it ran out with
        no closing "...") and for an unknown fault name, so that a test's typo
        fails the test instead of quietly answering normally.
        """
        with self.lock:
            queue = self.scenario.faults.get(method)
            if queue is None:
                return ""
            if not queue:
                raise ValueError(
                    f"Scenario.faults[{method!r}] ran out; end it with '...' "
                    "if later requests should be answered normally"
                )
            if queue[0] == "...":
                if len(queue) > 1:
                    raise ValueError(f"Scenario.faults[{method!r}]: '...' must end the list")
                return ""
            fault = queue.pop(0)
            try:
                slow = fault.startswith("slow:") and 0 <= float(fault[5:]) <= 60  # not nan
            except ValueError:
                slow = False
            if slow or fault in ("", "503", "503-started", "reset", "drop", "html", "trickle"):
                return fault
            raise ValueError(
                f"Scenario.faults[{method!r}]: unknown fault {fault!r}; expected one of "
                "'', '503', '503-started', 'reset', 'drop', 'html', 'trickle', "
                "'slow:<seconds up to 60>', '...'"
            )

    def error(self, status: int, code: str, text: str) -> Reply:
        return Reply(status, {"error_code": code, self.scenario.error_text_field: text})

    def get_database(self, uid: int, fields: list[str] | None) -> Reply:
        with self.lock:
            db = self.databases.get(uid)
            if db is None:
                return self.error(404, "db_not_exist", f"database {uid} does not exist")
            data = self._view(db)
        return Reply(200, {k: v for k, v in data.items() if k in fields} if fields else data)

    def list_databases(self, fields: list[str] | None) -> Reply:
        with self.lock:
            rows = [self._view(db) for db in self.databases.values()]
        if fields:
            rows = [{k: v for k, v in row.items() if k in fields} for row in rows]
        return Reply(200, rows)

    def last_stats(self, uid: int, role: str, metrics: list[str] | None) -> Reply:
        """GET /v1/bdbs/stats/last/{uid}: the latest sample, ``{"<uid>": {stime, etime,
        metrics...}}``, only ``metrics`` (and the times) if given. A new sample is
        taken when the last is ``stats_interval_seconds`` old, covering the time since
        the last one; until then the last is shown, however the data changed."""

        def act(db: Database) -> Reply:
            now = self.clock()
            if db.sample is None or now - db.sampled_at >= self.scenario.stats_interval_seconds:
                etime = _iso_now()
                # The first sample covers the instant it is taken (ours).
                stime = etime if db.sample is None else db.sample["etime"]
                db.sample = {
                    "stime": stime,
                    "etime": etime,
                    "no_of_keys": float(db.key_count()),
                    "used_memory": float(db.used_memory()),
                }
                db.sampled_at = now
            wanted = None if metrics is None else {*metrics, "stime", "etime"}
            shown = {k: v for k, v in db.sample.items() if wanted is None or k in wanted}
            return Reply(200, {str(db.uid): shown})

        return self._on(uid, role, "view_bdb_stats", act)

    def start_export(self, uid: int, role: str, body: Any) -> Reply:
        """POST /v1/bdbs/{uid}/actions/export: write the file when the export's time is up."""

        def begin(db: Database) -> Run:
            db.pre_start = list(self.scenario.pre_start_statuses)
            seconds, reason = self._export_seconds(db), self._next_fail_reason()
            db.export = Run(body["export_location"], body, self.clock(), seconds, reason)
            db.export_status, db.export_progress, db.export_failure_reason = "exporting", 0.0, ""
            return db.export

        problem = _check_export_body(body)
        return self._start(uid, role, "start_bdb_export", problem, begin,
                           bodies=self.export_bodies, limited=self._at_export_limit)  # fmt: skip

    def start_import(self, uid: int, role: str, body: Any) -> Reply:
        """POST /v1/bdbs/{uid}/actions/import: load the sources when the import's time is up."""
        scenario = self.scenario

        def begin(db: Database) -> Run:
            sources = list(body["dataset_import_sources"])
            db.load = Run(sources, body, self.clock(), self._import_seconds(sources),
                          scenario.import_fail_reason)  # fmt: skip
            db.import_status, db.import_progress, db.import_failure_reason = "initializing", 0.0, ""
            return db.load

        problem = _check_import_body(body)
        return self._start(uid, role, "start_bdb_import", problem, begin, bodies=self.import_bodies)

    def reset_export_status(self, uid: int, role: str) -> Reply:
        """PUT …/export_reset_status: "Resets the database's export_status to idle if an
        export is not in progress" (export_reset_status.md)."""

        def clear(db: Database) -> None:
            db.pre_start = []
            db.export_status, db.export_progress, db.export_failure_reason = "idle", 0.0, ""

        return self._reset(uid, role, "reset_bdb_current_export_status", Database.exporting, clear)

    def reset_import_status(self, uid: int, role: str) -> Reply:
        """PUT …/import_reset_status: the same for the import's fields."""

        def clear(db: Database) -> None:
            db.import_status, db.import_progress, db.import_failure_reason = "idle", 0.0, ""

        return self._reset(uid, role, "reset_bdb_current_import_status", Database.importing, clear)

    def _on(self, uid: int, role: str, permission: str, act: Callable[[Database], Reply]) -> Reply:
        """``act`` on database ``uid`` under the lock; 403 without ``permission``, 404
        for no such database."""
        if denied := self.lacks(role, permission):
            return denied
        with self.lock:
            db = self.databases.get(uid)
            if db is None:
                return self.error(404, "db_not_exist", f"database {uid} does not exist")
            return act(db)

    def _start(
        self,
        uid: int,
        role: str,
        permission: str,
        problem: str,
        begin: Callable[[Database], Run],
        *,
        bodies: list[Any],
        limited: Callable[[], bool] = lambda: False,
    ) -> Reply:
        """An action's POST: 403, 404, 400 for a bad body (``problem``), 406, 409 while
        busy (or ``limited``); else ``begin`` it, keep its body in ``bodies``, and
        finish it on time."""

        def act(db: Database) -> Reply:
            if problem:
                return self.error(400, "invalid_schema", problem)
            if refused := self._lacks_backup_restore(db):
                return refused
            if self._busy(db) or limited():
                return self.error(409, "busy", "database is busy with another action")
            self._go_stale(db)
            run = begin(db)
            bodies.append(run.body)
            self._finish_on_time(db, run.seconds)
            return Reply(200, None)

        return self._on(uid, role, permission, act)

    def _reset(
        self,
        uid: int,
        role: str,
        permission: str,
        running: Callable[[Database], bool],
        clear: Callable[[Database], None],
    ) -> Reply:
        """A status reset: 403, 404, 409 while the action runs, else ``clear`` its fields."""

        def act(db: Database) -> Reply:
            self._advance(db)
            if running(db):
                return self.error(409, "busy", "an action of this kind is running")
            self._go_stale(db)
            clear(db)
            return Reply(200, None)

        return self._on(uid, role, permission, act)

    def _busy(self, db: Database) -> bool:
        """Whether a POST must be answered 409: a scripted conflict (used up by this
        answer), or an export or import running on ``db`` (under the lock)."""
        self._advance(db)
        if self.scenario.conflicts > 0:
            self.scenario.conflicts -= 1
            return True
        return db.exporting() or db.importing()

    def _lacks_backup_restore(self, db: Database) -> Reply | None:
        lacking = [m.module_name for m in db.modules if "backup_restore" not in m.capabilities]
        if not lacking:
            return None
        return self.error(
            406,
            "unsupported_module_capabilities",
            f"module {lacking[0]} does not support backup_restore",
        )

    def _finish_on_time(self, db: Database, seconds: float) -> None:
        # Finish on time even if nobody reads: an action holds the database busy.
        timer = threading.Timer(seconds, self._finish_later, (db,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _next_fail_reason(self) -> str | None:
        """The reason the export being started will fail with, if it is to fail."""
        if self.scenario.fail_exports is None:
            return self.scenario.fail_reason
        if self.scenario.fail_exports <= 0:
            return None
        self.scenario.fail_exports -= 1
        return self.scenario.fail_reason

    def lacks(self, role: str, permission: str) -> Reply | None:
        """The 403 for a role without ``permission``, or None if it has it."""
        roles = {
            "start_bdb_export": EXPORT_ROLES,
            "reset_bdb_current_export_status": EXPORT_ROLES,
            "start_bdb_import": IMPORT_ROLES,
            "reset_bdb_current_import_status": IMPORT_ROLES,
            "view_all_users_info": USER_VIEW_ROLES,
        }.get(permission, VIEW_ROLES)  # view_bdb_info, view_bdb_stats, view_cluster_*
        if role in roles:
            return None
        return self.error(403, "insufficient_permissions", f"user lacks {permission}")

    def list_modules(self, role: str) -> Reply:
        """GET /v1/modules: one row per installed module version."""
        if denied := self.lacks(role, "view_cluster_modules"):
            return denied
        with self.lock:
            return Reply(200, [m.row() for m in self.modules.values()])

    def get_cluster(self, role: str, fields: list[str] | None) -> Reply:
        """GET /v1/cluster: the cluster object, the fields the exports care about."""
        if denied := self.lacks(role, "view_cluster_info"):
            return denied
        data = {
            "name": self.scenario.cluster_name,
            "handle_redirects": self.scenario.handle_redirects,
            "email_alerts": False,
            "rack_aware": False,
            "smtp_password": "",  # empty, as in the docs' example; a live one is a secret
        }
        return Reply(200, {k: v for k, v in data.items() if k in fields} if fields else data)

    def cluster_policy(self, role: str) -> Reply:
        """GET /v1/cluster/policy: only the field the exports care about."""
        if denied := self.lacks(role, "view_cluster_info"):
            return denied
        limit = self.scenario.max_concurrent_exports
        return Reply(200, {"max_simultaneous_backups": limit or DEFAULT_MAX_SIMULTANEOUS_BACKUPS})

    def list_users(self, role: str) -> Reply:
        """GET /v1/users: each user's email and management role (role_uids with RBAC)."""
        if denied := self.lacks(role, "view_all_users_info"):
            return denied
        rows: list[dict[str, Any]] = []
        for uid, (email, (_, user_role)) in enumerate(sorted(self.users.items()), start=1):
            row: dict[str, Any] = {"uid": uid, "email": email}
            if self.scenario.rbac:
                row["role_uids"] = [ROLE_UIDS[user_role]]
            else:
                row["role"] = user_role
            rows.append(row)
        return Reply(200, rows)

    def own_role(self, role: str) -> Reply:
        """GET /v1/users/role: the signed-in user's management role, ``{"role": ...}``.

        The OpenAPI spec lists no permission for it (security "Auth": []), so every
        signed-in user gets an answer; whether role none does is UNCONFIRMED.
        """
        return Reply(200, {"role": role})

    def close(self) -> None:
        """Cancel pending export timers; the redis-servers are about to stop."""
        with self.lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()

    # Export progress --------------------------------------------------------

    def _fields(self, db: Database) -> dict[str, Any]:
        return db.fields(self.scenario)

    def _at_export_limit(self) -> bool:
        limit = self.scenario.max_concurrent_exports
        if limit is None:
            return False
        for db in self.databases.values():
            self._advance(db)
        running = sum(db.export_status == "exporting" for db in self.databases.values())
        return running >= limit

    def _export_seconds(self, db: Database) -> float:
        rate = self.scenario.export_bytes_per_second
        extra = db.dataset_bytes() / rate if rate else 0.0
        return self.scenario.export_seconds + extra

    def _import_seconds(self, sources: list[Any]) -> float:
        """The import's time: fixed, plus the bytes of the files it reads at the rate. Only
        a mount_point source is a file here; a remote one reads as empty (see _load)."""
        rate = self.scenario.import_bytes_per_second
        if not rate:
            return self.scenario.import_seconds
        size = 0
        for source in sources:
            path = Path(source["path"]) if source.get("type") == "mount_point" else None
            if path is not None and path.is_file():
                size += path.stat().st_size
        return self.scenario.import_seconds + size / rate

    def _go_stale(self, db: Database) -> None:
        """Keep showing the state before this action for the next few reads."""
        db.stale_reads, db.stale_view = self.scenario.stale_reads, self._fields(db)

    def _view(self, db: Database) -> dict[str, Any]:
        """What a read shows: the current state, or the stale one right after an action."""
        self._advance(db)
        if db.stale_reads > 0:
            db.stale_reads -= 1
            return db.stale_view
        data = self._fields(db)
        if db.pre_start:
            data["export_status"] = db.pre_start.pop(0)
            data.pop("action_uid", None)
        return data

    def _finish_later(self, db: Database) -> None:
        with self.lock:
            if not self._closed:
                self._advance(db)

    def _advance(self, db: Database) -> None:
        """Bring the export's and the import's state up to the clock (under the lock)."""
        actions = (
            (db.export, self._exporting, self._exported),
            (db.load, self._importing, self._imported),
        )
        for run, running, ended in actions:
            if run is None or run.done:
                continue
            fraction = run.step(self.clock())
            if fraction is None:
                began = time.monotonic()
                ended(db, run)
                run.work_seconds = time.monotonic() - began
            else:
                running(db, round(100.0 * fraction, 1))

    def _exporting(self, db: Database, percent: float) -> None:
        db.export_progress = percent

    def _exported(self, db: Database, export: Run) -> None:
        reason = export.fail_reason or self._write(db, export.what)
        if reason:
            db.export_status, db.export_failure_reason = "failed", reason
            return
        db.export_status, db.export_progress = "succeeded", 100.0
        db.last_export_time = _iso_now()

    def _importing(self, db: Database, percent: float) -> None:
        db.import_status = "initializing" if percent < 100 * INITIALIZING_SHARE else "importing"
        db.import_progress = percent

    def _imported(self, db: Database, load: Run) -> None:
        reason = load.fail_reason or self._load(db, load.what)
        db.import_status, db.import_failure_reason = (
            ("failed", reason) if reason else ("succeeded", "")
        )
        if not reason:
            db.import_progress = 100.0

    def _load(self, db: Database, sources: list[dict[str, Any]]) -> str:
        """Load the sources into the database; returns a failure reason, or "" on success.

        All sources are read and checked first, and only then is the database erased
        and loaded, in one transaction: a failed import leaves the old data (ours: RS
        documents no outcome for the data of a failed import).
        """
        files: list[Path] = []
        for source in sources:
            if source["type"] != "mount_point":
                continue  # remote stores are not reachable from here: read as empty
            path = Path(source["path"])
            if not path.is_file() or not os.access(path, os.R_OK):
                return "download-error"
            files.append(path)
        entries: list[Entry] = []
        try:
            for path in files:
                entries += read_rdb(path)
        except CorruptRdbError:
            return "file-corrupted"
        except (OSError, RuntimeError, subprocess.SubprocessError):
            return "general-error"  # the file was checked whole; loading it failed anyway
        if db.redis is None:
            return "general-error" if files else ""
        # Active-Active: "imported data is merged" (import-data.md); counters that add
        # up are not modelled: a key from the file replaces the one there.
        db.redis.replace_data(entries, erase=not db.crdt)
        return ""

    def _write(self, db: Database, location: dict[str, str]) -> str:
        """Write the export file; returns a failure reason, or "" on success."""
        if location["type"] != "mount_point":
            return ""  # remote stores are not reachable from here; accepted as written
        target = Path(location["path"])
        if not target.is_dir():
            return "wrong-file-path"
        if not os.access(target, os.W_OK):
            return "no-permission"
        if db.redis is None:
            return "general-error"
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        # Like RS: the name (first 30 characters) and a timestamp, gzipped RDB.
        path = target / f"{db.name[:30]}-{db.uid}-{stamp}.rdb.gz"
        with db.redis.dump().open("rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        db.files.append(path)
        return ""


def _check_export_body(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("export_location"), dict):
        return "export_location: expected an object"
    return _check_attributes(body, "export_location") or _check_location(
        body["export_location"], "export_location", LOCATION_FIELDS
    )


def _check_import_body(body: Any) -> str:
    # With no body RS imports from the database's configured sources; the simulated
    # databases have none (ours).
    sources = body.get("dataset_import_sources") if isinstance(body, dict) else None
    if not isinstance(sources, list) or not sources:
        return "dataset_import_sources: expected a non-empty array (no sources are configured)"
    problems = (
        _check_location(source, f"dataset_import_sources[{i}]", SOURCE_FIELDS)
        if isinstance(source, dict)
        else f"dataset_import_sources[{i}]: expected an object"
        for i, source in enumerate(sources)
    )
    return _check_attributes(body, "dataset_import_sources") or next(
        (problem for problem in problems if problem), ""
    )


def _check_attributes(body: dict[str, Any], main: str) -> str:
    """Only ``main`` and email_notification: "Other attributes are not allowed"."""
    extra = set(body) - {main, "email_notification"}
    if extra:
        return f"unknown attribute {sorted(extra)[0]}"
    if "email_notification" in body and not isinstance(body["email_notification"], bool):
        return "email_notification: expected a boolean"
    return ""


def _check_location(
    location: dict[str, Any], name: str, table: dict[str, tuple[set[str], set[str]]]
) -> str:
    kind = location.get("type")
    if kind not in table:
        return f"{name}.type {kind!r} is not supported"
    required, optional = table[kind]
    missing = required - set(location)
    if missing:
        return f"{name}.{sorted(missing)[0]} is required"
    unknown = set(location) - required - optional - {"type"}
    if unknown:
        return f"{name}.{sorted(unknown)[0]} is not allowed for type {kind}"
    if kind == "abs" and ("account_key" in location) == ("sas_token" in location):
        return f"{name}: exactly one of account_key and sas_token"
    return ""
