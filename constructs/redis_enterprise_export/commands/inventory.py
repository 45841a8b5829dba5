"""What the day-2 commands read from each configured cluster: few calls, concurrent
across clusters, one at a time per cluster, and never a second try after a 401:
not even by another command, for as long as the login record (``run.logins``) holds it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis_enterprise_export.errors import ApiError, ExportError
from redis_enterprise_export.rs.connect import Credentials, connect
from redis_enterprise_export.run.logins import first_login
from redis_enterprise_export.run.slots import slots_dir
from redis_enterprise_export.spec.drill import DrillSpec
from redis_enterprise_export.spec.export import Cluster, ExportSpec

# The backup_* fields are RS's own scheduled backups (fact sheet, Addendum), which
# coverage counts beside this project's exports. backup_location carries secrets:
# only its type and where (bucket, container, path) are ever shown. crdt: a drill's
# scratch database must not be Active-Active.
DATABASE_FIELDS = (
    "uid,name,status,export_status,export_progress,export_failure_reason,"
    "last_export_time,module_list,backup,backup_interval,backup_location,"
    "last_backup_time,backup_status,backup_failure_reason,crdt"
)

T = TypeVar("T")


@dataclass
class Reading:
    """One call's answer, or the error that stood in its way."""

    value: Any = None
    error: ExportError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ClusterView:
    """What one cluster showed. ``databases`` is read first; a failure there (an
    unreachable cluster, refused credentials) means nothing else was asked."""

    name: str
    cluster: Cluster
    databases: Reading = field(default_factory=Reading)
    modules: Reading = field(default_factory=Reading)
    policy: Reading = field(default_factory=Reading)
    role: Reading = field(default_factory=Reading)
    users: Reading = field(default_factory=Reading)
    settings: Reading = field(default_factory=Reading)
    user: str = ""

    def database(self, wanted: int | str) -> list[dict[str, Any]]:
        """The databases ``wanted`` (a uid or a name) names: none, one, or (names) several."""
        rows: list[dict[str, Any]] = self.databases.value or []
        key = "uid" if isinstance(wanted, int) else "name"
        return [row for row in rows if row.get(key) == wanted]

    def uncovered_by(self, exports: list[ExportSpec]) -> list[dict[str, Any]]:
        """This cluster's databases that none of ``exports`` names."""
        return [row for row in self.databases.value or [] if not self.exports_of(row, exports)]

    def drills_into(
        self, row: dict[str, Any], drills: list[DrillSpec], exports: list[ExportSpec]
    ) -> list[str]:
        """The names of those of ``drills`` whose scratch database ``row`` is: on the
        cluster of the drill's export, named by uid or name."""
        cluster_of = {spec.name: spec.cluster for spec in exports}
        return [
            drill.name
            for drill in drills
            if cluster_of.get(drill.export) == self.cluster
            and drill.into in (row.get("uid"), row.get("name"))
        ]

    def exports_of(self, row: dict[str, Any], exports: list[ExportSpec]) -> list[ExportSpec]:
        """Those of ``exports`` that name the database ``row`` (by uid or name)."""
        return [
            spec
            for spec in exports
            if spec.cluster == self.cluster and spec.database in (row.get("uid"), row.get("name"))
        ]


def view_for(views: Mapping[str, ClusterView], spec: ExportSpec) -> ClusterView:
    """The view of the cluster ``spec`` exports from."""
    return next(view for view in views.values() if view.cluster is spec.cluster)


def read_clusters(
    clusters: Mapping[str, Cluster], environ: Mapping[str, str], *, preflight: bool
) -> dict[str, ClusterView]:
    """Read every cluster at once; ``preflight`` adds modules, policy, role and settings."""
    with ThreadPoolExecutor(max_workers=max(len(clusters), 1)) as pool:
        futures = {
            name: pool.submit(_read, name, cluster, environ, preflight)
            for name, cluster in clusters.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _read(name: str, cluster: Cluster, environ: Mapping[str, str], preflight: bool) -> ClusterView:
    view = ClusterView(name, cluster, user=environ.get(cluster.username_env, ""))
    with ExitStack() as cleanup:
        try:
            credentials = Credentials.read(cluster, environ)
            directory = slots_dir(environ)
            client = connect(cluster, credentials, environ, cleanup)
        except ExportError as exc:
            view.databases = Reading(error=exc)
            return view
        # The first request, past the login gate every command shares.
        view.databases = _ask(
            lambda: first_login(
                directory, cluster.url, credentials, lambda: client.databases(DATABASE_FIELDS)
            )
        )
        if not view.databases.ok or not preflight:
            return view
        view.modules = _ask(client.modules)
        view.policy = _ask(client.cluster_policy)
        view.role = _ask(client.own_role)
        if not view.role.ok:  # an older cluster, or a proxy that hides the call
            view.users = _ask(client.users)
        view.settings = _ask(lambda: client.cluster_settings("handle_redirects"))
    return view


def _ask(call: Callable[[], T]) -> Reading:
    try:
        return Reading(value=call())
    except ExportError as exc:
        return Reading(error=exc)


def refused(reading: Reading, status: int) -> bool:
    """Whether ``reading`` failed with HTTP ``status``."""
    return isinstance(reading.error, ApiError) and reading.error.http_status == status
