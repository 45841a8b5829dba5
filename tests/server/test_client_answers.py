"""What the client makes of hostile or broken server answers: a package error, never a crash.

Every server here is real (pytest-httpserver, or a raw socket for bytes werkzeug
will not send); each test checks what the servers received.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from urllib3.util.retry import Retry
from werkzeug import Request, Response

from helpers import ConnectProxy, RawServer
from helpers.common import EXPORT_STATUSES
from helpers.strategies import JSON_SCALARS, JSON_VALUES
from redis_enterprise_export.errors import (
    ApiError,
    ConfigError,
    DatabaseNotFoundError,
    ExportError,
    ProtocolError,
    ServerError,
    TransportError,
)
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.rs.client import RsClient, transport_retry

SECRET = "s3-Secret-In-The-Body-4d2"
PASSWORD = "Cluster-Pass-In-Auth-8e1"
BODY = {
    "export_location": {
        "type": "s3",
        "bucket_name": "b",
        "access_key_id": "AKIA",
        "secret_access_key": SECRET,
    }
}
EXPORT = "/v1/bdbs/1/actions/export"


def client(server: HTTPServer, retry: Retry | None = None) -> RsClient:
    return RsClient(
        server.url_for("").rstrip("/"),
        auth=("u", PASSWORD),
        retry=retry if retry is not None else Retry(0),
        timeout_seconds=5,
        secrets=[SECRET],  # as connect() gives it the location's secrets
    )


def quick_retry() -> Retry:
    """The real transport policy, minus its waits."""
    return transport_retry().new(backoff_factor=0)


@pytest.fixture
def second() -> Iterator[HTTPServer]:
    """Another server, where a redirect would lead."""
    server = HTTPServer()
    server.start()
    yield server
    server.clear()
    server.stop()


# Redirects are never followed ------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_of_the_post_is_an_error_and_the_body_goes_nowhere(
    httpserver: HTTPServer, second: HTTPServer, status: int
) -> None:
    """A 3xx is a ProtocolError naming its Location; the other server receives nothing."""
    target = second.url_for(EXPORT)
    httpserver.expect_request(EXPORT, method="POST").respond_with_data(
        "", status=status, headers={"Location": target}
    )
    second.expect_request(EXPORT).respond_with_data("", status=200)
    with pytest.raises(ProtocolError) as info:
        client(httpserver).start_export(1, BODY)
    assert f"answered {status}" in str(info.value)
    assert target in str(info.value)
    assert second.log == []
    assert len(httpserver.log) == 1
    httpserver.check_assertions()


def test_a_redirect_of_a_read_is_an_error_too(httpserver: HTTPServer, second: HTTPServer) -> None:
    """GETs are not followed either: the status read never goes to another server."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(
        "", status=302, headers={"Location": second.url_for("/v1/bdbs/1")}
    )
    with pytest.raises(ProtocolError, match="redirect"):
        client(httpserver, quick_retry()).export_state(1)
    assert second.log == []


def test_a_redirect_location_is_shown_without_its_credentials(httpserver: HTTPServer) -> None:
    """userinfo in a Location header never reaches the message."""
    httpserver.expect_request(EXPORT).respond_with_data(
        "", status=307, headers={"Location": "https://bob:hunter2-pw@evil.example:8443/x?y=1"}
    )
    with pytest.raises(ProtocolError) as info:
        client(httpserver).start_export(1, BODY)
    assert "hunter2-pw" not in str(info.value)
    assert "bob" not in str(info.value)
    assert "evil.example:8443/x" in str(info.value)


# Broken bodies and transports: one of the package's errors, one line ----------


def assert_one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc)
    assert "Traceback" not in str(exc)
    assert PASSWORD not in str(exc)
    assert SECRET not in str(exc)


def test_a_gzip_body_that_is_not_gzip_is_a_protocol_error(httpserver: HTTPServer) -> None:
    """Content-Encoding: gzip over garbage is the server's fault: ProtocolError."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(
        b"this is not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(ProtocolError, match="GET /v1/bdbs/1") as info:
        client(httpserver).export_state(1)
    assert_one_line(info.value)


def test_deeply_nested_json_is_a_protocol_error(httpserver: HTTPServer) -> None:
    """JSON nested beyond Python's recursion limit is refused, not a RecursionError."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(
        "[" * 200_000 + "]" * 200_000, content_type="application/json"
    )
    with pytest.raises(ProtocolError, match="not JSON") as info:
        client(httpserver).export_state(1)
    assert_one_line(info.value)


def test_an_invalid_retry_after_header_is_a_protocol_error(httpserver: HTTPServer) -> None:
    """A Retry-After that is neither seconds nor a date is the server's fault, not a crash."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(
        "", status=503, headers={"Retry-After": "whenever you like"}
    )
    with pytest.raises(ExportError) as info:
        client(httpserver, quick_retry()).export_state(1)
    assert isinstance(info.value, ProtocolError | TransportError)
    assert_one_line(info.value)


def test_a_huge_retry_after_is_capped_so_a_read_cannot_hang(httpserver: HTTPServer) -> None:
    """Retry-After: 3600 on a 503 waits at most the retry policy's cap, not an hour."""
    httpserver.expect_ordered_request("/v1/bdbs/1").respond_with_data(
        "", status=503, headers={"Retry-After": "3600"}
    )
    httpserver.expect_ordered_request("/v1/bdbs/1").respond_with_json({"uid": 1})
    rs = client(httpserver, quick_retry())
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(rs.export_state(1).uid), daemon=True)
    thread.start()
    thread.join(timeout=60)  # generous: only proves there is no hour-long wait
    assert done == [1]
    httpserver.check_assertions()


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    server = RawServer(request.param)
    yield server
    server.close()


BROKEN_CHUNKS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\n{}\r\n0\r\n\r\n"
)
SHORT_BODY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{}"


@pytest.mark.parametrize("raw_server", [BROKEN_CHUNKS, SHORT_BODY], indirect=True)
def test_a_body_cut_off_mid_way_is_a_transport_error_that_may_have_been_sent(
    raw_server: RawServer,
) -> None:
    """A broken chunk or a short body on a read: TransportError, maybe_sent, so it is asked again."""
    rs = RsClient(raw_server.url, auth=("u", PASSWORD), retry=Retry(0), timeout_seconds=5)
    with pytest.raises(TransportError) as info:
        rs.export_state(1)
    assert info.value.maybe_sent is True
    assert_one_line(info.value)
    assert len(raw_server.requests) == 1


@pytest.mark.parametrize("raw_server", [BROKEN_CHUNKS, SHORT_BODY], indirect=True)
def test_a_post_answered_200_with_a_broken_body_was_accepted(raw_server: RawServer) -> None:
    """The status line is the answer to the POST: a broken body after a 200 does not undo it."""
    rs = RsClient(raw_server.url, auth=("u", PASSWORD), retry=Retry(0), timeout_seconds=5)
    assert rs.start_export(1, BODY) is None
    assert len(raw_server.requests) == 1


# Answers that trickle in: each whole answer is bounded -----------------------

# A byte every 0.2 s: each wait is well inside the 1 s read timeout, which alone
# would never end these answers (each would take hours). The whole answer gets
# 1 s + 1 s (connect).
TRICKLES = {
    "headers": (b"", b"HTTP/1.1 200 OK\r\nX-Trickle: " + b"a" * 60000),
    "body": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n",
        b" " * 60000,
    ),
}


def trickling(part: str, tls: ssl.SSLContext | None = None) -> RawServer:
    """A server whose status line and headers, or whose body, trickle in."""
    answer, trickle = TRICKLES[part]
    return RawServer(answer, trickle=trickle, tls=tls)


PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


def outcome(call: Callable[[], Any]) -> Any:
    """What ``call`` returned, or the exception it raised, run on a thread.

    Fails if the call is still running after 30 s: a hang guard, not a timing.
    """
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except Exception as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert result, "the call still waits for the trickling answer"
    return result[0]


def assert_too_slow(error: Any, where: str, url: str) -> None:
    assert isinstance(error, TransportError), error
    assert str(error) == f"{where}: the answer from {url} took longer than 2 s (it came too slowly)"
    assert error.maybe_sent is True
    assert PASSWORD not in str(error)


@pytest.mark.parametrize("part", ["headers", "body"])
def test_an_answer_trickling_in_is_cut_at_its_bound(part: str) -> None:
    """Status line and headers, or the body, a byte every 0.2 s: a TransportError naming the
    bound, maybe sent, instead of a call that never ends."""
    server = trickling(part)
    rs = RsClient(server.url, auth=("u", PASSWORD), retry=Retry(0), timeout_seconds=1)
    try:
        assert_too_slow(outcome(lambda: rs.export_state(1)), "GET /v1/bdbs/1", server.url)
    finally:
        server.close()
    assert len(server.requests) == 1


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RawServer, Path]]:
    """A TLS server trickling its status line and headers, and the CA file that verifies it."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    server = trickling("headers", tls=context)
    yield server, ca_path
    server.close()


@pytest.mark.parametrize("proxied", [False, True], ids=["direct", "through-a-connect-proxy"])
def test_an_answer_trickling_in_over_tls_is_cut_too(
    tls_server: tuple[RawServer, Path], proxied: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over TLS, and through a CONNECT tunnel, a trickling answer ends at its bound all the same."""
    server, ca_path = tls_server
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    proxy = ConnectProxy()
    if proxied:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    rs = RsClient(
        server.url, auth=("u", PASSWORD), verify=str(ca_path), retry=Retry(0), timeout_seconds=1
    )
    try:
        assert_too_slow(outcome(lambda: rs.export_state(1)), "GET /v1/bdbs/1", server.url)
    finally:
        proxy.close()
    assert len(proxy.targets) == (1 if proxied else 0)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("method", "sent"), [("GET", 3), ("POST", 1)])
def test_a_cut_read_is_retried_like_any_broken_read_and_the_post_never(
    method: str, sent: int
) -> None:
    """With the real retry policy a cut GET is asked again (twice), each try with its own bound;
    a cut POST is not sent again: the export job decides, as for any lost answer."""
    server = trickling("headers")
    rs = RsClient(server.url, auth=("u", PASSWORD), timeout_seconds=1)
    call = {"GET": lambda: rs.export_state(1), "POST": lambda: rs.start_export(1, BODY)}[method]
    try:
        error = outcome(call)
    finally:
        server.close()
    path = {"GET": "/v1/bdbs/1", "POST": EXPORT}[method]
    assert_too_slow(error, f"{method} {path}", server.url)
    assert SECRET not in str(error)
    assert len(server.requests) == sent


def test_a_post_whose_body_trickles_in_after_its_200_was_accepted() -> None:
    """The status line is the POST's answer: a body still trickling at the bound does not undo it."""
    server = trickling("body")
    rs = RsClient(server.url, auth=("u", PASSWORD), retry=Retry(0), timeout_seconds=1)
    try:
        assert outcome(lambda: rs.start_export(1, BODY)) is None
    finally:
        server.close()
    assert len(server.requests) == 1


def test_each_request_is_watched_and_no_watchdog_thread_outlives_it(httpserver: HTTPServer) -> None:
    """During each of 40 requests, answered or refused, one watchdog thread runs; after them
    no thread is left that was not there before."""
    before = set(threading.enumerate())
    during: list[int] = []

    def handler(_request: Request) -> Response:
        during.append(len(set(threading.enumerate()) - before))
        status = 200 if len(during) % 2 else 404
        return Response(json.dumps({"uid": 1}), status=status, content_type="application/json")

    httpserver.expect_request("/v1/bdbs/1").respond_with_handler(handler)
    rs = client(httpserver)
    for _ in range(40):
        with contextlib.suppress(ApiError):
            rs.export_state(1)
    assert during == [1] * 40
    assert set(threading.enumerate()) - before == set()


@pytest.mark.parametrize(
    "url",
    ["https://", "ftp://127.0.0.1:9443", "127.0.0.1:9443", "https://exa mple.com:99999"],
)
def test_an_unusable_url_is_a_config_error_and_nothing_is_sent(url: str) -> None:
    """requests' InvalidURL, InvalidSchema and MissingSchema become one line naming the url."""
    with pytest.raises(ConfigError) as info:
        RsClient(url, auth=("u", PASSWORD), retry=Retry(0)).export_state(1)
    assert "url" in str(info.value)
    assert_one_line(info.value)


@pytest.mark.parametrize(
    ("exc", "kind", "maybe_sent"),
    [
        (requests.exceptions.TooManyRedirects("too many"), ProtocolError, True),
        (requests.exceptions.ChunkedEncodingError("broken"), TransportError, True),
        (requests.exceptions.ContentDecodingError("bad gzip"), ProtocolError, True),
        (requests.exceptions.RetryError("too many 500 error responses"), ServerError, True),
        (requests.exceptions.InvalidHeader("bad header"), ProtocolError, True),
        (requests.exceptions.ConnectTimeout("no connect"), TransportError, False),
        (requests.exceptions.ReadTimeout("no answer"), TransportError, True),
        (requests.exceptions.RequestException("anything else"), TransportError, True),
        (ConnectionResetError(104, "Connection reset by peer"), TransportError, True),
        (OSError("Could not find a suitable TLS CA certificate bundle"), TransportError, True),
    ],
)
def test_every_requests_exception_becomes_a_package_error(
    exc: Exception, kind: type[ExportError], maybe_sent: bool
) -> None:
    """The mapping from what requests raises to the package's errors, for the cases no server provokes."""
    from redis_enterprise_export.rs.failures import transport_error

    error = transport_error(exc, "GET", "/v1/bdbs/1", "https://127.0.0.1:9443", 30.0)
    assert type(error) is kind or (kind is TransportError and isinstance(error, TransportError))
    if isinstance(error, TransportError):
        assert error.maybe_sent is maybe_sent
    assert str(error).startswith("GET /v1/bdbs/1")
    assert_one_line(error)


# Hostile numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    "progress_text",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        '"NaN"',
        '"nan"',
        '"inf"',
        '"-inf"',
        '"Infinity"',
        "1e999",
        "1" + "0" * 400,
    ],
)
def test_a_non_finite_progress_reads_as_no_progress(
    httpserver: HTTPServer, progress_text: str
) -> None:
    """export_progress of NaN or ±Infinity (as the tokens a Python server writes, or as
    strings), or too big for a float: no progress (None), never an error or a NaN."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(
        '{"uid": 1, "export_status": "exporting", "export_progress": ' + progress_text + "}",
        content_type="application/json",
    )
    state = client(httpserver).export_state(1)
    assert (state.export_status, state.export_progress) == ("exporting", None)


@pytest.mark.parametrize("value", [True, [50], {"p": 1}])
def test_a_progress_of_another_type_reads_as_no_progress(
    httpserver: HTTPServer, value: Any
) -> None:
    """Booleans, lists and objects are not percentages: None, and the status is still read."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json(
        {"uid": 1, "export_status": "exporting", "export_progress": value}
    )
    assert client(httpserver).export_state(1).export_progress is None


@pytest.mark.parametrize("uid", [2, "2", 0, -1, 1.0, True, "1_0", " 1x"])
def test_a_database_with_another_uid_is_a_protocol_error(httpserver: HTTPServer, uid: Any) -> None:
    """GET /v1/bdbs/1 must describe database 1: another uid is never taken for it."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json({"uid": uid, "export_status": ""})
    with pytest.raises(ProtocolError, match="uid"):
        client(httpserver).export_state(1)


@pytest.mark.parametrize("status", [["succeeded"], {"a": 1}, 7, False])
def test_an_export_status_of_another_type_is_a_protocol_error(
    httpserver: HTTPServer, status: Any
) -> None:
    """A list or number where the status word belongs is refused (lists once crashed the set lookup)."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json({"uid": 1, "export_status": status})
    with pytest.raises(ProtocolError, match="export_status"):
        client(httpserver).export_state(1)


# Transient server errors while following an export ---------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_transient_5xx_on_a_read_is_retried(httpserver: HTTPServer, status: int) -> None:
    """transport_retry() retries 500, 502, 503 and 504 on GET."""
    httpserver.expect_ordered_request("/v1/bdbs/1").respond_with_data("", status=status)
    httpserver.expect_ordered_request("/v1/bdbs/1").respond_with_json({"uid": 1})
    assert client(httpserver, quick_retry()).export_state(1).uid == 1
    httpserver.check_assertions()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_a_read_after_the_retries_is_a_server_error(
    httpserver: HTTPServer, status: int
) -> None:
    """When the retries are spent, a 5xx on GET is a ServerError (a TransportError the job rides out)."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json(
        {"error_code": "node_unavailable", "description": "node is not responding"}, status=status
    )
    with pytest.raises(ServerError) as info:
        client(httpserver, quick_retry()).export_state(1)
    assert info.value.maybe_sent is True
    assert f"answered {status}" in str(info.value)
    assert "node is not responding" in str(info.value)
    assert len(httpserver.log) == 1 + quick_retry().status  # type: ignore[operator]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_the_post_is_a_lost_answer_and_not_retried(
    httpserver: HTTPServer, status: int
) -> None:
    """The POST is never retried blindly: one request, and a 500/502/503/504 is a lost
    answer (maybe_sent), so the job looks before posting again."""
    httpserver.expect_request(EXPORT, method="POST").respond_with_data("", status=status)
    with pytest.raises(ServerError, match=f"answered {status}") as info:
        client(httpserver, quick_retry()).start_export(1, BODY)
    assert info.value.maybe_sent
    assert len(httpserver.log) == 1


def test_a_server_that_echoes_secrets_does_not_get_them_into_the_message(
    httpserver: HTTPServer,
) -> None:
    """Error text from the server is shown without the password or the location's secret."""
    httpserver.expect_request(EXPORT, method="POST").respond_with_json(
        {"error_code": "bad", "description": f"bad key {SECRET} for user u:{PASSWORD}"}, status=400
    )
    with pytest.raises(ApiError) as info:
        client(httpserver).start_export(1, BODY)
    assert_one_line(info.value)
    assert "bad key" in str(info.value)


def test_a_multiline_error_description_is_shown_on_one_line(httpserver: HTTPServer) -> None:
    """Server text with newlines, or very long, becomes one bounded line."""
    httpserver.expect_request("/v1/bdbs/1").respond_with_json(
        {"error_code": "x", "description": "line one\nline two\n" + "y" * 5000}, status=404
    )
    with pytest.raises(ApiError) as info:
        client(httpserver).export_state(1)
    assert_one_line(info.value)
    assert len(str(info.value)) < 1000


# The POST's answer ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("OK", "text/plain"),
        ("<html>accepted</html>", "text/html"),
        ("", "application/json"),
        ("[1,", "application/json"),
    ],
)
def test_a_2xx_to_the_post_is_accepted_whatever_its_body(
    httpserver: HTTPServer, body: str, content_type: str
) -> None:
    """RS documents the 200 as status only: a body that is not JSON is no error once the export started."""
    httpserver.expect_request(EXPORT, method="POST").respond_with_data(
        body, content_type=content_type
    )
    assert client(httpserver).start_export(1, BODY) is None
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"action_uid": "a1b2-c3d4"}, "a1b2-c3d4"),
        ({"action_uid": 17}, "17"),
        ({"action_uid": ""}, None),
        ({"action_uid": ["x"]}, None),
        ({"action_uid": "x" * 1000}, None),
        ({"task_id": "t-1"}, None),
        ([{"action_uid": "a"}], None),
    ],
)
def test_the_post_returns_the_action_uid_when_the_cluster_sends_one(
    httpserver: HTTPServer, answer: Any, expected: str | None
) -> None:
    """start_export returns a plausible action_uid from a JSON 2xx body, else None."""
    httpserver.expect_request(EXPORT, method="POST").respond_with_json(answer)
    assert client(httpserver).start_export(1, BODY) == expected


# Any JSON answer: a valid value or a package error ---------------------------

PLAUSIBLE_DB = st.fixed_dictionaries(
    {},
    optional={
        "uid": st.sampled_from([1, "1", 2, 0, -1, True, None, 1.5]) | JSON_VALUES,
        "name": st.sampled_from(["orders", "other", ""]) | JSON_VALUES,
        "export_status": st.sampled_from([*sorted(EXPORT_STATUSES), "paused", None]) | JSON_VALUES,
        "export_progress": JSON_SCALARS,
        "export_failure_reason": JSON_VALUES,
        "last_export_time": JSON_VALUES,
    },
)
ANSWERS = JSON_VALUES | PLAUSIBLE_DB | st.lists(PLAUSIBLE_DB, max_size=4)


def serve_json(server: HTTPServer, path: str, value: Any) -> None:
    server.clear()
    # allow_nan: the NaN and Infinity tokens Python's json reads (and emits) by default.
    server.expect_request(path).respond_with_data(
        json.dumps(value, allow_nan=True), content_type="application/json"
    )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=ANSWERS)
def test_any_json_answer_to_the_status_read_is_a_valid_state_or_a_package_error(
    httpserver: HTTPServer, answer: Any
) -> None:
    """export_state returns progress None or finite in 0..100 and a one-line status, or raises a package error."""
    serve_json(httpserver, "/v1/bdbs/1", answer)
    try:
        state = client(httpserver).export_state(1)
    except (ProtocolError, TransportError, ApiError) as exc:
        assert_one_line(exc)
    else:
        assert state.uid == 1
        progress = state.export_progress
        assert progress is None or (math.isfinite(progress) and 0 <= progress <= 100)
        status = state.export_status
        assert len(status) <= 60
        assert status == " ".join(status.split())
        assert all(
            isinstance(s, str)
            for s in (state.name, state.export_failure_reason, state.last_export_time)
        )
    httpserver.check_assertions()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=ANSWERS)
def test_any_json_answer_to_the_database_list_is_a_uid_or_a_package_error(
    httpserver: HTTPServer, answer: Any
) -> None:
    """find_database returns a positive int uid, or raises a package error."""
    serve_json(httpserver, "/v1/bdbs", answer)
    try:
        uid = client(httpserver).find_database("orders")
    except (ProtocolError, TransportError, ApiError, DatabaseNotFoundError) as exc:
        assert_one_line(exc)
    else:
        assert type(uid) is int
        assert uid > 0
    httpserver.check_assertions()


# Secrets echoed inside longer text (issue 16, L5) -----------------------------

ECHOES = st.sampled_from(["raw", "percent", "percent-lower", "plus", "json"])


def _echoed(secret: str, form: str) -> str:

    if form == "percent":
        return quote(secret, safe="")
    if form == "percent-lower":
        return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe=""))
    if form == "plus":
        return quote_plus(secret)
    if form == "json":
        return json.dumps(secret)[1:-1]
    return secret


SECRETS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=8, max_size=24
).filter(lambda s: s.strip() == s and len(set(s)) > 4)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    secret=SECRETS,
    form=ECHOES,
    before=st.text(max_size=400),
    place=st.sampled_from(["description", "message", "not_json"]),
)
def test_a_secret_echoed_inside_longer_cluster_text_is_never_shown(
    httpserver: HTTPServer, secret: str, form: str, before: str, place: str
) -> None:
    """A location secret the cluster echoes anywhere in a longer text, encoded as a URL or
    JSON would carry it, and wherever a message would cut the text: what is shown is what
    would be shown had the cluster sent ``***`` in its place."""
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", PASSWORD), retry=Retry(0),
                  timeout_seconds=5, secrets=[secret])  # fmt: skip

    def shown(echo: str) -> str:
        text = f"{before} s3://AKIA:{echo}@bucket/x failed"
        httpserver.clear()
        if place == "not_json":
            httpserver.expect_request("/v1/bdbs/1").respond_with_data(
                text + "<", content_type="text/plain"
            )
            with pytest.raises(ProtocolError) as refused:
                rs.export_state(1)
            return str(refused.value)
        httpserver.expect_request(EXPORT, method="POST").respond_with_json(
            {"error_code": "bad", place: text}, status=400
        )
        with pytest.raises(ApiError) as info:
            rs.start_export(1, {"export_location": {"type": "s3"}})
        return str(info.value)

    assert shown(_echoed(secret, form)) == shown("***")


def test_a_secret_from_undecodable_environment_bytes_is_scrubbed_as_those_bytes() -> None:
    """A password read from non-UTF-8 environment bytes (surrogate escapes) is replaced,
    also percent-encoded as the bytes a server would echo, and scrubbing never raises."""
    from redis_enterprise_export.redact import scrub

    secret = "caf\udce9-pass"
    assert scrub(f"a {secret} b caf%E9-pass c caf%e9-pass", [secret]) == "a *** b *** c ***"


@settings(max_examples=300, deadline=None)
@given(
    secret=SECRETS,
    escaped=st.lists(st.booleans(), min_size=24, max_size=24),
    html_form=st.booleans(),
    before=st.text(max_size=60),
)
def test_a_secret_encoded_any_mix_of_ways_inside_a_url_is_scrubbed(
    secret: str, escaped: list[bool], html_form: bool, before: str
) -> None:
    """Each character of the secret raw or percent-encoded, as encoders differ (AWS keys
    hold '+' and '/'), or HTML-escaped: neither the echo nor the secret is left."""
    from html import escape

    # Whitespace is always encoded, as in any URL.
    echo = "".join(
        quote(c, safe="") if flag or c.isspace() else c
        for c, flag in zip(secret, escaped, strict=False)
    )
    if html_form:
        echo = escape(secret)
    shown = scrub(f"{before} failed: s3://AKIA:{echo}@bucket/x (no-permission)", [secret])
    assert echo not in shown
    assert secret not in shown
    assert "(no-permission)" in shown


# Echoes of the Authorization header, of encoded secrets, of the body (issue 26, M4) ----


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("status", [400, 502])
@pytest.mark.parametrize("form", ["header", "token", "token-percent"])
def test_an_echoed_authorization_header_is_never_shown(
    httpserver: HTTPServer, status: int, form: str
) -> None:
    """A WAF or proxy that prints the Authorization header it got (base64 of user:password),
    whole, as its token, or percent-encoded, gets neither into the message."""
    token = _basic("u", PASSWORD)
    echo = {"header": f"Basic {token}", "token": token, "token-percent": quote(token, safe="")}
    httpserver.expect_request(EXPORT, method="POST").respond_with_json(
        {"error_code": "waf", "description": f"blocked: Authorization={echo[form]} (rule 942)"},
        status=status,
    )
    with pytest.raises(ExportError) as info:
        client(httpserver).start_export(1, BODY)
    assert_one_line(info.value)
    assert token not in str(info.value)
    assert quote(token, safe="") not in str(info.value)
    assert "(rule 942)" in str(info.value)


def test_an_authorization_header_echoed_in_a_page_that_is_not_json_is_never_shown(
    httpserver: HTTPServer,
) -> None:
    """An HTML page answered to a read, quoting the header, is shown without its token."""
    token = _basic("u", PASSWORD)
    httpserver.expect_request("/v1/bdbs/1").respond_with_data(
        f"<p>Authorization: Basic {token}</p>", content_type="text/html"
    )
    with pytest.raises(ProtocolError) as info:
        client(httpserver).export_state(1)
    assert token not in str(info.value)
    assert "Authorization" in str(info.value)


@pytest.mark.parametrize("which", ["location secret", "password"])
def test_a_double_percent_encoded_secret_is_never_shown(httpserver: HTTPServer, which: str) -> None:
    """A secret percent-encoded twice (a proxy encoding what it echoes once more) is hidden."""
    secret = "Wj+8/kQ=z!p@ss 1"
    auth = ("u", secret if which == "password" else PASSWORD)
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=auth, retry=Retry(0),
                  timeout_seconds=5, secrets=[secret if which != "password" else SECRET])  # fmt: skip
    echo = quote(quote("u:" + secret, safe=""), safe="")
    httpserver.expect_request(EXPORT, method="POST").respond_with_json(
        {"error_code": "bad", "description": f"cannot reach s3://{echo}@b (denied)"}, status=400
    )
    with pytest.raises(ApiError) as info:
        rs.start_export(1, BODY)
    assert echo not in str(info.value)
    assert "cannot reach *** (denied)" in str(info.value)


def test_a_400_echoing_the_body_shows_what_the_operator_must_check(httpserver: HTTPServer) -> None:
    """A 400 that echoes the request body shows its bucket, key id, file name and
    encryption type, and hides only the secrets (the location's, the password)."""
    key = "sse-Customer-Key-91f"
    body = {"dataset_import_sources": [{
        "type": "s3", "bucket_name": "backups-eu", "access_key_id": "AKIAEXAMPLE7",
        "secret_access_key": SECRET, "filename": "orders-1-2026.rdb.gz",
        "encryption": {"type": "sse-c", "sse_customer_key": key},
    }]}  # fmt: skip
    httpserver.expect_request("/v1/bdbs/1/actions/import", method="POST").respond_with_json(
        {"error_code": "invalid_schema", "description": json.dumps(body)}, status=400
    )
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", PASSWORD), retry=Retry(0),
                  timeout_seconds=5, secrets=[SECRET, key])  # fmt: skip
    with pytest.raises(ApiError) as info:
        rs.start_import(1, body)
    shown = str(info.value)
    for field in ("backups-eu", "AKIAEXAMPLE7", "orders-1-2026.rdb.gz", "sse-c"):
        assert field in shown
    assert SECRET not in shown
    assert key not in shown


ENCODERS: dict[str, Callable[[str], str]] = {
    "percent": lambda text: quote(text, safe=""),
    "percent-path": quote,
    "plus": quote_plus,
}


@settings(max_examples=300, deadline=None)
@given(
    secret=SECRETS,
    inner=st.sampled_from(["none", "json", "html"]),
    layers=st.lists(st.sampled_from(sorted(ENCODERS)), min_size=1, max_size=3),
)
def test_a_secret_encoded_up_to_three_times_over_is_scrubbed(
    secret: str, inner: str, layers: list[str]
) -> None:
    """A secret escaped for JSON or HTML (or not) and then percent-encoded once, twice or
    three times over, in any mix of encoders: neither the echo nor the secret is shown,
    and the text around it is (an exact form may leave a harmless tail of the escape)."""
    from html import escape

    echo = {"none": secret, "json": json.dumps(secret)[1:-1], "html": escape(secret)}[inner]
    for layer in layers:
        echo = ENCODERS[layer](echo)
    shown = scrub(f"upload failed: {echo} (kept)", [secret])
    assert echo not in shown
    assert secret not in shown
    assert shown.startswith("upload failed: ***")
    assert shown.endswith(" (kept)")
