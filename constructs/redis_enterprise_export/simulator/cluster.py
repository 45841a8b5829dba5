"""The simulated cluster's facade, free of HTTP: set-up, one method per request, routing.

It follows the documented API, awkward parts included: ``export_status`` is
``""`` on a fresh database and ``idle`` after a reset, it keeps the previous
export's value until reset and may go on showing it for a few reads after a POST
(``Scenario.stale_reads``); ``export_progress`` can come as a string; error
bodies carry ``description`` or, like older clusters, ``message``. Imports load
the file into the database's real redis-server (``redis_server.read_rdb``).
Database statistics are sampled, so they lag (``Scenario.stats_interval_seconds``).
The concerns live beside it: roles.py, scenario.py, state.py, lifecycle.py.
SOURCES.md beside this file names the page each modelled behaviour comes from.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from . import lifecycle, roles
from .lifecycle import Run
from .redis_server import RedisServer
from .roles import ROLE_UIDS, ROLES
from .scenario import Reply, Request, Scenario
from .state import Database, Module

# RS's default max_simultaneous_backups, reported when the scenario sets no limit.
DEFAULT_MAX_SIMULTANEOUS_BACKUPS = 4


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
        # Read at each finish, not now: tests swap self.clock for a fake one after set-up.
        self._finisher = lifecycle.Finisher(self.lock, lambda: self.clock())  # noqa: PLW0108

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
        return self.scenario.error(status, code, text)

    def get_database(self, uid: int, fields: list[str] | None) -> Reply:
        with self.lock:
            db = self.databases.get(uid)
            if db is None:
                return self.error(404, "db_not_exist", f"database {uid} does not exist")
            data = lifecycle.view(db, self.scenario, self.clock())
        return Reply(200, {k: v for k, v in data.items() if k in fields} if fields else data)

    def list_databases(self, fields: list[str] | None) -> Reply:
        with self.lock:
            now = self.clock()
            rows = [lifecycle.view(db, self.scenario, now) for db in self.databases.values()]
        if fields:
            rows = [{k: v for k, v in row.items() if k in fields} for row in rows]
        return Reply(200, rows)

    def last_stats(self, uid: int, role: str, metrics: list[str] | None) -> Reply:
        """GET /v1/bdbs/stats/last/{uid}: the latest sample, ``{"<uid>": {stime, etime,
        metrics...}}``, only ``metrics`` (and the times) if given. A new sample is
        taken when the last is ``stats_interval_seconds`` old, covering the time since
        the last one; until then the last is shown, however the data changed."""

        def act(db: Database) -> Reply:
            sample = db.latest_sample(self.clock(), self.scenario.stats_interval_seconds)
            wanted = None if metrics is None else {*metrics, "stime", "etime"}
            shown = {k: v for k, v in sample.items() if wanted is None or k in wanted}
            return Reply(200, {str(db.uid): shown})

        return self._on(uid, role, "view_bdb_stats", act)

    def start_export(self, uid: int, role: str, body: Any) -> Reply:
        """POST /v1/bdbs/{uid}/actions/export: write the file when the export's time is up."""

        def limited() -> bool:
            return lifecycle.at_export_limit(self.databases.values(), self.scenario, self.clock())

        return self._start(uid, role, "start_bdb_export", body, check=lifecycle.check_export_body,
                           begin=lifecycle.begin_export, bodies=self.export_bodies,
                           limited=limited)  # fmt: skip

    def start_import(self, uid: int, role: str, body: Any) -> Reply:
        """POST /v1/bdbs/{uid}/actions/import: load the sources when the import's time is up."""
        return self._start(uid, role, "start_bdb_import", body, check=lifecycle.check_import_body,
                           begin=lifecycle.begin_import, bodies=self.import_bodies)  # fmt: skip

    def reset_export_status(self, uid: int, role: str) -> Reply:
        """PUT …/export_reset_status: "Resets the database's export_status to idle if an
        export is not in progress" (export_reset_status.md)."""
        return self._reset(uid, role, "reset_bdb_current_export_status", Database.exporting,
                           lifecycle.reset_export)  # fmt: skip

    def reset_import_status(self, uid: int, role: str) -> Reply:
        """PUT …/import_reset_status: the same for the import's fields."""
        return self._reset(uid, role, "reset_bdb_current_import_status", Database.importing,
                           lifecycle.reset_import)  # fmt: skip

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
        body: Any,
        *,
        check: Callable[[Any], str],
        begin: Callable[[Database, Any, Scenario, float], Run],
        bodies: list[Any],
        limited: Callable[[], bool] = lambda: False,
    ) -> Reply:
        """An action's POST: 403, 404, 400 for a body ``check`` finds a problem in, 406,
        409 while busy (or ``limited``); else ``begin`` it, keep its body in ``bodies``,
        and finish it on time."""

        problem = check(body)

        def act(db: Database) -> Reply:
            if problem:
                return self.error(400, "invalid_schema", problem)
            if refused := lifecycle.lacks_backup_restore(db, self.scenario):
                return refused
            if lifecycle.busy(db, self.scenario, self.clock()) or limited():
                return self.error(409, "busy", "database is busy with another action")
            lifecycle.go_stale(db, self.scenario)
            run = begin(db, body, self.scenario, self.clock())
            bodies.append(run.body)
            self._finisher.finish_on_time(db, run.seconds)
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
            lifecycle.advance(db, self.clock())
            if running(db):
                return self.error(409, "busy", "an action of this kind is running")
            lifecycle.go_stale(db, self.scenario)
            clear(db)
            return Reply(200, None)

        return self._on(uid, role, permission, act)

    def lacks(self, role: str, permission: str) -> Reply | None:
        """The 403 for a role without ``permission``, or None if it has it."""
        return roles.lacks(self.scenario, role, permission)

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
            "created_time": self.scenario.cluster_created,
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
        self._finisher.close()
