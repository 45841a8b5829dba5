"""``preflight``: will tonight's exports work? Checks each export without exporting.

Reads only: the databases (which also proves reach, TLS and credentials, in one
request per cluster, so a wrong password costs one failed login), the modules'
capabilities, the cluster's policy and settings, and the user's own role. Never
starts an export, never resets a status, never touches Terraform state. A tick
promises only what was checked: what the API cannot test is "not checked".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis_enterprise_export.commands.common import (
    CHECK_FAILED,
    OK,
    UNREADABLE,
    UNREADABLE_MEANING,
    add_config_arguments,
    bad_input,
    clusters_of,
    hours,
    load,
    unread,
)
from redis_enterprise_export.commands.inventory import ClusterView, read_clusters, refused
from redis_enterprise_export.commands.records import STACK_FILE
from redis_enterprise_export.commands.summary import one_line
from redis_enterprise_export.commands.synth import default_stack
from redis_enterprise_export.contract import ca_digest
from redis_enterprise_export.errors import (
    REDIRECT_HINT,
    ApiError,
    ConfigError,
    LoginSkippedError,
    RedirectError,
)
from redis_enterprise_export.run.logins import CLEAR_COMMAND
from redis_enterprise_export.spec.drill import DrillSpec
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.spec.locations import MountPointLocation

# The roles RS grants start_bdb_export, and the documented ones it does not.
EXPORT_ROLES = frozenset({"admin", "cluster_member", "db_member"})
NO_EXPORT_ROLES = frozenset({"db_viewer", "cluster_viewer", "user_manager", "none"})
PASS, FAIL, WARN, NOT_CHECKED = "pass", "fail", "warn", "not checked"
MARKS = {PASS: "✔", FAIL: "✘", WARN: "!", NOT_CHECKED: "?"}
PG_CHECK = "PostgreSQL for coordination"


@dataclass(frozen=True)
class Check:
    """One check of one cluster (``export`` empty) or of one export on it."""

    cluster: str
    export: str
    check: str
    outcome: str
    detail: str
    # The text line, when the detail is too long for every run's output (--json has it).
    brief: str = ""


DESCRIPTION = (
    "Check every export (or --name) without exporting. Once per cluster: it answers "
    "and its TLS verifies, the credentials work (one request), it does not redirect "
    "(handle_redirects), the user's role may export, max_concurrent_exports fits, and "
    "a stack synthesized beside the config carries the CA ca_cert names. "
    "Per export: the secrets are set, the database exists, and the module versions "
    "it uses support backup_restore; per drill, its scratch database exists and is "
    "not Active-Active. A check the API cannot answer (a destination, "
    "say) shows as '?' (not checked) and why; the last line sums up."
)
EPILOG = (
    "exit codes: 0 every check passed (warnings and not checked allowed), "
    f"1 a check failed, 2 bad input, {UNREADABLE_MEANING}"
)


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    add_config_arguments(parser, environ)
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        config, selected = load(args)
    except ConfigError as exc:
        return bad_input(exc)
    views = read_clusters(clusters_of(config, selected), environ, preflight=True)
    checks: list[Check] = []
    for view in views.values():
        checks += [Check(view.name, "", name, *result) for name, result in _cluster_checks(view)]
        if view.cluster.coordination == "postgres":
            checks.append(Check(view.name, "", PG_CHECK, *_postgres(environ)))
        own = [spec for spec in selected if spec.cluster is view.cluster]
        if (stack_ca := _stack_ca(Path(args.config), own)) is not None:
            checks.append(Check(view.name, "", "stack CA", *stack_ca))
        checks += [
            Check(view.name, spec.name, name, *result)
            for spec in selected
            if spec.cluster is view.cluster
            for name, result in _export_checks(spec, view, environ)
        ]
        names = {spec.name for spec in selected if spec.cluster is view.cluster}
        checks += [
            Check(view.name, f"drill {drill.name}", "scratch database",
                  *_scratch(drill, view, config.exports))
            for drill in config.drills
            if drill.export in names
        ]  # fmt: skip
        # Against the whole config: --name narrows what is checked, not what exists.
        checks += [
            Check(view.name, "", "coverage", *_coverage(row))
            for row in view.uncovered_by(config.exports)
            # A drill's scratch database is erased by each drill: nothing to cover.
            if not view.drills_into(row, config.drills, config.exports)
        ]
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        for c in checks:
            subject = c.export or f"cluster {c.cluster}"
            print(one_line(f"{MARKS[c.outcome]} {subject}: {c.check}: {c.brief or c.detail}"))
        print(tally(checks))
    if unread(views):
        return UNREADABLE
    return CHECK_FAILED if any(c.outcome == FAIL for c in checks) else OK


def _coverage(row: dict[str, Any]) -> tuple[str, str]:
    """A database no export covers: fine if RS's own scheduled backups do (``backup``)."""
    database = f"database {row.get('name')!r} (uid {row.get('uid')}) has no export"
    if row.get("backup") is True:
        interval = row.get("backup_interval")
        every = f" every {hours(interval)}" if type(interval) is int and interval > 0 else ""
        return PASS, f"{database}; RS's own scheduled backups cover it{every}"
    return WARN, (
        f"{database} and no RS scheduled backup: add one to the config, or a selector, "
        "or turn on the database's scheduled backups"
    )


# A stack's cdk.tf.json holds each CA once (in locals); far below this.
MAX_STACK_BYTES = 64 * 2**20


def _stack_ca(config: Path, specs: list[ExportSpec]) -> tuple[str, str] | None:
    """Whether the stack synthesized beside the config carries the CA its ``ca_cert`` names
    (the stack keeps the CA's sha256 in each export's spec): a CA file changed after
    synthesis passes every other check and fails the apply. None: no stack to compare."""
    stack = default_stack(config) / STACK_FILE
    try:
        if not stack.is_file() or stack.stat().st_size > MAX_STACK_BYTES:
            return None
        resources = json.loads(stack.read_text()).get("resource", {}).get("terraform_data", {})
        inputs = [item.get("input") for item in resources.values()]
        synthesized = {
            spec["name"]: spec["cluster"].get("ca_cert_sha256")
            for spec in inputs
            if isinstance(spec, dict) and isinstance(spec.get("cluster"), dict)
        }
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        return NOT_CHECKED, f"the stack {stack} could not be read ({type(exc).__name__})"
    compared = [spec for spec in specs if spec.name in synthesized]
    if not compared:
        return None
    changed = [
        spec.name
        for spec in compared
        if synthesized[spec.name]
        != (ca_digest(spec.cluster.ca_cert_pem) if spec.cluster.ca_cert_pem else None)
    ]
    if changed:
        return FAIL, (
            f"the stack in {stack.parent} was synthesized with another CA than ca_cert "
            f"names now (exports {', '.join(changed)}): re-run synth before the apply"
        )
    return PASS, f"the stack in {stack.parent} carries the CA ca_cert names"


def tally(checks: list[Check]) -> str:
    """The last line: how many checks came out which way."""
    count = {outcome: sum(c.outcome == outcome for c in checks) for outcome in MARKS}
    warnings = "warning" if count[WARN] == 1 else "warnings"
    return (
        f"preflight: {count[PASS]} passed, {count[FAIL]} failed, "
        f"{count[NOT_CHECKED]} not checked, {count[WARN]} {warnings}"
    )


def _cluster_checks(view: ClusterView) -> Iterator[tuple[str, tuple[str, ...]]]:
    yield "cluster reachable, TLS verified", _reach(view)
    yield "credentials accepted", _credentials(view)
    if isinstance(view.databases.error, LoginSkippedError):
        yield (
            "refused-login record",
            (
                FAIL,
                f"{view.databases.error.refusal}; once the cluster accepts these credentials "
                f"again, clear it: {CLEAR_COMMAND}",
            ),
        )
    yield "requests not redirected", _redirects(view)
    yield "role may export", _role(view)
    yield "cluster export limit", _limit(view)


def _export_checks(
    spec: ExportSpec, view: ClusterView, environ: Mapping[str, str]
) -> Iterator[tuple[str, tuple[str, str]]]:
    yield "secrets set", _secrets(spec, environ)
    database = _database(spec, view)
    yield "database exists", database[0]
    yield "modules support backup_restore", _modules(view, database[1])
    yield "destination reachable", _destination(spec)


def _postgres(environ: Mapping[str, str]) -> tuple[str, str]:
    from redis_enterprise_export.run.coordination import CONN_ENV, pg_problem

    # Once per connection string, not once per cluster.
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
    if isinstance(error, LoginSkippedError):
        return NOT_CHECKED, "not asked: this machine holds a refused login (see its record)"
    # A refusal (ApiError) means the cluster was reached: the credentials check says more.
    if error is not None and not isinstance(error, ApiError):
        return FAIL, str(error)
    return PASS, f"{view.cluster.url} answered"


def _credentials(view: ClusterView) -> tuple[str, str]:
    error = view.databases.error
    if isinstance(error, ApiError | LoginSkippedError):
        return FAIL, str(error)
    if error is not None:
        return NOT_CHECKED, "the cluster was not reached"
    return PASS, f"{view.user} signed in"


def _redirects(view: ClusterView) -> tuple[str, ...]:
    if isinstance(view.databases.error, RedirectError):
        return FAIL, "the cluster redirected the first request (see reachable)"
    if not view.databases.ok:
        return NOT_CHECKED, "the cluster was not read"
    if not view.settings.ok:
        return NOT_CHECKED, f"handle_redirects could not be read ({view.settings.error})"
    setting = view.settings.value.get("handle_redirects")
    if setting is True:
        return PASS, "handle_redirects is enabled: any node answers the API itself"
    if setting is False:
        return (
            WARN,
            f"handle_redirects is off: {view.cluster.url} answered, but a node that is not "
            "the master (after a failover, say) redirects, which the helper refuses; "
            + REDIRECT_HINT,
            "handle_redirects is off: a failover may fail exports (--json)",
        )
    return NOT_CHECKED, f"the cluster object shows handle_redirects as {setting!r}"


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


def _scratch(drill: DrillSpec, view: ClusterView, exports: list[ExportSpec]) -> tuple[str, str]:
    """The drill's scratch database: there, one of it, not Active-Active, not a database
    any export exports (however the config spells it), and not one RS backs up on a
    schedule unless the drill says erase_backed_up."""
    if not view.databases.ok:
        return NOT_CHECKED, "the cluster was not read"
    found = view.database(drill.into)
    if not found:
        return FAIL, f"no database {drill.into!r}: create the scratch database it imports into"
    if len(found) > 1:
        return FAIL, f"{len(found)} databases are called {drill.into!r}; use a uid"
    row = found[0]
    exporters = [spec.name for spec in view.exports_of(row, exports)]
    if exporters:
        return FAIL, (
            f"{row.get('name')!r} (uid {row.get('uid')}) is exported by "
            f"{', '.join(exporters)}: a drill would ERASE it; name a scratch database"
        )
    if row.get("crdt") is True:
        return FAIL, (
            f"{row.get('name')!r} is Active-Active: an import would merge into it, not "
            "restore; use a database that is not"
        )
    if row.get("backup") is True and not drill.erase_backed_up:
        return FAIL, (
            f"{row.get('name')!r} (uid {row.get('uid')}) has RS scheduled backups on "
            "(backup: true), so its content may be meant to be kept, and a drill would "
            "ERASE it: name a scratch database, or set erase_backed_up = true in the drill"
        )
    backed_up = "; RS backs it up on a schedule (erase_backed_up)" if row.get("backup") else ""
    return PASS, f"{row.get('name')!r} is uid {row.get('uid')}; each drill ERASES it{backed_up}"


def _modules(view: ClusterView, database: dict[str, Any] | None) -> tuple[str, str]:
    if database is None:
        return NOT_CHECKED, "no database to check"
    listed = database.get("module_list")
    if not listed:
        return PASS, "no modules loaded"
    if not isinstance(listed, list) or not all(isinstance(m, dict) for m in listed):
        return NOT_CHECKED, (
            f"the database's module_list is not a list of objects ({one_line(repr(listed))[:80]})"
        )
    if not view.modules.ok:
        return NOT_CHECKED, f"the modules could not be read ({view.modules.error})"
    judged = [_module(entry, view.modules.value) for entry in listed]
    for outcome in (FAIL, NOT_CHECKED):
        if any(o == outcome for o, _ in judged):
            return outcome, "; ".join(text for o, text in judged if o == outcome)
    return PASS, "; ".join(text for _, text in judged)


def _module(entry: dict[str, Any], catalog: list[dict[str, Any]]) -> tuple[str, str]:
    """One of the database's modules judged by the version it uses (its ``module_id``),
    or, when it names none, by every version of that name (and saying so)."""
    name = str(entry.get("module_name"))
    module_id = entry.get("module_id")
    if isinstance(module_id, str | int) and not isinstance(module_id, bool) and module_id != "":
        versions = [m for m in catalog if str(m.get("uid")) == str(module_id)]
        how = f"module {name} (module_id {module_id})"
        if not versions:
            return NOT_CHECKED, f"{how} is not among GET /v1/modules"
    else:
        versions = [m for m in catalog if m.get("module_name") == name]
        how = f"module {name} (judged by name: the database names no module_id)"
        if not versions:
            return NOT_CHECKED, f"{how} is not among GET /v1/modules"
    capable = {_capable(m) for m in versions}
    if capable == {True}:
        return PASS, f"{how} supports backup_restore"
    if capable == {False}:
        return FAIL, f"{how} lacks backup_restore: RS refuses the export (406)"
    return NOT_CHECKED, f"{how}: its versions disagree on backup_restore, or do not say"


def _capable(module: dict[str, Any]) -> bool | None:
    capabilities = module.get("capabilities")
    if not isinstance(capabilities, list):
        return None
    return "backup_restore" in capabilities


def _destination(spec: ExportSpec) -> tuple[str, str]:
    location = spec.location
    if isinstance(location, MountPointLocation):
        return NOT_CHECKED, (
            f"{location.path} must exist on every node, writable by redislabs:redislabs; "
            "the API cannot look"
        )
    return NOT_CHECKED, (
        f"RS has no call that tests a {location.type} location without exporting; "
        "a wrong one shows as export_failure_reason after an export"
    )


def _role(view: ClusterView) -> tuple[str, str]:
    if not view.databases.ok:
        return NOT_CHECKED, "the cluster was not read"
    if view.role.ok:
        return _judge_role(view.user, view.role.value, "GET /v1/users/role")
    asked = f"GET /v1/users/role failed ({view.role.error})"
    if refused(view.users, 403):
        return NOT_CHECKED, (
            f"{asked}, and listing users needs view_all_users_info (admin, user_manager); "
            "a missing start_bdb_export shows as 403 at export time"
        )
    if not view.users.ok:
        return NOT_CHECKED, f"{asked}, and the users could not be read ({view.users.error})"
    mine = [u for u in view.users.value if u.get("email") == view.user]
    if not mine:
        return NOT_CHECKED, f"{view.user} is not among the cluster's users (LDAP or SSO?)"
    role = mine[0].get("role")
    if isinstance(role, str) and role:
        return _judge_role(view.user, role, "GET /v1/users")
    if "role_uids" in mine[0]:
        return NOT_CHECKED, (
            f"{asked}, and GET /v1/users shows {view.user} with role_uids "
            f"{one_line(repr(mine[0].get('role_uids')))[:60]} (an RBAC cluster), not a role"
        )
    return NOT_CHECKED, f"{asked}, and GET /v1/users shows no role for {view.user}"


def _judge_role(user: str, role: str, source: str) -> tuple[str, str]:
    if role in EXPORT_ROLES:
        return PASS, f"{user} is {role} ({source})"
    if role in NO_EXPORT_ROLES:
        return FAIL, (
            f"{user} is {role}, which lacks start_bdb_export: give it the "
            "admin, cluster_member or db_member role"
        )
    return NOT_CHECKED, f"{source} names the role {role!r}, which RS does not document"


def _limit(view: ClusterView) -> tuple[str, str]:
    if not view.databases.ok:
        return NOT_CHECKED, "the cluster was not read"
    if not view.policy.ok:
        return NOT_CHECKED, f"the cluster policy could not be read ({view.policy.error})"
    limit = view.policy.value.get("max_simultaneous_backups")
    ours = view.cluster.max_concurrent_exports
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
