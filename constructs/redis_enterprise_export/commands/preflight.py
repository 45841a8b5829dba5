"""``preflight``: will tonight's exports work? Checks each export without exporting.

Reads only: the databases (which also proves reach, TLS and credentials, in one
request per cluster, so a wrong password costs one failed login), the modules'
capabilities, the cluster's policy and its users. Never starts an export, never
resets a status, never touches Terraform state.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from redis_enterprise_export.commands.common import CHECK_FAILED, OK, bad_input, load
from redis_enterprise_export.errors import ApiError, ConfigError, TlsError
from redis_enterprise_export.inventory import ClusterView, read_clusters, refused, view_for
from redis_enterprise_export.models import ExportSpec

EXPORT_ROLES = frozenset({"admin", "cluster_member", "db_member"})  # start_bdb_export
PASS, FAIL, WARN, NOT_CHECKED = "pass", "fail", "warn", "not checked"
MARKS = {PASS: "✔", FAIL: "✘", WARN: "!", NOT_CHECKED: "?"}


@dataclass(frozen=True)
class Check:
    """One check of one export: its outcome and, unless it passed, what to do."""

    export: str
    check: str
    outcome: str
    detail: str


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        config = load(args)
    except ConfigError as exc:
        return bad_input(exc)
    views = read_clusters(config.clusters, environ, preflight=True)
    checks = [
        c for spec in config.exports for c in check_export(spec, view_for(views, spec), environ)
    ]
    for view in views.values():
        for row in view.uncovered_by(config.exports):
            checks.append(
                Check(
                    "*",
                    f"coverage of {view.name}",
                    WARN,
                    f"database {row.get('name')!r} (uid {row.get('uid')}) has no "
                    "export: add one to the config, or a selector",
                )
            )
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        for c in checks:
            print(f"{MARKS[c.outcome]} {c.export}: {c.check}: {c.detail}")
    return CHECK_FAILED if any(c.outcome == FAIL for c in checks) else OK


def check_export(spec: ExportSpec, view: ClusterView, environ: Mapping[str, str]) -> list[Check]:
    return [
        Check(spec.name, name, outcome, detail)
        for name, (outcome, detail) in _checks(spec, view, environ)
    ]


def _checks(
    spec: ExportSpec, view: ClusterView, environ: Mapping[str, str]
) -> Iterator[tuple[str, tuple[str, str]]]:
    yield "secrets set", _secrets(spec, environ)
    yield "cluster reachable, TLS verified", _reach(view)
    yield "credentials accepted", _credentials(view)
    database = _database(spec, view)
    yield "database exists", database[0]
    yield "modules support backup_restore", _modules(view, database[1])
    yield "role may export", _role(view)
    yield "cluster export limit", _limit(spec, view)
    if spec.cluster.coordination == "postgres":
        yield "PostgreSQL for coordination", _postgres(environ)


def _postgres(environ: Mapping[str, str]) -> tuple[str, str]:
    from redis_enterprise_export.coordination import CONN_ENV, pg_problem

    # Once per connection string, not once per export.
    key = environ.get(CONN_ENV, "")
    if key not in _PG_CHECKED:
        problem = pg_problem(environ)
        _PG_CHECKED[key] = (FAIL, problem) if problem else (PASS, "connected; SELECT 1 answered")
    return _PG_CHECKED[key]


_PG_CHECKED: dict[str, tuple[str, str]] = {}


def _secrets(spec: ExportSpec, environ: Mapping[str, str]) -> tuple[str, str]:
    names = [spec.cluster.username_env, spec.cluster.password_env] + [
        value for key, value in spec.location.to_dict().items() if key.endswith("_env")
    ]
    unset = [name for name in names if not environ.get(name)]
    if unset:
        return FAIL, "set " + ", ".join(unset) + " in the pipeline's environment"
    return PASS, "all set: " + ", ".join(names)


def _reach(view: ClusterView) -> tuple[str, str]:
    error = view.databases.error
    if isinstance(error, ConfigError):
        return NOT_CHECKED, "no credentials to ask with (see secrets)"
    if isinstance(error, TlsError):
        return FAIL, str(error)
    if error is not None and not isinstance(error, ApiError):
        return FAIL, str(error)
    return PASS, f"{view.cluster.url} answered"


def _credentials(view: ClusterView) -> tuple[str, str]:
    error = view.databases.error
    if isinstance(error, ApiError):
        return FAIL, str(error)
    if error is not None:
        return NOT_CHECKED, "the cluster was not reached"
    return PASS, f"{view.user} signed in"


def _database(spec: ExportSpec, view: ClusterView) -> tuple[tuple[str, str], dict[str, Any] | None]:
    if not view.databases.ok:
        return (NOT_CHECKED, "the cluster was not read"), None
    found = view.database(spec.database)
    if len(found) == 1:
        return (PASS, f"{found[0].get('name')!r} is uid {found[0].get('uid')}"), found[0]
    if found:
        return (FAIL, f"{len(found)} databases are called {spec.database!r}; use a uid"), None
    names = sorted(str(row.get("name")) for row in view.databases.value or [])
    return (FAIL, f"no database {spec.database!r}; the cluster has {', '.join(names)}"), None


def _modules(view: ClusterView, database: dict[str, Any] | None) -> tuple[str, str]:
    if database is None:
        return NOT_CHECKED, "no database to check"
    names = [
        str(m.get("module_name")) for m in database.get("module_list") or [] if isinstance(m, dict)
    ]
    if not names:
        return PASS, "no modules loaded"
    if not view.modules.ok:
        return NOT_CHECKED, f"the modules could not be read ({view.modules.error})"
    lacking = [n for n in names if "backup_restore" not in view.modules.value.get(n, ())]
    if lacking:
        modules = ", ".join(lacking)
        return FAIL, f"module {modules} lacks backup_restore: RS refuses the export (406)"
    return PASS, "all of " + ", ".join(names) + " support it"


def _role(view: ClusterView) -> tuple[str, str]:
    if not view.databases.ok:
        return NOT_CHECKED, "the cluster was not read"
    if refused(view.users, 403):
        return NOT_CHECKED, (
            "listing users needs view_all_users_info (admin, user_manager), "
            "and RS documents no call that shows a user its own role; "
            "a missing start_bdb_export shows as 403 at export time"
        )
    if not view.users.ok:
        return NOT_CHECKED, f"the users could not be read ({view.users.error})"
    roles = [str(u.get("role")) for u in view.users.value if u.get("email") == view.user]
    if not roles:
        return NOT_CHECKED, f"{view.user} is not among the cluster's users (LDAP or SSO?)"
    if roles[0] in EXPORT_ROLES:
        return PASS, f"{view.user} is {roles[0]}"
    return FAIL, (
        f"{view.user} is {roles[0]}, which lacks start_bdb_export: give it the "
        "admin, cluster_member or db_member role"
    )


def _limit(spec: ExportSpec, view: ClusterView) -> tuple[str, str]:
    if not view.databases.ok:
        return NOT_CHECKED, "the cluster was not read"
    if not view.policy.ok:
        return NOT_CHECKED, f"the cluster policy could not be read ({view.policy.error})"
    limit = view.policy.value.get("max_simultaneous_backups")
    ours = spec.cluster.max_concurrent_exports
    if not isinstance(limit, int) or isinstance(limit, bool):
        return NOT_CHECKED, "the cluster policy has no max_simultaneous_backups"
    if ours == 0 or ours > limit:
        # RS documents max_simultaneous_backups for backups; that it caps exports too is
        # UNCONFIRMED, so this warns instead of failing.
        mine = "no limit" if ours == 0 else f"max_concurrent_exports = {ours}"
        return WARN, (
            f"the cluster runs {limit} backups at once and this config allows "
            f"{mine}: exports beyond {limit} may meet 409s; set "
            f"max_concurrent_exports = {limit}"
        )
    if ours < limit:
        return WARN, f"{ours} of the cluster's {limit} slots used: raise it to {limit}"
    return PASS, f"{ours}, the cluster's max_simultaneous_backups"
