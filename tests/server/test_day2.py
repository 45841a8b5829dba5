"""Day-2 commands against the simulator: preflight checks, status and its age, coverage."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from prometheus_client.parser import text_string_to_metric_families

from helpers import ADMIN, PASSWORD, REPO, toml_text
from helpers.day2 import S3, checks, config, day2, metric_samples
from redis_enterprise_export.simulator import Simulator

# preflight -------------------------------------------------------------------


def test_preflight_passes_every_check_of_a_sound_export(sim: Simulator, tmp_path: Path) -> None:
    """A reachable cluster, good credentials, an existing database: every check that can be
    made passes; the destination and handle_redirects (the simulator has no /v1/cluster)
    are not checked."""
    code, out, _ = day2(
        "preflight",
        "--json",
        "--config",
        str(config(tmp_path, {"sim": sim}, {"orders": {"database": "orders"}})),
    )
    found = checks(out)
    assert code == 0, out
    outcomes = {key: row["outcome"] for key, row in found.items()}
    assert outcomes == {
        ("cluster sim", "cluster reachable, TLS verified"): "pass",
        ("cluster sim", "credentials accepted"): "pass",
        ("cluster sim", "requests not redirected"): "warn",
        ("cluster sim", "role may export"): "pass",
        ("cluster sim", "cluster export limit"): "pass",
        ("orders", "secrets set"): "pass",
        ("orders", "database exists"): "pass",
        ("orders", "modules support backup_restore"): "pass",
        ("orders", "destination reachable"): "not checked",
        ("cluster sim", "coverage"): "warn",
    }
    assert found[("orders", "database exists")]["detail"] == "'orders' is uid 1"


def test_preflight_warns_of_a_database_no_export_covers(sim: Simulator, tmp_path: Path) -> None:
    """The simulator's second database ('search') has no export: a warning, not a failure."""
    code, out, _ = day2(
        "preflight", "--config", str(config(tmp_path, {"sim": sim}, {"orders": {"database": 1}}))
    )
    assert code == 0
    assert "! cluster sim: coverage: database 'search' (uid 2) has no export" in out


def test_preflight_asks_once_with_wrong_credentials(sim: Simulator, tmp_path: Path) -> None:
    """RS locks a user out after 5 failed logins: one 401, and one ✘ line, per cluster,
    however many exports; a cluster not read is exit 6."""
    path = config(tmp_path, {"sim": sim}, {"a": {"database": 1}, "b": {"database": 2}})
    # This test's own lock directory: the 401 it records must not reach another test.
    slots = str(tmp_path / "slots")
    env = {"REDIS_ENTERPRISE_PASSWORD": "wrong", "REDIS_EXPORT_SLOTS_DIR": slots}
    code, out, _ = day2("preflight", "--config", str(path), env=env)
    assert code == 6
    assert out.count("credentials accepted") == 1
    assert "✘ cluster sim: credentials accepted: GET /v1/bdbs answered 401" in out
    assert sim.cluster.failed_logins == 1
    assert [r.status for r in sim.cluster.log] == [401]


@pytest.mark.parametrize(
    ("export", "check", "detail"),
    [
        (
            {"database": "nope"},
            "database exists",
            r"no database 'nope'; the cluster has orders, search",
        ),
        (
            {"database": "search"},
            "modules support backup_restore",
            r"module legacy-index \(module_id [0-9a-f]+\) lacks backup_restore: RS refuses "
            r"the export \(406\)",
        ),
    ],
    ids=["missing database", "module without backup_restore"],
)
def test_preflight_fails_a_check_with_what_to_do(
    sim: Simulator, tmp_path: Path, export: dict[str, Any], check: str, detail: str
) -> None:
    """Each failing check is a ✘ line saying what is wrong, and the exit code is 1."""
    code, out, _ = day2("preflight", "--config", str(config(tmp_path, {"sim": sim}, {"x": export})))
    assert code == 1
    assert re.search(f"✘ x: {re.escape(check)}: {detail}", out)


def test_preflight_names_unset_secrets_without_values(sim: Simulator, tmp_path: Path) -> None:
    """A location secret's variable is checked by name; its absence fails, nothing is printed."""
    code, out, _ = day2(
        "preflight",
        "--config",
        str(config(tmp_path, {"sim": sim}, {"x": {"database": 1}})),
        env={"S3_SECRET": ""},
    )
    assert code == 1
    assert "✘ x: secrets set: set S3_SECRET in the pipeline's environment" in out


def test_preflight_fails_a_role_that_cannot_export(sim: Simulator, tmp_path: Path) -> None:
    """user_manager may list users but not export: the role check fails and says which roles can."""
    sim.cluster.add_user("um@example.com", PASSWORD, "user_manager")
    code, out, _ = day2(
        "preflight",
        "--config",
        str(config(tmp_path, {"sim": sim}, {"x": {"database": 1}})),
        env={"REDIS_ENTERPRISE_USER": "um@example.com"},
    )
    assert code == 1
    assert (
        "✘ cluster sim: role may export: um@example.com is user_manager, "
        "which lacks start_bdb_export"
    ) in out


def test_preflight_fails_a_db_viewer_by_its_own_role_and_reads_the_policy(
    sim: Simulator, tmp_path: Path
) -> None:
    """A db_viewer's own role comes from /v1/users/role and fails the check, named; it may
    read the policy (permissions.md: view_cluster_info is every role's but none's)."""
    sim.cluster.add_user("dbv@example.com", PASSWORD, "db_viewer")
    code, out, _ = day2(
        "preflight",
        "--json",
        "--config",
        str(config(tmp_path, {"sim": sim}, {"x": {"database": 1}})),
        env={"REDIS_ENTERPRISE_USER": "dbv@example.com"},
    )
    found = checks(out)
    role = found[("cluster sim", "role may export")]
    assert role["outcome"] == "fail"
    assert "db_viewer" in role["detail"]
    assert found[("cluster sim", "cluster export limit")]["outcome"] == "pass"
    assert code == 1


def test_preflight_warns_when_the_slots_exceed_the_cluster_limit(
    sim: Simulator, tmp_path: Path
) -> None:
    """max_concurrent_exports above the cluster's max_simultaneous_backups: a warning naming both."""
    sim.cluster.scenario.max_concurrent_exports = 2
    path = config(tmp_path, {"sim": sim}, {"x": {"database": 1}}, max_concurrent_exports=4)
    code, out, _ = day2("preflight", "--config", str(path))
    assert code == 0
    assert (
        "! cluster sim: cluster export limit: the cluster runs 2 backups at once and this config "
        "allows max_concurrent_exports = 4"
    ) in out


def test_preflight_fails_reach_on_a_wrong_ca(sim: Simulator, tmp_path: Path) -> None:
    """A CA that does not verify the cluster fails the reach check, with no request made:
    the cluster could not be read, exit 6."""
    other = Simulator(tmp_path / "other").start()
    other.stop()
    path = tmp_path / "exports.toml"
    path.write_text(toml_text({
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(other.ca_path)}},
        "exports": {"x": {"cluster": "sim", "database": 1, "location": S3}},
    }))  # fmt: skip
    code, out, _ = day2("preflight", "--config", str(path))
    assert code == 6
    assert (
        "✘ cluster sim: cluster reachable, TLS verified: GET /v1/bdbs: TLS verification of" in out
    )
    assert sim.cluster.log == []


# status ----------------------------------------------------------------------


def _stamp(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_status_shows_each_export_and_the_age_of_its_newest_good_export(
    sim: Simulator, tmp_path: Path
) -> None:
    """The cluster's fields and last_export_time, with the age computed from it."""
    db = sim.cluster.databases[1]
    db.export_status, db.export_progress, db.last_export_time = "succeeded", 100.0, _stamp(2)
    code, out, _ = day2(
        "status",
        "--json",
        "--max-age",
        "26h",
        "--config",
        str(config(tmp_path, {"sim": sim}, {"orders": {"database": "orders"}})),
    )
    row = json.loads(out)["exports"][0]
    assert code == 0
    assert (row["export_status"], row["database_uid"], row["problem"]) == ("succeeded", 1, "")
    assert 2 * 3600 - 60 <= row["age_seconds"] <= 2 * 3600 + 60


@pytest.mark.parametrize(
    ("status", "hours", "problem"),
    [
        ("succeeded", 30, "newest good export is 30.0 h old (limit 26.0 h)"),
        ("failed", 1, "the last export failed (no-permission)"),
        ("", None, "no successful export on record"),
    ],
    ids=["too old", "failed", "never"],
)
def test_status_max_age_fails_an_old_failed_or_missing_export(
    sim: Simulator, tmp_path: Path, status: str, hours: float | None, problem: str
) -> None:
    """--max-age is a monitoring check: exit 1 and the reason when an export is not fresh."""
    db = sim.cluster.databases[1]
    db.export_status = status
    db.export_failure_reason = "no-permission" if status == "failed" else ""
    db.last_export_time = _stamp(hours) if hours is not None else None
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    code, out, _ = day2("status", "--max-age", "26h", "--config", str(path))
    assert code == 1
    assert problem in out


def test_status_max_age_fails_an_unreachable_cluster(tmp_path: Path) -> None:
    """An export whose cluster cannot be read is unknown: exit 6, the cluster unreadable."""
    path = tmp_path / "exports.toml"
    path.write_text(toml_text({
        "clusters": {"sim": {"url": "https://127.0.0.1:9", "request_timeout_seconds": 2}},
        "exports": {"x": {"cluster": "sim", "database": 1, "location": S3}},
    }))  # fmt: skip
    code, out, _ = day2("status", "--max-age", "1d", "--config", str(path))
    assert code == 6
    assert "unknown" in out
    assert "cluster not read: GET /v1/bdbs: could not reach https://127.0.0.1:9" in out


def test_status_coverage_lists_databases_no_export_covers(sim: Simulator, tmp_path: Path) -> None:
    """A new database without an export shows up the next morning, and fails the check."""
    sim.cluster.add_database(7, "payments")
    code, out, _ = day2(
        "status",
        "--coverage",
        "--config",
        str(config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})),
    )
    assert code == 1
    lines = out.split("Coverage:\n")[1].splitlines()
    assert lines[0].split() == ["cluster", "database", "covered", "by", "export", "age", "RS",
                                "backup", "age", "problem"]  # fmt: skip
    nothing = "nothing  -  -  no export and no RS scheduled backup covers it"
    assert [" ".join(line.split()) for line in lines[2:4]] == [
        f"sim search (uid 2) {' '.join(nothing.split())}",
        f"sim payments (uid 7) {' '.join(nothing.split())}",
    ]


def test_status_prometheus_file_parses_with_prometheus_client(
    sim: Simulator, tmp_path: Path
) -> None:
    """The textfile metrics parse with prometheus_client's own parser, labelled per export."""
    db = sim.cluster.databases[1]
    db.export_status, db.last_export_time = "succeeded", "2026-11-27T01:02:03Z"
    metrics = tmp_path / "textfile" / "redis_exports.prom"
    metrics.parent.mkdir()
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": "orders"}})
    code, _, _ = day2("status", "--coverage", "--prometheus", str(metrics), "--config", str(path))
    assert code == 1  # 'search' is not covered
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.read_text())
        for s in family.samples
    }
    labels = (("cluster", "sim"), ("database", "orders"), ("database_uid", "1"),
              ("export", "orders"))  # fmt: skip
    expected = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC).timestamp()
    assert samples[("redis_export_last_success_timestamp_seconds", labels)] == expected
    assert samples[("redis_export_status", (*labels, ("redis_export_status", "succeeded")))] == 1
    assert samples[("redis_export_status", (*labels, ("redis_export_status", "failed")))] == 0
    covered = samples[
        (
            "redis_export_database_covered",
            (("cluster", "sim"), ("database", "search"), ("database_uid", "2")),
        )
    ]
    assert covered == 0
    assert list(metrics.parent.iterdir()) == [metrics]  # written atomically, no temp file left


def test_idle_after_a_reset_shows_as_idle_in_the_prometheus_file(
    sim: Simulator, tmp_path: Path
) -> None:
    """``idle``, RS's documented export_status after every status reset, is its own state in
    the textfile, not ``unknown`` (an alert on unknown would fire every night)."""
    sim.cluster.databases[1].export_status = "idle"
    metrics = tmp_path / "redis_exports.prom"
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": "orders"}})
    code, out, err = day2("status", "--prometheus", str(metrics), "--config", str(path))
    assert code == 0, out + err
    labels = (("cluster", "sim"), ("database", "orders"), ("database_uid", "1"),
              ("export", "orders"))  # fmt: skip
    samples = metric_samples(metrics)
    assert samples[("redis_export_status", (*labels, ("redis_export_status", "idle")))] == 1
    assert samples[("redis_export_status", (*labels, ("redis_export_status", "unknown")))] == 0


def test_status_markdown_renders_as_a_table(sim: Simulator, tmp_path: Path) -> None:
    """--markdown is a table a Markdown renderer (markdown-it, GFM tables) turns into <table>."""
    code, out, _ = day2(
        "status",
        "--markdown",
        "--config",
        str(config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})),
    )
    html = MarkdownIt("commonmark").enable("table").render(out)
    assert code == 0
    assert html.count("<table>") == 1
    assert "<th>export</th>" in html
    assert "<td>orders</td>" in html


def test_day2_commands_make_no_change_on_the_cluster(sim: Simulator, tmp_path: Path) -> None:
    """preflight and status only read: every request they make is a GET."""
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    day2("preflight", "--config", str(path))
    day2("status", "--coverage", "--config", str(path))
    assert {r.method for r in sim.cluster.log} == {"GET"}


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Day-2 commands read the same file, with the same one-line errors."""
    path = tmp_path / "exports.toml"
    path.write_text(
        "[clusters.a]\nurl = 'https://x'\n[exports.b]\ncluster = 'zz'\ndatabase = 1\n"
        "location = { type = 'mount_point', path = '/m' }\n"
    )
    for command in ("preflight", "status"):
        code, _, err = day2(command, "--config", str(path))
        assert code == 2
        assert (
            err
            == f"error: {path} [exports.b]: cluster: got 'zz'; expected the name of a [clusters.NAME] table: a\n"
        )


def test_several_clusters_are_read_at_once(tmp_path: Path) -> None:
    """Three clusters that each take 1 s to answer are asked at once, not one after another:
    their answers go out within a second of each other."""
    sims: dict[str, Simulator] = {}
    try:
        for name in ("a", "b", "c"):
            sim = Simulator(tmp_path / name).start()
            sim.cluster.add_user(ADMIN, PASSWORD, "admin")
            sim.cluster.add_database(1, f"db-{name}")
            sim.cluster.scenario.faults = {"GET": ["slow:1.0", "..."]}
            sims[name] = sim
        path = tmp_path / "exports.toml"
        path.write_text(toml_text({
            "clusters": {n: {"url": s.url, "ca_cert": str(s.ca_path)} for n, s in sims.items()},
            "exports": {n: {"cluster": n, "database": 1, "location": S3} for n in sims},
        }))  # fmt: skip
        code, out, _ = day2("status", "--json", "--config", str(path))
        assert code == 0, out
        assert [r["export_status"] for r in json.loads(out)["exports"]] == ["none"] * 3
        answered = sorted(sim.cluster.log[0].at for sim in sims.values())
        assert answered[-1] - answered[0] < 1.0  # one after another: 1 s apart at least
    finally:
        for sim in sims.values():
            sim.stop()


@pytest.mark.parametrize("command", ["preflight", "status", "discover"])
def test_help_states_the_exit_codes_the_readme_states(command: str) -> None:
    """Each day-2 command's --help and the day 2 page say the same exit codes."""
    code, out, _ = day2(command, "--help")
    assert code == 0
    codes = " ".join(out.split()).split("exit codes: ")[1]
    page = (REPO / "docs" / "day2.md").read_text()
    assert f"Exit codes: {codes}." in " ".join(page.replace("`", "").split())


# day-2 fixes: what a monitor and a CI job rely on ---------------------------------


def _unreachable(tmp_path: Path) -> Path:
    path = tmp_path / "exports.toml"
    path.write_text(toml_text({
        "clusters": {"sim": {"url": "https://127.0.0.1:9", "request_timeout_seconds": 2}},
        "exports": {"x": {"cluster": "sim", "database": 1, "location": S3}},
    }))  # fmt: skip
    return path


@pytest.mark.parametrize("argv", [[], ["--coverage"], ["--markdown"]], ids=str)
def test_status_of_an_unreadable_cluster_exits_6_and_the_metrics_say_so(
    tmp_path: Path, argv: list[str]
) -> None:
    """A monitor must not stay green while blind: an unread cluster is exit 6, with or without
    a check, and redis_export_cluster_up is 0, with no coverage samples claimed."""
    metrics = tmp_path / "m.prom"
    code, out, _ = day2(
        "status", *argv, "--prometheus", str(metrics), "--config", str(_unreachable(tmp_path))
    )
    assert code == 6, out
    samples = metric_samples(metrics)
    assert samples[("redis_export_cluster_up", (("cluster", "sim"),))] == 0
    assert not [name for name, _ in samples if name == "redis_export_database_covered"]


def test_status_metrics_say_a_read_cluster_is_up(sim: Simulator, tmp_path: Path) -> None:
    """redis_export_cluster_up is 1 for a cluster whose databases were read."""
    metrics = tmp_path / "m.prom"
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    code, _, _ = day2("status", "--prometheus", str(metrics), "--config", str(path))
    assert code == 0
    assert metric_samples(metrics)[("redis_export_cluster_up", (("cluster", "sim"),))] == 1


EVIL_NAME = "evil\n# heading | x \\| y\x1b[2J"
EVIL_REASON = "\x1b[31mdisk\x1b[0m\nfull | \\| boom\r\n## h\x07"


def test_status_keeps_cluster_text_in_its_cell_and_on_its_line(
    sim: Simulator, tmp_path: Path
) -> None:
    """A database name or failure reason holding newlines, pipes, `\\|` and escape sequences
    adds no row, column or heading to --markdown, and no line or escape to the text table."""
    sim.cluster.add_database(3, EVIL_NAME)
    db = sim.cluster.databases[1]
    db.export_status, db.export_failure_reason = "failed", EVIL_REASON
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    code, out, _ = day2("status", "--coverage", "--markdown", "--config", str(path))
    html = MarkdownIt("commonmark").enable("table").render(out)
    assert code == 1
    # The exports' table (a header, one export, 9 columns) and coverage's (a header;
    # orders, search and the evil one; 6 columns), and the note, one paragraph.
    assert (html.count("<table>"), html.count("<tr>"), html.count("<td>")) == (2, 6, 27)
    assert html.count("<p>") == 1
    assert "<h1>" not in html
    assert "<h2>" not in html
    code, out, _ = day2("status", "--coverage", "--config", str(path))
    assert not [c for c in out if c in "\x1b\x07\r"]
    # header, one export, blank, title, header, three databases, blank, the note
    assert len(out.splitlines()) == 10
    assert "sim      evil # heading | x \\| y (uid 3)  nothing" in out


@pytest.mark.parametrize(
    ("hours", "code", "problem"),
    [(-1.0, 1, "is 60 min in the future: the cluster's clock or this machine's is wrong"),
     (-0.05, 0, "ok")],
    ids=["an hour ahead", "within the skew"],
)  # fmt: skip
def test_status_a_last_export_time_in_the_future_is_not_fresh(
    sim: Simulator, tmp_path: Path, hours: float, code: int, problem: str
) -> None:
    """A last_export_time beyond 5 minutes ahead fails --max-age; within it counts as 0 min."""
    db = sim.cluster.databases[1]
    db.export_status, db.last_export_time = "succeeded", _stamp(hours)
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}})
    got, out, _ = day2("status", "--max-age", "26h", "--config", str(path))
    assert (got, problem in out) == (code, True), out


def test_name_narrows_the_exports_shown_not_the_coverage(sim: Simulator, tmp_path: Path) -> None:
    """With --name orders, the config's export of 'search' still covers it: coverage passes,
    and preflight asks to add no export the config already has."""
    for db in sim.cluster.databases.values():
        db.export_status, db.last_export_time = "succeeded", _stamp(1)
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}, "search": {"database": 2}})
    code, out, _ = day2("status", "--coverage", "--name", "orders", "--config", str(path))
    assert code == 0, out
    assert "no export covers" not in out
    code, out, _ = day2("preflight", "--name", "orders", "--config", str(path))
    assert "has no export" not in out
    assert "search:" not in out


def test_preflight_promises_only_what_it_checked(sim: Simulator, tmp_path: Path) -> None:
    """A mount_point destination is '?' (the API cannot look at the nodes), the cluster's checks
    show once for two exports, and the last line sums the outcomes up."""
    mount = {"type": "mount_point", "path": "/mnt/backups"}
    exports = {"a": {"database": 1, "location": mount}, "b": {"database": 1, "location": mount}}
    path = config(tmp_path, {"sim": sim}, exports)
    code, out, _ = day2("preflight", "--config", str(path))
    lines = out.splitlines()
    assert code == 0
    assert "? a: destination reachable: /mnt/backups must exist on every node" in out
    assert sum("role may export" in line for line in lines) == 1
    marks = [line[0] for line in lines[:-1]]
    warnings = marks.count("!")
    assert lines[-1] == (
        f"preflight: {marks.count('✔')} passed, 0 failed, {marks.count('?')} not checked, "
        f"{warnings} warning{'' if warnings == 1 else 's'}"
    )


@pytest.mark.parametrize("age", ["26", "0h", "h", "26 weeks"])
def test_status_max_age_needs_a_unit(age: str) -> None:
    """--max-age 26 is not 26 seconds: a one-line error that asks for a unit, exit 2."""
    code, _, err = day2("status", "--max-age", age, "--config", "nonexistent.toml")
    assert code == 2
    assert err.splitlines()[-1].endswith(
        f"argument --max-age: got {age!r}; expected a number and a unit (s, m, h or d), "
        "such as 26h or 90m"
    )


def test_status_with_an_unset_credentials_variable_is_bad_input(tmp_path: Path) -> None:
    """An unset password variable is the pipeline's mistake, not a blind monitor: exit 2,
    naming the variable, with no request made."""
    code, out, _ = day2(
        "status", "--config", str(_unreachable(tmp_path)), env={"REDIS_ENTERPRISE_PASSWORD": ""}
    )
    assert code == 2
    assert "REDIS_ENTERPRISE_PASSWORD" in out


# discover --check: drift, not trouble -----------------------------------------------


def _selector(tmp_path: Path, url: str, ca: Path | None = None) -> Path:
    path = tmp_path / "exports.toml"
    cluster = {"url": url, "request_timeout_seconds": 2} | ({"ca_cert": str(ca)} if ca else {})
    path.write_text(toml_text({
        "clusters": {"sim": cluster},
        "exports": {"all": {"cluster": "sim", "databases": "*", "location": S3}},
    }))  # fmt: skip
    return path


def test_discover_check_of_a_config_without_selectors_or_lock_is_up_to_date(
    tmp_path: Path,
) -> None:
    """Nothing to lock is not out of date: exit 0 every day, no lock file written."""
    path = tmp_path / "exports.toml"
    path.write_text(toml_text({
        "clusters": {"sim": {"url": "https://127.0.0.1:9"}},
        "exports": {"x": {"cluster": "sim", "database": 1, "location": S3}},
    }))  # fmt: skip
    code, out, err = day2("discover", "--check", "--config", str(path))
    assert (code, err) == (0, ""), out
    assert "up to date" in out
    assert not (tmp_path / "exports.lock.json").exists()


def test_discover_check_of_an_unreadable_cluster_exits_6_not_drifts_1(tmp_path: Path) -> None:
    """An unreachable cluster is the day-2 code for "could not be read" (6), so a CI step
    tells it from a lock out of date (1)."""
    code, out, _ = day2(
        "discover", "--check", "--config", str(_selector(tmp_path, "https://127.0.0.1:9"))
    )
    assert code == 6, out
    assert "error: cluster sim:" in out


def test_discover_check_after_a_refused_login_exits_6(sim: Simulator, tmp_path: Path) -> None:
    """A 401 is a cluster not read (6), not drift (1)."""
    path = _selector(tmp_path, sim.url, sim.ca_path)
    slots = str(tmp_path / "slots")
    env = {"REDIS_ENTERPRISE_PASSWORD": "wrong", "REDIS_EXPORT_SLOTS_DIR": slots}
    code, out, _ = day2("discover", "--check", "--config", str(path), env=env)
    assert code == 6, out
    assert "401" in out


def test_discover_prints_a_cluster_supplied_name_on_one_line_without_escapes(
    sim: Simulator, tmp_path: Path
) -> None:
    """A database name with a terminal escape sequence and a newline is shown cleaned, as
    status and preflight show it: no escape, no extra line."""
    sim.add_database(3, "evil\x1b]0;pwned\x07\x1b[31m\nforged line")
    code, out, err = day2("discover", "--config", str(_selector(tmp_path, sim.url, sim.ca_path)))
    assert code == 0, out + err
    assert "\x1b" not in out
    assert "\x07" not in out
    assert not any(line.startswith("forged") for line in out.splitlines())
    assert "evil forged line (uid 3)" in out


@pytest.mark.parametrize("kind", ["/dev/zero", "a FIFO", "a lock file that is a FIFO"])
def test_status_refuses_a_config_that_is_no_regular_file_in_one_line(
    tmp_path: Path, kind: str
) -> None:
    """status --config /dev/zero (read until a MemoryError, exit 1), a FIFO (it blocked),
    or a config whose lock file is a FIFO: exit 2, one line naming the file and what is
    allowed."""
    import os

    path = tmp_path / "exports.toml"
    if kind == "/dev/zero":
        path = Path("/dev/zero")
    elif kind == "a FIFO":
        os.mkfifo(path)
    else:
        path.write_text(toml_text({"clusters": {"sim": {"url": "https://127.0.0.1:9"}},
                                   "exports": {"all": {"cluster": "sim", "databases": "*",
                                                       "location": S3}}}))  # fmt: skip
        os.mkfifo(tmp_path / "exports.lock.json")
    code, out, err = day2("status", "--config", str(path))
    assert code == 2, out + err
    shown = path if kind != "a lock file that is a FIFO" else tmp_path / "exports.lock.json"
    assert len(err.strip().splitlines()) == 1, err
    assert f"got '{shown}'; expected a readable " in err
    assert "of at most 16 MiB, not a device, FIFO or folder" in err
