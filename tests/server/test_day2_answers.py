"""Day-2 commands against answers the simulator cannot give (pytest-httpserver): a node
that redirects, the user's own role, RBAC users, module versions, and any shape at all."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from helpers import ADMIN, PASSWORD, S3_SECRET, terraform_env, toml_text
from redis_enterprise_export.cli import main

ORDERS = {"uid": 1, "name": "orders", "export_status": "", "module_list": []}
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON holds neither
    | st.text(max_size=12)
    | st.sampled_from(["", "admin", "db_viewer", "2026-11-28T02:05:25Z", "9999-12-31T23:59:59"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
DATABASE = st.fixed_dictionaries(
    {},
    optional={
        "uid": st.just(1) | VALUES,
        "name": st.just("orders") | VALUES,
        "export_status": st.sampled_from(["succeeded", "failed", ""]) | VALUES,
        "export_progress": SCALARS,
        "export_failure_reason": VALUES,
        "last_export_time": st.sampled_from(["2026-11-28T02:05:25Z", "0001-01-01T00:00:00+01:00"])
        | VALUES,
        "module_list": VALUES,
        # RS's own scheduled backups, which coverage reads.
        "backup": st.booleans() | VALUES,
        "backup_interval": st.just(86400) | SCALARS,
        "backup_location": st.just({"type": "s3", "bucket_name": "b"}) | VALUES,
        "last_backup_time": st.sampled_from(["2026-11-28T02:05:25Z", "9999-12-31T23:59:59"])
        | VALUES,
        "backup_status": st.sampled_from(["succeeded", "failed", "exporting", ""]) | VALUES,
        "backup_failure_reason": VALUES,
    },
)


def serve(httpserver: HTTPServer, answers: dict[str, Any]) -> None:
    """Answer each path with its JSON (or, for an int, that bare status); others 404."""
    httpserver.clear()
    for path, answer in answers.items():
        if isinstance(answer, int) and not isinstance(answer, bool):
            httpserver.expect_request(path).respond_with_data("", status=answer)
        else:
            httpserver.expect_request(path).respond_with_json(answer)
    httpserver.expect_request(re.compile(".*")).respond_with_json(
        {"error_code": "not_found"}, status=404
    )


def write_config(httpserver: HTTPServer, directory: Path, **export: Any) -> Path:
    path = directory / "exports.toml"
    path.write_text(toml_text({
        "clusters": {"rs": {"url": httpserver.url_for("").rstrip("/"), "allow_http": True,
                            "request_timeout_seconds": 3}},
        "exports": {"x": {"cluster": "rs", "database": 1,
                          "location": {"type": "s3", "bucket_name": "b", "access_key_id": "A",
                                       "secret_access_key_env": "S3_SECRET"}} | export},
    }))  # fmt: skip
    return path


def day2(*argv: str) -> tuple[int, str]:
    """Run a day-2 command in this process; a traceback would fail the test."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv), terraform_env(S3_SECRET=S3_SECRET))
    text = out.getvalue() + err.getvalue()
    assert PASSWORD not in text
    assert S3_SECRET not in text
    return code, text


def preflight(httpserver: HTTPServer, tmp_path: Path, **export: Any) -> dict[str, dict[str, str]]:
    """preflight --json's checks, keyed by check name."""
    code, out = day2(
        "preflight", "--json", "--config", str(write_config(httpserver, tmp_path, **export))
    )
    assert code in (0, 1), out
    return {row["check"]: row for row in json.loads(out)}


# redirects -------------------------------------------------------------------


def test_preflight_names_handle_redirects_when_the_node_redirects(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """A node that is not the master answers 307: a failed reach check that names
    handle_redirects and its rladmin command, the redirect never followed, exit 6."""
    httpserver.expect_oneshot_request("/v1/bdbs").respond_with_data(
        "", status=307, headers={"Location": "https://10.0.0.2:9443/v1/bdbs"}
    )
    code, out = day2("preflight", "--config", str(write_config(httpserver, tmp_path)))
    assert code == 6
    reach = next(line for line in out.splitlines() if "cluster reachable" in line)
    assert reach.startswith(
        "✘ cluster rs: cluster reachable, TLS verified: GET /v1/bdbs answered 307"
    )
    assert "rladmin cluster config handle_redirects enabled" in reach
    assert "ask for the cluster's API address" in reach
    assert len(httpserver.log) == 1


def test_status_of_a_redirecting_node_says_what_to_do(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """status against a node that redirects: exit 6, and the problem names handle_redirects."""
    httpserver.expect_oneshot_request("/v1/bdbs").respond_with_data(
        "", status=307, headers={"Location": "https://10.0.0.2:9443/v1/bdbs"}
    )
    code, out = day2("status", "--config", str(write_config(httpserver, tmp_path)))
    assert code == 6
    assert "answered 307" in out
    assert "rladmin cluster config handle_redirects enabled" in out


@pytest.mark.parametrize(
    ("setting", "outcome"), [(False, "warn"), (True, "pass"), ("yes", "not checked")]
)
def test_preflight_reads_handle_redirects_from_the_cluster(
    httpserver: HTTPServer, tmp_path: Path, setting: Any, outcome: str
) -> None:
    """GET /v1/cluster?fields=handle_redirects: off is a warning that says what to do."""
    serve(httpserver, {"/v1/bdbs": [ORDERS], "/v1/cluster": {"handle_redirects": setting}})
    check = preflight(httpserver, tmp_path)["requests not redirected"]
    assert check["outcome"] == outcome
    if outcome == "warn":
        assert "rladmin cluster config handle_redirects enabled" in check["detail"]


def test_preflight_says_handle_redirects_off_in_one_short_line_and_the_rest_in_json(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """The warning every run of a default cluster shows fits one terminal line; the
    explanation and the rladmin command are in --json."""
    serve(httpserver, {"/v1/bdbs": [ORDERS], "/v1/cluster": {"handle_redirects": False}})
    code, out = day2("preflight", "--config", str(write_config(httpserver, tmp_path)))
    assert code == 0, out
    (line,) = [line for line in out.splitlines() if "requests not redirected" in line]
    assert line.startswith("! cluster rs: requests not redirected: handle_redirects is off")
    assert len(line) <= 100
    assert "--json" in line


# roles -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "outcome"),
    [
        ("admin", "pass"),
        ("cluster_member", "pass"),
        ("db_member", "pass"),
        ("db_viewer", "fail"),
        ("cluster_viewer", "fail"),
        ("user_manager", "fail"),
        ("none", "fail"),
        ("superuser", "not checked"),
    ],
)
def test_preflight_judges_the_role_users_role_names(
    httpserver: HTTPServer, tmp_path: Path, role: str, outcome: str
) -> None:
    """GET /v1/users/role answers {"role": ...}: only admin, cluster_member and db_member
    may export; a failure names the role; /v1/users is then not asked."""
    serve(httpserver, {"/v1/bdbs": [ORDERS], "/v1/users/role": {"role": role}})
    check = preflight(httpserver, tmp_path)["role may export"]
    assert check["outcome"] == outcome
    if outcome == "fail":
        assert f"{ADMIN} is {role}, which lacks start_bdb_export" in check["detail"]
    assert "/v1/users" not in [request.path for request, _ in httpserver.log]


@pytest.mark.parametrize(
    "row",
    [{"email": ADMIN, "role_uids": [3]}, {"email": ADMIN}, {"email": ADMIN, "role": None}],
    ids=["rbac", "no role", "null role"],
)
def test_preflight_never_fails_a_user_whose_row_has_no_role(
    httpserver: HTTPServer, tmp_path: Path, row: dict[str, Any]
) -> None:
    """/v1/users/role missing (404) and a /v1/users row without a role (RBAC: role_uids):
    'not checked' with why, never a failure."""
    serve(httpserver, {"/v1/bdbs": [ORDERS], "/v1/users": [row]})
    check = preflight(httpserver, tmp_path)["role may export"]
    assert check["outcome"] == "not checked"
    assert "GET /v1/users/role failed" in check["detail"]
    if "role_uids" in row:
        assert "role_uids [3] (an RBAC cluster)" in check["detail"]


# modules ---------------------------------------------------------------------

VERSIONS = [
    {"uid": "1", "module_name": "search", "semantic_version": "2.8.4",
     "capabilities": ["backup_restore"]},
    {"uid": "2", "module_name": "search", "semantic_version": "1.0.0", "capabilities": ["types"]},
]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "outcome", "detail"),
    [
        ({"module_id": "1"}, "pass", "module search (module_id 1) supports backup_restore"),
        ({"module_id": "2"}, "fail", "module search (module_id 2) lacks backup_restore"),
        ({"module_id": 9}, "not checked", "module search (module_id 9) is not among"),
        ({}, "not checked", "module search (judged by name: the database names no module_id)"),
    ],
    ids=["capable version", "incapable version", "unknown version", "no module_id"],
)
def test_preflight_judges_the_module_version_the_database_uses(
    httpserver: HTTPServer, tmp_path: Path, module: dict[str, Any], outcome: str, detail: str
) -> None:
    """/v1/modules lists one entry per version: the one module_id names is judged, not the
    last listed; without a module_id, by name, and it says so."""
    database = ORDERS | {"module_list": [{"module_name": "search"} | module]}
    serve(httpserver, {"/v1/bdbs": [database], "/v1/modules": VERSIONS})
    check = preflight(httpserver, tmp_path)["modules support backup_restore"]
    assert (check["outcome"], detail in check["detail"]) == (outcome, True), check


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(module_list=VALUES)
def test_preflight_takes_a_module_list_of_any_shape(
    httpserver: HTTPServer, tmp_path_factory: Any, module_list: Any
) -> None:
    """Whatever module_list holds, the modules check is one line with an outcome, no traceback."""
    serve(
        httpserver, {"/v1/bdbs": [ORDERS | {"module_list": module_list}], "/v1/modules": VERSIONS}
    )
    check = preflight(httpserver, tmp_path_factory.mktemp("m"))["modules support backup_restore"]
    assert check["outcome"] in {"pass", "fail", "not checked"}
    assert len(check["detail"].splitlines()) == 1


# any answer ------------------------------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bdbs=st.lists(DATABASE, max_size=3) | VALUES,
    policy=VALUES,
    users=VALUES,
    role=VALUES,
    modules=VALUES,
    cluster=VALUES,
    command=st.sampled_from(
        [
            ["preflight"],
            ["preflight", "--json"],
            ["status", "--max-age", "26h", "--coverage"],
            ["status", "--markdown"],
            ["status", "--json"],
        ]
    ),
)
def test_day2_commands_take_any_answer_without_a_traceback(
    httpserver: HTTPServer,
    tmp_path_factory: Any,
    bdbs: Any,
    policy: Any,
    users: Any,
    role: Any,
    modules: Any,
    cluster: Any,
    command: list[str],
) -> None:
    """Any JSON in /v1/bdbs, /v1/cluster/policy, /v1/users(/role), /v1/modules, /v1/cluster:
    a known exit code and output, never an exception."""
    serve(
        httpserver,
        {
            "/v1/bdbs": bdbs,
            "/v1/cluster/policy": policy,
            "/v1/users/role": role,
            "/v1/users": users,
            "/v1/modules": modules,
            "/v1/cluster": cluster,
        },
    )
    path = write_config(httpserver, tmp_path_factory.mktemp("a"))
    prometheus = path.parent / "metrics.prom"
    extra = ["--prometheus", str(prometheus)] if command[0] == "status" else []
    code, out = day2(*command, *extra, "--config", str(path))
    assert code in {0, 1, 6}, out
    assert out
