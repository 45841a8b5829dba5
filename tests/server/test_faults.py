"""The helper process under injected faults: one export per run, the right outcome, no hang.

Each case scripts the simulator, runs the helper as Terraform would, and checks
the simulator's request log. ``run_helper``'s timeout is the bound on time.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from helpers import S3_SECRET, RawServer, run_helper, write_helper_config
from redis_enterprise_export.simulator import FAILURE_REASONS, Simulator


def export(sim: Simulator, tmp_path: Path, **config: Any) -> tuple[int, dict[str, Any], str]:
    """Run one export; return the exit code, the result record and all output."""
    result = tmp_path / "result.json"
    code, out, err = run_helper(
        write_helper_config(sim.url, sim.ca_path, tmp_path, **config), result
    )
    assert "Traceback" not in out + err
    assert S3_SECRET not in out + err
    return code, json.loads(result.read_text()), out + err


SUCCEEDING_FAULTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("409 for the first 3 POSTs", {"conflicts": 3}, {}),
    ("503 on two GETs", {"faults": {"GET": ["", "503", "503", "..."]}}, {}),
    ("connection reset on two GETs", {"faults": {"GET": ["", "reset", "", "reset", "..."]}}, {}),
    ("POST accepted, its answer lost", {"faults": {"POST": ["drop", "..."]}}, {}),
    (
        "GET slower than the request timeout",
        {"faults": {"GET": ["", "slow:2.5", "..."]}},
        {"cluster": {"request_timeout_seconds": 1}},
    ),
    (
        "POST slower than the request timeout",
        {"faults": {"POST": ["slow:2.5", "..."]}},
        {"cluster": {"request_timeout_seconds": 1}},
    ),
    (
        "a read trickling in a byte every 0.5 s",
        {"faults": {"GET": ["", "trickle", "..."]}},
        {"cluster": {"request_timeout_seconds": 1}},
    ),
    ("export_progress sent as a string", {"progress_as_string": True}, {}),
    ("status stale for 4 reads after each action", {"stale_reads": 4}, {}),
    # What RS documents, or leaves open (issue 15): each used to end the run, or risk two exports.
    ("503 to the POST, nothing started", {"faults": {"POST": ["503", "..."]}}, {}),
    ("503 to the POST after the export started", {"faults": {"POST": ["503-started", "..."]}}, {}),
    ("undocumented statuses before the export runs",
     {"pre_start_statuses": ["initializing", "queued", "initializing"]}, {}),
    ("export_progress 'NaN'", {"non_numeric_progress": "NaN"}, {}),
    ("export_progress null", {"non_numeric_progress": "null"}, {}),
    ("export_progress junk", {"non_numeric_progress": "junk"}, {}),
    ("no action_uid anywhere", {"action_uid": False}, {}),
    # Issue 26 M1: RS's own state-machine actions show their uids on the bdb mid-export.
    ("another action's uid on the bdb after the first read",
     {"foreign_action_uid": "SMUpdateBDB-7", "export_seconds": 3.0}, {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("scenario", "config"),
    [c[1:] for c in SUCCEEDING_FAULTS],
    ids=[c[0] for c in SUCCEEDING_FAULTS],
)
def test_the_export_succeeds_once_despite(
    sim: Simulator, tmp_path: Path, scenario: dict[str, Any], config: dict[str, Any]
) -> None:
    """Each transient fault is absorbed: exit 0, exactly one export started, and it finished."""
    for key, value in scenario.items():
        setattr(sim.cluster.scenario, key, value)
    code, record, output = export(sim, tmp_path, **config)
    assert (code, record["export_status"]) == (0, "succeeded"), output
    assert sim.cluster.scenario.conflicts == 0  # every 409 was met (faults: the sim fixture)
    assert sim.cluster.exports_started(1) == 1
    assert sim.cluster.databases[1].export is not None
    assert sim.cluster.databases[1].export.done


def test_a_post_answer_trickling_in_is_cut_and_looked_for_as_a_lost_one(
    sim: Simulator, tmp_path: Path
) -> None:
    """The POST's answer trickling in (a byte every 0.5 s) is cut at its bound and taken as
    lost: the helper looks for the export it may have started, finds it, and posts no other."""
    sim.cluster.scenario.faults = {"POST": ["trickle", "..."]}
    code, record, output = export(sim, tmp_path, cluster={"request_timeout_seconds": 1})
    assert (code, record["export_status"]) == (0, "succeeded"), output
    assert (
        "took longer than 2 s (it came too slowly); checking whether the export started" in output
    )
    assert sim.cluster.exports_started(1) == 1


def test_an_outage_before_the_export_is_ridden_out(sim: Simulator, tmp_path: Path) -> None:
    """A cluster unreachable for 3 s at the start is waited for, then exported once."""
    sim.outage(3.0)
    code, record, _ = export(sim, tmp_path)
    assert (code, record["export_status"]) == (0, "succeeded")
    assert sim.cluster.exports_started(1) == 1


def test_a_database_named_rides_out_503s_on_its_lookup_as_a_uid_does(
    sim: Simulator, tmp_path: Path
) -> None:
    """database = "orders" with the database list answering 503 for a while: the lookup is
    asked again until it answers, as a status read would be (it used to fail at once)."""
    name = sim.cluster.databases[1].name
    # The first GET is the cluster's name; then 8 answers of 503, more than one request's retries.
    sim.cluster.scenario.faults = {"GET": ["", *["503"] * 8, "..."]}
    code, record, output = export(sim, tmp_path, database=name)
    assert (code, record["export_status"]) == (0, "succeeded"), output
    assert f"database {name!r} is uid 1" in output
    assert sim.cluster.exports_started(1) == 1


def test_an_outage_during_the_export_is_ridden_out(sim: Simulator, tmp_path: Path) -> None:
    """Losing the cluster for 2 s mid-export is reported and ridden out; one export started."""
    sim.cluster.scenario.export_seconds = 3.0
    started = threading.Event()
    watcher = threading.Thread(target=_outage_after_start, args=(sim, started), daemon=True)
    watcher.start()
    code, record, output = export(sim, tmp_path)
    assert started.is_set()
    assert (code, record["export_status"]) == (0, "succeeded")
    assert "could not reach" in output
    assert sim.cluster.exports_started(1) == 1


def _outage_after_start(sim: Simulator, started: threading.Event) -> None:
    while sim.cluster.exports_started(1) == 0:
        threading.Event().wait(0.02)
    started.set()
    sim.outage(2.0)


def test_an_export_already_running_is_waited_for_not_reported(
    sim: Simulator, tmp_path: Path, export_dir: Path
) -> None:
    """An export someone else started is waited out, not reported as ours; then ours runs."""
    # Long enough to outlast the helper's start on a loaded machine (1.5 s did not).
    sim.cluster.scenario.export_seconds = 4
    sim.cluster.start_export(
        1, "admin", {"export_location": {"type": "mount_point", "path": str(export_dir)}}
    )
    code, record, output = export(sim, tmp_path)
    assert (code, record["export_status"]) == (0, "succeeded")
    assert "already exporting (not this run's export)" in output
    assert sim.cluster.exports_started(1) == 1  # the helper's own POSTs
    assert len(sim.cluster.databases[1].files) == 1  # the earlier export's file
    assert sim.cluster.export_bodies[-1]["export_location"]["type"] == "s3"


def test_a_stuck_export_times_out_with_exit_5(sim: Simulator, tmp_path: Path) -> None:
    """An export that never finishes ends at timeout_seconds with exit 5 and its last status."""
    sim.cluster.scenario.export_seconds = 3600
    code, record, output = export(sim, tmp_path, timeout_seconds=2)
    assert code == 5
    assert record["export_status"] == "timeout"
    assert "did not finish within 2 s (last export_status 'exporting')" in output


@pytest.mark.parametrize("reason", FAILURE_REASONS)
def test_a_midway_failure_reports_its_reason_with_exit_4(
    sim: Simulator, tmp_path: Path, reason: str
) -> None:
    """Each documented failure reason reaches the user and the result, with exit 4."""
    sim.cluster.scenario.fail_reason = reason
    code, record, output = export(sim, tmp_path)
    assert code == 4
    assert (record["export_status"], record["export_failure_reason"]) == ("failed", reason)
    assert f"export_failure_reason '{reason}'" in output
    assert sim.cluster.exports_started(1) == 1


@pytest.mark.parametrize("text_field", ["description", "message"])
def test_error_bodies_with_description_or_message_are_shown(
    sim: Simulator, tmp_path: Path, text_field: str
) -> None:
    """The cluster's error text is shown wherever the cluster's version puts it."""
    sim.cluster.scenario.error_text_field = text_field
    code, _, output = export(sim, tmp_path, database=42)
    assert code == 3
    assert "answered 404 (db_not_exist: database 42 does not exist)" in output


def test_a_wrong_ca_fails_clearly_with_no_fallback(sim: Simulator, tmp_path: Path) -> None:
    """A CA that did not sign the cluster's certificate: exit 6, and no request sent. The
    hint does not say to set ca_cert, which is set: it says to re-run synth after a change."""
    other = Simulator(tmp_path / "other").start()
    other.stop()
    result = tmp_path / "r.json"
    config = write_helper_config(sim.url, other.ca_path, tmp_path)
    code, _, err = run_helper(config, result)
    assert code == 6
    assert "TLS verification of https://127.0.0.1" in err
    assert "ca_cert is set, so its CA did not issue the cluster's certificate" in err
    assert "point ca_cert at the new one and re-run synth" in err
    assert "Set ca_cert" not in err
    assert sim.cluster.log == []


def test_plain_http_is_refused_unless_allowed(tmp_path: Path) -> None:
    """An http:// URL without allow_http is bad input (exit 2), never a plaintext request."""
    code, _, err = run_helper(
        write_helper_config("http://127.0.0.1:9", None, tmp_path), tmp_path / "r"
    )
    assert code == 2
    assert "url: got 'http://127.0.0.1:9'; expected an https:// URL" in err


# Malformed answers: a scripted plain-HTTP server, allowed explicitly ---------

MALFORMED = [
    ("an HTML error page", "<html><body>Gateway</body></html>", "text/html", "is not JSON (text/html)"),
    ("non-JSON text", "OK", "text/plain", "with a body that is not JSON"),
    ("a status that is not text", json.dumps({"uid": 1, "export_status": 3}), "application/json",
     "export_status 3 is not a string"),
    ("a list instead of an object", "[]", "application/json", "answered list, not a database object"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_answers_give_a_clear_error_not_a_traceback(
    httpserver: HTTPServer, tmp_path: Path, body: str, content_type: str, message: str
) -> None:
    """An answer that is not the documented JSON ends the run at its first read: exit 6, one line."""
    httpserver.expect_request("/v1/cluster").respond_with_json({"name": "rs.example.com"})
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(body, content_type=content_type)
    url = httpserver.url_for("").rstrip("/")
    config = write_helper_config(url, None, tmp_path, cluster={"allow_http": True})
    code, out, err = run_helper(config, tmp_path / "r.json")
    assert code == 6
    assert message in err
    assert "Traceback" not in out + err
    # The cluster's name (what its locks are keyed by), then one read: no retry, no POST.
    assert [r.path for r, _ in httpserver.log] == ["/v1/cluster", "/v1/bdbs/1"]
    httpserver.check_assertions()


def test_a_node_that_redirects_is_never_followed_and_the_error_names_handle_redirects(
    sim: Simulator, tmp_path: Path, httpserver: HTTPServer
) -> None:
    """A node that is not the master (handle_redirects off) answers 307: exit 6, the
    message names the Location and handle_redirects, and the master receives nothing."""
    sim.cluster.scenario.master_url = httpserver.url_for("").rstrip("/")
    code, record, output = export(sim, tmp_path)
    assert code == 6
    assert record["export_status"] == "error"
    assert f"a redirect to '{sim.cluster.scenario.master_url}/v1/cluster" in output
    assert "rladmin cluster config handle_redirects enabled" in output
    assert httpserver.log == []
    assert sim.cluster.exports_started(1) == 0


def test_a_failure_reason_that_echoes_the_location_secret_url_encoded_is_scrubbed(
    sim: Simulator, tmp_path: Path
) -> None:
    """A cluster whose failure reason echoes the S3 secret inside a URL, percent-encoded:
    exit 4, the reason shown with *** in its place, in the output and the result file."""
    from urllib.parse import quote

    echoed = quote(S3_SECRET + "/+ é", safe="")
    sim.cluster.scenario.fail_reason = f"cannot open s3://AKIA:{echoed}@b/x"
    sim.cluster.scenario.fail_exports = 1
    env_secret = S3_SECRET + "/+ é"
    result = tmp_path / "result.json"
    code, out, err = run_helper(
        write_helper_config(sim.url, sim.ca_path, tmp_path), result, env={"S3_SECRET": env_secret}
    )
    record = result.read_text()
    assert code == 4, out + err
    assert "cannot open s3://AKIA:***@b/x" in err
    for text in (out + err, record):
        assert echoed not in text
        assert S3_SECRET not in text


def test_an_unreachable_cluster_is_reported_once_and_the_last_line_says_it_gave_up(
    tmp_path: Path,
) -> None:
    """Nothing listens at the URL: one progress line for the trouble (not one per try), and
    the error says it was still so at the deadline, rather than repeating the line before."""
    config = write_helper_config("https://127.0.0.1:9", None, tmp_path, timeout_seconds=4)
    code, out, err = run_helper(config, tmp_path / "r.json")
    assert code == 6
    assert out.count("could not reach https://127.0.0.1:9") == 1, out
    assert err.startswith("error: GET /v1/cluster: could not reach https://127.0.0.1:9")
    assert err.rstrip().endswith("(still so at the deadline, 4 s after the start)")


@pytest.mark.parametrize(
    "proxy", ["http://u:proxy-pw-1@[bad", "http://u:proxy-pw-1@p:notaport", "ftp://p:21",
              "socks5://u:proxy-pw-1@127.0.0.1:1"],
)  # fmt: skip
def test_a_bad_proxy_url_is_blamed_on_the_proxy_not_the_cluster_url(
    sim: Simulator, tmp_path: Path, proxy: str
) -> None:
    """An unusable $HTTPS_PROXY: exit 2 naming the proxy variables, never 'url', never the
    proxy's password, and nothing sent."""
    code, out, err = run_helper(
        write_helper_config(sim.url, sim.ca_path, tmp_path), tmp_path / "r.json",
        env={"HTTPS_PROXY": proxy, "NO_PROXY": ""},
    )  # fmt: skip
    assert code == 2
    assert err.startswith("error: proxy (from $HTTPS_PROXY, $HTTP_PROXY or $ALL_PROXY)"), err
    assert "url:" not in err
    assert "proxy-pw-1" not in out + err
    assert sim.cluster.exports_started(1) == 0


def test_a_cluster_whose_answers_trickle_in_fails_with_exit_6_not_a_hang(tmp_path: Path) -> None:
    """Every answer trickling in a byte every 0.2 s (each wait inside the 1 s request timeout):
    the helper ends with exit 6 naming the too-slow answer, instead of waiting forever."""
    server = RawServer(b"", trickle=b"HTTP/1.1 200 OK\r\nX-Trickle: " + b"a" * 60000)
    config = write_helper_config(
        server.url,
        None,
        tmp_path,
        cluster={"allow_http": True, "request_timeout_seconds": 1},
        timeout_seconds=3,
    )
    try:
        code, out, err = run_helper(config, tmp_path / "r.json", timeout=60)  # a hang guard
    finally:
        server.close()
    assert code == 6, err
    # 2 s (connect and read bound) per answer, or what was left of the deadline then.
    too_slow = rf"GET /v1/cluster: the answer from {server.url} took longer than [\d.]+ s \("
    assert re.search(too_slow + r"it came too slowly\)", err), err
    assert "Traceback" not in out + err
    assert json.loads((tmp_path / "r.json").read_text())["export_status"] == "error"
    assert all(r.startswith(b"GET /v1/cluster") for r in server.requests)  # no POST


@pytest.mark.parametrize(
    ("secret", "fail", "code", "status"),
    [("orders", False, 0, "succeeded"), ("export", False, 0, "succeeded"),
     ("fail", True, 4, "failed"), ("status", True, 4, "failed")],
)  # fmt: skip
def test_a_secret_that_is_also_a_word_of_the_answer_does_not_change_what_it_means(
    sim: Simulator, tmp_path: Path, secret: str, fail: bool, code: int, status: str
) -> None:
    """An S3 secret that is the database's name, part of 'export_status' or of 'failed':
    the answer is read as sent and the outcome is right; only what is shown is scrubbed
    (before: a 404 for 'orders', a timeout for the others)."""
    if fail:
        sim.cluster.scenario.fail_reason, sim.cluster.scenario.fail_exports = "general-error", 1
    result = tmp_path / "result.json"
    config = write_helper_config(sim.url, sim.ca_path, tmp_path, database="orders")
    got, out, err = run_helper(config, result, env={"S3_SECRET": secret}, timeout=60)
    record = json.loads(result.read_text())
    assert (got, record["export_status"]) == (code, status), out + err
    assert sim.cluster.exports_started(1) == 1


def test_slow_answers_end_the_run_at_its_deadline_as_a_timeout(
    sim: Simulator, tmp_path: Path
) -> None:
    """timeout_seconds = 6 and the follow-up read slower than the whole budget (12 s, within
    the 30 s request timeout): the read is cut at the time left plus the grace, and the run
    ends a timeout (exit 5), its recorded end within the deadline plus a few seconds; it used
    to wait the answer out and report a success 12 s in."""
    from datetime import datetime

    from redis_enterprise_export.polling import GRACE_SECONDS

    # The cluster's name, the settling read (3 s), then the first read after the POST.
    sim.cluster.scenario.faults = {"GET": ["", "slow:3", "slow:12", "..."]}
    code, record, output = export(sim, tmp_path, timeout_seconds=6)
    assert (code, record["export_status"]) == (5, "timeout"), output
    assert "did not finish within 6 s" in output
    assert sim.cluster.exports_started(1) == 1
    ended = datetime.strptime(record["finished_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
    # finished_at is whole seconds, rounded down; the helper's exit takes a moment.
    assert ended - record["timeline"]["started"] <= 6 + GRACE_SECONDS + 1, record
