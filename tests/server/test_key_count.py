"""RsClient.key_count: a database's key count from RS's latest statistics sample.

Against the simulator for what RS documents (stats/last.md), and against scripted
servers for every odd shape an answer can take.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from urllib3.util.retry import Retry

from helpers import ADMIN, ORDERS, PASSWORD, VIEWER
from helpers.strategies import JSON_VALUES
from redis_enterprise_export.errors import ApiError, ProtocolError, TransportError
from redis_enterprise_export.rs.answers import KeyCount
from redis_enterprise_export.rs.client import RsClient, transport_retry
from redis_enterprise_export.simulator import Simulator

STATS = "/v1/bdbs/stats/last/1"
ISO_SECOND = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def sim_client(sim: Simulator, user: str = ADMIN) -> RsClient:
    return RsClient(sim.url, auth=(user, PASSWORD), verify=str(sim.ca_path))


def client(server: HTTPServer, retry: Retry | None = None) -> RsClient:
    return RsClient(
        server.url_for("").rstrip("/"),
        auth=("u", PASSWORD),
        retry=retry if retry is not None else Retry(0),
        timeout_seconds=5,
    )


def assert_one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc)
    assert PASSWORD not in str(exc)


def serve(server: HTTPServer, raw: str) -> None:
    """Answer the stats read with ``raw`` JSON text (NaN and Infinity tokens allowed)."""
    server.clear()
    server.expect_request(STATS, query_string="metrics=no_of_keys").respond_with_data(
        raw, content_type="application/json"
    )


# Against the simulator -------------------------------------------------------


def test_key_count_reads_the_databases_real_key_count(sim: Simulator) -> None:
    """The happy path: only no_of_keys is asked for, and the count is the redis-server's,
    as an int, with the sample's times as the cluster sent them."""
    sim.cluster.scenario.stats_interval_seconds = 0  # every read samples
    rs = sim_client(sim)
    count = rs.key_count(1)
    assert count.keys == len(ORDERS)
    logged = sim.cluster.log[-1]
    assert (logged.path, logged.query) == (STATS, "metrics=no_of_keys")
    assert (count.stime, count.etime) == (logged.body["1"]["stime"], logged.body["1"]["etime"])
    assert re.fullmatch(ISO_SECOND, count.etime)
    redis = sim.cluster.databases[1].redis
    assert redis is not None
    redis.client.mset({"extra:1": "x", "extra:2": "y"})
    assert rs.key_count(1).keys == len(ORDERS) + 2


def test_key_count_can_show_the_count_before_a_change_within_a_sample(sim: Simulator) -> None:
    """Statistics are sampled: within the interval the old count comes back, with the
    same etime, which is how a caller can tell it is looking at the same sample."""
    sim.cluster.scenario.stats_interval_seconds = 600
    rs = sim_client(sim)
    before = rs.key_count(1)
    redis = sim.cluster.databases[1].redis
    assert redis is not None
    redis.client.flushall()
    assert rs.key_count(1) == before
    assert before.keys == len(ORDERS)


def test_a_missing_database_is_the_error_the_database_read_raises(sim: Simulator) -> None:
    """404 ("bdb does not exist") is the same ApiError, with the same hint, as the bdb read's."""
    rs = sim_client(sim)
    with pytest.raises(ApiError) as stats_error:
        rs.key_count(99)
    with pytest.raises(ApiError) as read_error:
        rs.export_state(99)
    assert type(stats_error.value) is type(read_error.value)
    assert (stats_error.value.http_status, stats_error.value.error_code) == (404, "db_not_exist")
    assert stats_error.value.hint == read_error.value.hint


def test_role_none_gets_the_permission_error_naming_view_bdb_stats(sim: Simulator) -> None:
    """403 is the package's permission error, naming the permission the stats read needs."""
    sim.cluster.add_user("none@example.com", PASSWORD, "none")
    with pytest.raises(ApiError, match=r"answered 403 .*lacks the view_bdb_stats permission"):
        sim_client(sim, "none@example.com").key_count(1)


def test_a_viewer_may_count_keys(sim: Simulator) -> None:
    """db_viewer holds view_bdb_stats: a drill can check counts without export rights."""
    assert sim_client(sim, VIEWER).key_count(1).keys == len(ORDERS)


# Scripted answers: each odd shape, named --------------------------------------


@pytest.mark.parametrize(
    ("no_of_keys", "keys"),
    [
        ("12.0", 12),  # RS's documented form: a float
        ("12", 12),  # a JSON integer
        ("0.0", 0),
        ("-0.0", 0),
        ('"12"', 12),  # a number sent as a string, as progress fields come
        ('"12.0"', 12),
        ('"1e3"', 1000),
        ("9007199254740992", 2**53),  # the largest count a float holds exactly
        ("9007199254740994", None),  # beyond it: not exact, not guessed
        ("1e300", None),
        ("1" + "0" * 400, None),  # an integer beyond a float's range
        ("12.5", None),  # not a whole number
        ("-1", None),
        ("-1.0", None),
        ("NaN", None),  # the token a Python server writes
        ("Infinity", None),
        ("-Infinity", None),
        ("1e999", None),
        ('"NaN"', None),
        ('"inf"', None),
        ('"1e999"', None),
        ('" 12"', None),  # float() would take these: not a JSON number
        ('"1_2"', None),
        ('"12 keys"', None),
        ('""', None),
        ("true", None),
        ("false", None),
        ("null", None),
        ("[12]", None),
        ('{"value": 12}', None),
    ],
)
def test_each_no_of_keys_shape_reads_as_a_count_or_none(
    httpserver: HTTPServer, no_of_keys: str, keys: int | None
) -> None:
    """no_of_keys counts only as a whole number from 0 to 2**53; anything else is None."""
    serve(httpserver, '{"1": {"no_of_keys": ' + no_of_keys + ', "stime": "s", "etime": "e"}}')
    assert client(httpserver).key_count(1) == KeyCount(keys=keys, stime="s", etime="e")


def test_no_of_keys_left_out_reads_as_none(httpserver: HTTPServer) -> None:
    """A sample without no_of_keys (a cluster ignoring metrics=) has no count."""
    serve(httpserver, '{"1": {"stime": "s", "etime": "e", "used_memory": 5.0}}')
    assert client(httpserver).key_count(1).keys is None


@pytest.mark.parametrize("value", ["null", "12", "true", '["2015-06-23T12:05:08Z"]', "{}"])
def test_times_that_are_not_text_read_as_empty(httpserver: HTTPServer, value: str) -> None:
    """stime and etime are kept as sent when they are strings, else ""."""
    serve(httpserver, f'{{"1": {{"no_of_keys": 3.0, "stime": {value}, "etime": {value}}}}}')
    assert client(httpserver).key_count(1) == KeyCount(keys=3, stime="", etime="")


def test_times_left_out_read_as_empty(httpserver: HTTPServer) -> None:
    """A sample without stime and etime reads them as empty text."""
    serve(httpserver, '{"1": {"no_of_keys": 3.0}}')
    assert client(httpserver).key_count(1) == KeyCount(keys=3, stime="", etime="")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[]", r"answered list, not an object"),
        ('"busy"', r"answered str, not an object"),
        ("12", r"answered int, not an object"),
        ("null", r"answered NoneType, not an object"),
        ("", r"answered NoneType, not an object"),  # an empty body
        ("{}", r"no stats object under '1' \(keys \[\]\)"),
        ('{"2": {"no_of_keys": 5.0}}', r"under '1' \(keys \['2'\]\)"),  # another database
        ('{"no_of_keys": 5.0}', r"under '1' \(keys \['no_of_keys'\]\)"),  # not keyed by uid
        ('{"1": 5.0}', r"under '1' \(it holds 5\.0\)"),
        ('{"1": null}', r"under '1' \(it holds None\)"),
        ('{"1": [{"no_of_keys": 5.0}]}', r"under '1' \(it holds \[\{'no_of_keys': 5\.0\}\]\)"),
    ],
)
def test_an_answer_without_a_stats_object_under_the_uid_is_a_protocol_error(
    httpserver: HTTPServer, raw: str, message: str
) -> None:
    """The answer must be an object holding an object under str(uid); the error names
    what came instead."""
    serve(httpserver, raw)
    with pytest.raises(ProtocolError, match=rf"^GET {STATS} .*{message}"):
        client(httpserver).key_count(1)


def test_what_came_instead_is_shown_bounded_and_on_one_line(httpserver: HTTPServer) -> None:
    """An odd answer is quoted bounded and on one line in the error."""
    serve(httpserver, json.dumps({f"db\n{i}": {} for i in range(1000)}))
    with pytest.raises(ProtocolError) as error:
        client(httpserver).key_count(1)
    assert "\n" not in str(error.value)
    assert len(str(error.value)) < 200


def test_a_transient_503_is_retried_like_any_read(httpserver: HTTPServer) -> None:
    """The session's one retry policy covers this read too."""
    httpserver.expect_ordered_request(STATS).respond_with_data("", status=503)
    httpserver.expect_ordered_request(STATS).respond_with_json({"1": {"no_of_keys": 4.0}})
    retry = transport_retry().new(backoff_factor=0)
    assert client(httpserver, retry).key_count(1).keys == 4


# Any answer: a count or a documented error ------------------------------------

# Beyond any JSON value: counts at the edge of a float's exact integers, and numbers as text.
COUNTS = st.integers(min_value=2**53 - 2, max_value=2**53 + 2) | st.sampled_from(
    ["12", "12.0", "-3", "1e3", "NaN", "inf", " 7", "1_0", ""]
)
SAMPLES = st.fixed_dictionaries(
    {},
    optional={
        "no_of_keys": COUNTS | JSON_VALUES,
        "stime": JSON_VALUES,
        "etime": JSON_VALUES,
        "used_memory": JSON_VALUES,
    },
)
ANSWERS = (
    JSON_VALUES
    | st.dictionaries(st.sampled_from(["1", "2", "01", " 1"]), SAMPLES | JSON_VALUES, max_size=3)
    | st.builds(lambda sample: {"1": sample}, SAMPLES)
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=ANSWERS)
def test_any_json_answer_is_a_count_or_a_package_error(httpserver: HTTPServer, answer: Any) -> None:
    """key_count returns keys None or a non-negative int and text times, or raises one of
    the documented errors, on one line; nothing else escapes."""
    serve(httpserver, json.dumps(answer, allow_nan=True))
    try:
        count = client(httpserver).key_count(1)
    except (ProtocolError, TransportError, ApiError) as exc:
        assert_one_line(exc)
    else:
        assert count.keys is None or (type(count.keys) is int and count.keys >= 0)
        assert isinstance(count.stime, str)
        assert isinstance(count.etime, str)
        assert isinstance(answer, dict)
        assert isinstance(answer["1"], dict)  # only ever read from database 1's sample
    httpserver.check_assertions()
