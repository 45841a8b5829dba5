"""The client over real HTTPS: against the simulator, and against scripted bad servers."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from urllib3.util.retry import Retry
from werkzeug import Request, Response

from helpers import ADMIN, PASSWORD, VIEWER, FakeClock
from redis_enterprise_export.errors import (
    ApiError,
    ClusterBusyError,
    ProtocolError,
    TransportError,
)
from redis_enterprise_export.rs.client import RsClient
from redis_enterprise_export.simulator import Simulator

BODY = {"export_location": {"type": "mount_point", "path": "/tmp"}}


def client(sim: Simulator, user: str = ADMIN, password: str = PASSWORD) -> RsClient:
    return RsClient(sim.url, auth=(user, password), verify=str(sim.ca_path))


def test_sends_the_documented_request(sim: Simulator, export_dir: Path) -> None:
    """start_export POSTs the given body unchanged and starts exactly one export."""
    rs = client(sim)
    rs.start_export(1, {"export_location": {"type": "mount_point", "path": str(export_dir)}})
    assert sim.cluster.exports_started(1) == 1
    assert sim.cluster.export_bodies == [
        {"export_location": {"type": "mount_point", "path": str(export_dir)}}
    ]


def test_reads_only_the_export_fields(sim: Simulator) -> None:
    """The full database object holds passwords: the client never asks for it."""
    state = client(sim).export_state(1)
    assert (state.uid, state.name, state.export_status) == (1, "orders", "")
    assert sim.cluster.log[-1].query.startswith("fields=")


def test_progress_sent_as_a_string_is_parsed(sim: Simulator, export_dir: Path) -> None:
    """RS sends export_progress as "25" at times: it is read as the number 25."""
    clock = FakeClock()
    sim.cluster.clock = clock.now
    sim.cluster.scenario.progress_as_string = True
    sim.cluster.scenario.export_seconds = 30
    rs = client(sim)
    rs.start_export(1, {"export_location": {"type": "mount_point", "path": str(export_dir)}})
    clock.sleep(7.5)
    assert rs.export_state(1).export_progress == 25.0
    assert sim.cluster.log[-1].body["export_progress"] == "25"


@pytest.mark.parametrize("text_field", ["description", "message"])
def test_error_text_comes_from_description_or_message(sim: Simulator, text_field: str) -> None:
    """An error's text is taken from description or message, with the status and a plain hint."""
    sim.cluster.scenario.error_text_field = text_field
    with pytest.raises(ApiError) as info:
        client(sim).start_export(99, BODY)
    assert info.value.http_status == 404
    assert info.value.description == "database 99 does not exist"
    assert "No such database" in str(info.value)


def test_409_is_a_busy_error(sim: Simulator) -> None:
    """A 409 on start_export raises ClusterBusyError."""
    sim.cluster.scenario.conflicts = 1
    with pytest.raises(ClusterBusyError):
        client(sim).start_export(1, BODY)


def test_406_says_a_module_lacks_backup_restore(sim: Simulator) -> None:
    """A 406 says a module of the database lacks the backup_restore capability."""
    with pytest.raises(ApiError, match="lacks the backup_restore capability"):
        client(sim).start_export(2, BODY)


def test_403_names_the_missing_permission(sim: Simulator) -> None:
    """A 403 names the user and the permission it lacks."""
    with pytest.raises(ApiError) as info:
        client(sim, user=VIEWER).start_export(1, BODY)
    assert info.value.http_status == 403
    assert f"User {VIEWER!r} lacks the start_bdb_export permission" in str(info.value)


def test_401_is_not_retried_so_the_user_is_not_locked_out(sim: Simulator) -> None:
    """A 401 is not retried, says why, and costs exactly one failed login."""
    with pytest.raises(ApiError, match="Not retried: RS locks a user out"):
        client(sim, password="wrong").export_state(1)
    assert sim.cluster.failed_logins == 1


def test_400_explains_what_the_cluster_rejected(sim: Simulator) -> None:
    """A 400 carries the cluster's words on what it rejected."""
    with pytest.raises(ApiError, match=r"export_location\.access_key_id is required"):
        client(sim).start_export(1, {"export_location": {"type": "s3"}})


def test_a_wrong_ca_fails_clearly_with_no_fallback(sim: Simulator, tmp_path: Path) -> None:
    """A wrong CA fails TLS verification naming the URL, and no request gets through."""
    other = Simulator(tmp_path / "other")
    other.start()
    other.stop()
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(other.ca_path))
    with pytest.raises(
        TransportError, match=r"TLS verification of https://127\.0\.0\.1:\d+ failed"
    ):
        rs.export_state(1)
    assert sim.cluster.log == []


def test_without_ca_cert_a_failed_tls_verification_says_to_set_it(sim: Simulator) -> None:
    """Trusting the system store, a cluster's own CA fails verification: the hint is to set
    ca_cert (and not to re-run synth, which a set ca_cert's hint says)."""
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=True)
    with pytest.raises(TransportError) as info:
        rs.export_state(1)
    assert "Set ca_cert to the cluster's CA file" in str(info.value)
    assert "re-run synth" not in str(info.value)


def test_connection_refused_says_where_and_that_nothing_was_sent() -> None:
    """A refused connection names the URL and records that nothing was sent."""
    rs = RsClient("https://127.0.0.1:9", auth=("u", "p"), retry=Retry(0))
    with pytest.raises(TransportError, match=r"could not reach https://127\.0\.0\.1:9") as info:
        rs.export_state(1)
    assert info.value.maybe_sent is False


# Malformed answers, from a plain HTTP server scripted per test ---------------


def http_client(server: HTTPServer) -> RsClient:
    return RsClient(server.url_for("").rstrip("/"), auth=("u", "p"), retry=Retry(0))


def test_an_html_error_page_is_a_clear_protocol_error(httpserver: HTTPServer) -> None:
    """An HTML answer is a ProtocolError quoting its content type and start."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(
        "<html><body>Bad Gateway</body></html>", content_type="text/html"
    )
    with pytest.raises(ProtocolError, match=r"not JSON \(text/html\): '<html><body>Bad Gateway"):
        http_client(httpserver).export_state(1)


@pytest.mark.parametrize(
    ("sent", "read"),
    [("initializing", "initializing"), ("", ""), ("a\nb", "a b"), ("x" * 100, "x" * 59 + "…")],
)
def test_an_undocumented_export_status_is_read_not_refused(
    httpserver: HTTPServer, sent: str, read: str
) -> None:
    """Any text export_status is read (on one line, bounded): only the job decides what it means."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json({"uid": 1, "export_status": sent})
    assert http_client(httpserver).export_state(1).export_status == read


def test_missing_fields_read_as_a_never_exported_database(httpserver: HTTPServer) -> None:
    """A database object without export fields reads as never exported: '', no progress, ''."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json({"uid": 1})
    state = http_client(httpserver).export_state(1)
    assert (state.export_status, state.export_progress, state.export_failure_reason) == (
        "",
        None,
        "",
    )


@pytest.mark.parametrize(
    ("sent", "read"),
    [("half", None), ("NaN", None), (None, None), ([50], None), (True, None), (10**400, None),
     ("42.5", 42.5), (7, 7.0), (-3, 0.0), (250, 100.0)],
)  # fmt: skip
def test_export_progress_is_advisory_a_non_number_reads_as_none(
    httpserver: HTTPServer, sent: object, read: float | None
) -> None:
    """A progress that is not a finite number is None (no error); a number is clamped to 0..100."""
    body = f'{{"uid": 1, "export_status": "exporting", "export_progress": {json.dumps(sent)}}}'
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(body, content_type="application/json")
    assert http_client(httpserver).export_state(1).export_progress == read


def test_a_list_where_an_object_belongs_is_a_clear_protocol_error(httpserver: HTTPServer) -> None:
    """A JSON list where a database object belongs is a ProtocolError."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json([1, 2])
    with pytest.raises(ProtocolError, match="answered list, not a database object"):
        http_client(httpserver).export_state(1)


def test_503_on_a_read_is_retried(httpserver: HTTPServer) -> None:
    """A 503 on a read is retried, and the next answer is the one returned."""
    httpserver.expect_ordered_request("/v1/bdbs/1").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/v1/bdbs/1").respond_with_json({"uid": 1})
    rs = RsClient(
        httpserver.url_for("").rstrip("/"),
        auth=("u", "p"),
        retry=Retry(total=2, status_forcelist=[503], backoff_factor=0),
    )
    assert rs.export_state(1).uid == 1
    httpserver.check_assertions()


def test_headers_and_auth_are_as_documented(httpserver: HTTPServer) -> None:
    """One POST with JSON Accept and Content-Type, Basic auth and the body as JSON."""
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response("", status=200)

    httpserver.expect_request("/v1/bdbs/1/actions/export", method="POST").respond_with_handler(
        handler
    )
    http_client(httpserver).start_export(1, BODY)
    assert len(seen) == 1
    request = seen[0]
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert json.loads(request.data) == BODY


# The import calls: the export's transport, refusals and scrubbing --------------

SOURCES = {"dataset_import_sources": [{"type": "mount_point", "path": "/tmp/orders.rdb.gz"}]}
IMPORT = "/v1/bdbs/1/actions/import"


def test_start_import_posts_the_sources_unchanged_and_reads_only_import_fields(
    sim: Simulator,
) -> None:
    """start_import POSTs the body as given and starts one import; import_state asks for
    the import fields (with status and crdt), never the whole object."""
    rs = client(sim)
    assert rs.start_import(1, SOURCES) is None  # RS documents a status code only
    assert sim.cluster.import_bodies == [SOURCES]
    assert sim.cluster.imports_started(1) == 1
    state = rs.import_state(1)
    assert (state.uid, state.name, state.crdt) == (1, "orders", False)
    assert state.import_status in ("initializing", "importing")
    assert state.status == "import-pending"
    query = sim.cluster.log[-1].query
    assert "import_status" in query
    assert "crdt" in query
    assert "export_status" not in query


@pytest.mark.parametrize(
    ("call", "user", "expected", "words"),
    [
        ("start", ADMIN, ClusterBusyError, "busy with another action"),
        ("start-406", ADMIN, ApiError, "so RS cannot import into it"),
        ("start", VIEWER, ApiError, f"User {VIEWER!r} lacks the start_bdb_import permission"),
        ("start-400", ADMIN, ApiError, "check the import source's fields"),
        ("reset", VIEWER, ApiError, "lacks the reset_bdb_current_import_status permission"),
    ],
)
def test_import_refusals_map_as_the_exports_with_the_imports_words(
    sim: Simulator, call: str, user: str, expected: type[ApiError], words: str
) -> None:
    """409 is busy, 406, 403 and 400 carry hints in the import's words."""
    if user == ADMIN and call == "start":
        sim.cluster.scenario.conflicts = 1
    rs = client(sim, user=user)
    uid = 2 if call == "start-406" else 1
    body = {"dataset_import_sources": []} if call == "start-400" else SOURCES

    def act() -> None:
        if call == "reset":
            rs.reset_import_status(uid)
        else:
            rs.start_import(uid, body)

    with pytest.raises(expected) as info:
        act()
    assert type(info.value) is expected
    assert words in str(info.value)


def test_the_import_status_reset_clears_a_finished_import(sim: Simulator, tmp_path: Path) -> None:
    """reset_import_status PUTs the reset; the status reads idle afterwards."""
    rs = client(sim)
    rs.start_import(1, {"dataset_import_sources": [{"type": "mount_point",
                                                    "path": str(tmp_path / "none.rdb")}]})  # fmt: skip
    sim.cluster.clock = lambda: float("inf")  # the import's time is up
    assert rs.import_state(1).import_failure_reason == "download-error"
    rs.reset_import_status(1)
    assert (rs.import_state(1).import_status, sim.cluster.log[-2].method) == ("idle", "PUT")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_to_the_import_post_is_a_lost_answer_sent_once(
    httpserver: HTTPServer, status: int
) -> None:
    """A 5xx to the import's POST is not retried: one request, maybe_sent, so the job
    looks before posting again."""
    httpserver.expect_request(IMPORT, method="POST").respond_with_data("", status=status)
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", "p"))
    with pytest.raises(TransportError, match=f"answered {status}") as info:
        rs.start_import(1, SOURCES)
    assert info.value.maybe_sent
    assert len(httpserver.log) == 1


def test_a_secret_the_cluster_echoes_to_an_import_is_not_shown(httpserver: HTTPServer) -> None:
    """Refusal text quoting the source's secret or the password shows neither."""
    secret = "sas-Token-Secret-42"
    httpserver.expect_request(IMPORT, method="POST").respond_with_json(
        {"error_code": "bad", "description": f"cannot read with {secret} as u:{PASSWORD}"},
        status=400,
    )
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", PASSWORD), secrets=[secret])
    body = {"dataset_import_sources": [{"type": "abs", "account_name": "a", "container": "c",
                                        "sas_token": secret, "filename": "f.rdb"}]}  # fmt: skip
    with pytest.raises(ApiError) as info:
        rs.start_import(1, body)
    assert "cannot read with *** as u:***" in str(info.value)
    assert secret not in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("crdt", ["true", 1, None])
def test_a_crdt_that_is_not_true_or_false_is_a_protocol_error(
    httpserver: HTTPServer, crdt: object
) -> None:
    """Misread, crdt could let an Active-Active database be restored into: anything but
    a JSON boolean is refused (absent reads as false, as on clusters without it)."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json(
        {"uid": 1, "name": "orders", "import_status": "", "crdt": crdt}
    )
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", "p"), retry=Retry(0))
    with pytest.raises(ProtocolError, match=r"crdt .* is not true or false"):
        rs.import_state(1)


# The run's deadline bounds every request (issue 26 M6) ------------------------------


def _sent_bounds(rs: RsClient) -> list[tuple[object, float]]:
    """Record, for each request ``rs`` sends, the timeouts given to requests and the
    whole-answer bound its watchdog ran with."""
    from redis_enterprise_export.rs.transport import WATCHDOG

    sent: list[tuple[object, float]] = []
    request = rs.session.request

    def recording(*args: Any, **kwargs: Any) -> Any:
        watchdog = WATCHDOG.get()
        assert watchdog is not None
        try:
            return request(*args, **kwargs)
        finally:
            sent.append((kwargs["timeout"], watchdog.seconds))

    rs.session.request = recording  # type: ignore[method-assign]
    return sent


@pytest.mark.parametrize(
    ("now", "bounds"),
    [(0.0, ((5.0, 30.0), 35.0)), (99.5, ((1.5, 1.5), 1.5)), (120.0, ((1.0, 1.0), 1.0))],
    ids=["far from it", "half a second left", "past it"],
)
def test_each_request_is_bounded_by_the_time_left_on_the_runs_deadline(
    sim: Simulator, now: float, bounds: tuple[tuple[float, float], float]
) -> None:
    """With the run's deadline set, a request's timeouts and its watchdog's bound are the
    configured ones cut to the time left plus the 1 s grace (on a fake clock)."""
    from redis_enterprise_export.polling import Deadline

    clock = FakeClock()
    rs = client(sim)
    rs.deadline = Deadline(clock, 100.0)
    sent = _sent_bounds(rs)
    clock.t = now
    rs.export_state(1)
    assert sent == [bounds]


def test_no_retry_begins_past_the_runs_deadline(httpserver: HTTPServer) -> None:
    """A 503 once the deadline has passed is the answer: urllib3 does not ask again (it
    would 3 times more, with back-off, and hold the run past its deadline)."""
    from redis_enterprise_export.polling import Deadline

    httpserver.expect_request("/v1/bdbs/1").respond_with_data("", status=503)
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", "p"))
    clock = FakeClock()
    rs.deadline = Deadline(clock, 5.0)
    clock.t = 5.0
    with pytest.raises(TransportError, match="503"):
        rs.export_state(1)
    assert len(httpserver.log) == 1


def test_a_retry_pause_is_cut_to_the_time_left() -> None:
    """The back-off and a server's Retry-After (up to 8 s) are cut to what is left of the
    run's deadline, on a fake clock."""
    from urllib3.response import HTTPResponse
    from urllib3.util.retry import RequestHistory

    from redis_enterprise_export.polling import Deadline
    from redis_enterprise_export.rs.client import transport_retry
    from redis_enterprise_export.rs.transport import WATCHDOG, Watchdog

    clock = FakeClock()
    deadline = Deadline(clock, 10.0)
    clock.t = 9.75
    # Four tries made: the back-off would be 0.5 * 2**3 = 4 s.
    retry = transport_retry().new(history=(RequestHistory("GET", "/", None, 503, None),) * 4)
    token = WATCHDOG.set(Watchdog(35.0, deadline))
    try:
        assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "8"})) == 0.25
        assert retry.get_backoff_time() == 0.25
    finally:
        WATCHDOG.reset(token)
