"""Management roles, the permissions each holds, and the 403 for a role without one."""

from __future__ import annotations

from .scenario import Reply, Scenario

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
PERMITTED = {
    "start_bdb_export": EXPORT_ROLES,
    "reset_bdb_current_export_status": EXPORT_ROLES,
    "start_bdb_import": IMPORT_ROLES,
    "reset_bdb_current_import_status": IMPORT_ROLES,
    "view_all_users_info": USER_VIEW_ROLES,
}


def lacks(scenario: Scenario, role: str, permission: str) -> Reply | None:
    """The 403 for a role without ``permission``, or None if it has it."""
    # Any other permission is a view: view_bdb_info, view_bdb_stats, view_cluster_*.
    if role in PERMITTED.get(permission, VIEW_ROLES):
        return None
    return scenario.error(403, "insufficient_permissions", f"user lacks {permission}")
