"""The simulator itself: a strict script of faults, its documented quirks, its limits.

Other tests trust the simulator as their witness; these pin down what it does.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from helpers import ADMIN, PASSWORD, VIEWER, FakeClock
from redis_enterprise_export.errors import ExportError
from redis_enterprise_export.rs.client import RsClient
from redis_enterprise_export.simulator import SimCluster, Simulator
from redis_enterprise_export.simulator.roles import ROLES

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

S3 = {"export_location": {"type": "s3", "bucket_name": "b", "access_key_id": "a",
                          "secret_access_key": "s"}}  # fmt: skip
FIXED = ("", "503", "503-started", "reset", "drop", "html", "...")
VALID_FAULTS = st.sampled_from([*FIXED[:-1], "slow:0", "slow:1.5"])


def get(sim: Simulator, path: str = "/v1/bdbs/1") -> requests.Response:
    return requests.get(
        f"{sim.url}{path}", auth=(ADMIN, PASSWORD), verify=str(sim.ca_path), timeout=10
    )


# A strict script: a request it did not plan for fails the test --------------


def test_a_request_beyond_the_scripted_faults_is_answered_500_and_fails_the_check(
    sim: Simulator,
) -> None:
    """Without a closing "...", the script is the whole plan: one more request is an error."""
    sim.cluster.scenario.faults = {"GET": ["503"]}
    assert [get(sim).status_code for _ in range(2)] == [503, 500]
    with pytest.raises(AssertionError, match=r"GET /v1/bdbs/1: .*Scenario\.faults\['GET'\]"):
        sim.check_assertions()
    sim.check_assertions()  # each unexpected request is reported once


def test_a_closing_ellipsis_answers_every_later_request_normally(sim: Simulator) -> None:
    """A closing "..." means: from here on, no faults."""
    sim.cluster.scenario.faults = {"GET": ["503", "..."]}
    assert [get(sim).status_code for _ in range(4)] == [503, 200, 200, 200]
    sim.check_assertions()


def test_a_method_without_a_script_is_answered_normally(sim: Simulator) -> None:
    """Scripts are per method: scripting POSTs leaves GETs alone."""
    sim.cluster.scenario.faults = {"POST": ["503", "..."]}
    assert get(sim).status_code == 200
    post = requests.post(
        f"{sim.url}/v1/bdbs/1/actions/export",
        json=S3,
        auth=(ADMIN, PASSWORD),
        verify=str(sim.ca_path),
        timeout=10,
    )
    assert post.status_code == 503  # the POST still meets its fault


def test_a_scripted_fault_never_played_fails_the_check(sim: Simulator) -> None:
    """A fault the test scripted but no request met means the fault was not tested."""
    sim.cluster.scenario.faults = {"GET": ["503", "503", "..."], "PUT": ["html"]}
    assert get(sim).status_code == 503
    with pytest.raises(AssertionError, match=r"faults\['GET'\]: never played: \['503'\]") as info:
        sim.check_assertions()
    assert "faults['PUT']: never played: ['html']" in str(info.value)
    sim.check_assertions()  # each problem is reported once


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (["timeout"], "unknown fault 'timeout'"),
        (["slow:soon"], "unknown fault 'slow:soon'"),
        (["slow:nan"], "unknown fault 'slow:nan'"),
        (["slow:-1"], "unknown fault 'slow:-1'"),
        (["slow:1e9"], "unknown fault 'slow:1e9'"),
        (["...", "503"], "'...' must end the list"),
    ],
)
def test_a_bad_fault_name_is_an_error_not_a_normal_answer(
    sim: Simulator, script: list[str], message: str
) -> None:
    """A typo in a script must not quietly turn a fault test into a happy-path test."""
    sim.cluster.scenario.faults = {"GET": script}
    assert get(sim).status_code == 500
    with pytest.raises(AssertionError, match=message):
        sim.check_assertions()
    sim.check_assertions()  # reported once, whatever was left of the script with it


@given(script=st.lists(VALID_FAULTS, max_size=8))
def test_a_script_is_played_in_order_then_runs_out(script: list[str]) -> None:
    """Each request takes the next fault; after the last, the next request is refused."""
    cluster = SimCluster()
    cluster.scenario.faults = {"PUT": list(script)}
    assert [cluster.next_fault("PUT") for _ in script] == script
    with pytest.raises(ValueError, match=r"ran out"):
        cluster.next_fault("PUT")


@given(script=st.lists(VALID_FAULTS, max_size=8), extra=st.integers(0, 20))
def test_a_script_with_an_ellipsis_never_runs_out(script: list[str], extra: int) -> None:
    """After the script, a closing "..." answers any number of requests with no fault."""
    cluster = SimCluster()
    cluster.scenario.faults = {"GET": [*script, "..."]}
    played = [cluster.next_fault("GET") for _ in range(len(script) + extra)]
    assert played == script + [""] * extra


@given(name=st.text(max_size=12).filter(lambda n: n not in FIXED and not n.startswith("slow:")))
def test_any_other_fault_name_is_refused(name: str) -> None:
    """Only the documented names and slow:<seconds> are faults; any other text is an error."""
    cluster = SimCluster()
    cluster.scenario.faults = {"GET": [name, "..."]}
    with pytest.raises(ValueError, match="unknown fault"):
        cluster.next_fault("GET")


@given(seconds=st.floats(0, 60))
def test_slow_takes_any_reasonable_number_of_seconds(seconds: float) -> None:
    """slow:<seconds> is a fault for any finite, non-negative number up to a minute."""
    cluster = SimCluster()
    cluster.scenario.faults = {"POST": [f"slow:{seconds}"]}
    assert cluster.next_fault("POST") == f"slow:{seconds}"


def test_stopping_joins_the_server_and_cancels_a_pending_outage(tmp_path: Path) -> None:
    """stop() leaves no thread behind, and a pending outage does not serve again after it."""
    before = set(threading.enumerate())
    sim = Simulator(tmp_path / "sim").start()
    port = int(sim.url.rsplit(":", 1)[1])
    sim.outage(0.3)
    sim.stop()
    assert set(threading.enumerate()) - before == set()
    time.sleep(0.6)  # past the outage's end: an uncancelled timer would listen again
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


# The documented quirks, reproduced on purpose ---------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cluster(clock: FakeClock) -> Iterator[SimCluster]:
    """A socket-free cluster on a fake clock: database 1, exports of 20 s."""
    model = SimCluster(clock=clock.now)
    model.add_database(1, "orders")
    model.scenario.export_seconds = 20.0
    yield model
    model.close()


def status(cluster: SimCluster, *fields: str) -> Any:
    return cluster.get_database(1, list(fields or ["export_status"])).body


def test_the_status_is_empty_on_a_fresh_database_and_idle_after_a_reset(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """A never-exported database shows "" (RER's bdb_single.json); a reset sets "idle"
    (export_reset_status.md)."""
    assert status(cluster) == {"export_status": ""}
    assert cluster.start_export(1, "admin", S3).status == 200
    clock.sleep(20.0)
    assert status(cluster) == {"export_status": "succeeded"}
    assert cluster.reset_export_status(1, "admin").status == 200
    assert status(cluster) == {"export_status": "idle"}


def test_the_status_stays_stale_for_the_scripted_reads_after_each_action(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """After a reset or an accepted POST, the next stale_reads reads show the state before it."""
    cluster.start_export(1, "admin", S3)
    clock.sleep(20.0)
    cluster.scenario.stale_reads = 2
    cluster.reset_export_status(1, "admin")
    assert [status(cluster)["export_status"] for _ in range(3)] == ["succeeded"] * 2 + ["idle"]
    cluster.start_export(1, "admin", S3)
    assert [status(cluster)["export_status"] for _ in range(3)] == ["idle", "idle", "exporting"]


def test_progress_as_a_string_carries_the_same_value(cluster: SimCluster, clock: FakeClock) -> None:
    """progress_as_string changes the JSON type only: "25" a quarter of the way, "100" at the end."""
    cluster.scenario.progress_as_string = True
    cluster.start_export(1, "admin", S3)
    clock.sleep(5.0)
    assert status(cluster, "export_progress") == {"export_progress": "25"}
    clock.sleep(15.0)
    assert status(cluster, "export_status", "export_progress") == {
        "export_status": "succeeded",
        "export_progress": "100",
    }


@pytest.mark.parametrize("action", ["export", "import"])
def test_a_foreign_action_uid_shows_after_the_first_read_and_the_action_still_succeeds(
    cluster: SimCluster, clock: FakeClock, action: str
) -> None:
    """With foreign_action_uid, the bdb's action_uid is the action's own on the first read,
    then the other uid while it runs (as RS's own SMCreateBDB), and the action succeeds."""
    cluster.scenario.foreign_action_uid = "SMUpdateBDB-7"
    cluster.scenario.import_seconds = 20.0
    source = {**S3["export_location"], "filename": "orders.rdb.gz"}
    start = cluster.start_export if action == "export" else cluster.start_import
    body = S3 if action == "export" else {"dataset_import_sources": [source]}
    assert start(1, "admin", body).status == 200
    own = cluster.databases[1].export if action == "export" else cluster.databases[1].load
    assert own is not None
    key = f"{action}_status"
    seen = [status(cluster, "action_uid")["action_uid"]]
    clock.sleep(10.0)
    seen += [status(cluster, "action_uid")["action_uid"] for _ in range(2)]
    assert seen == [own.action_uid, "SMUpdateBDB-7", "SMUpdateBDB-7"]
    clock.sleep(10.0)
    assert status(cluster, key, "action_uid") == {key: "succeeded"}


@pytest.mark.parametrize(
    ("text_field", "other"), [("description", "message"), ("message", "description")]
)
def test_error_text_comes_in_description_or_message(
    sim: Simulator, text_field: str, other: str
) -> None:
    """Newer clusters put the error text in description, older ones in message: never both."""
    sim.cluster.scenario.error_text_field = text_field
    answer = get(sim, "/v1/bdbs/99")
    assert answer.status_code == 404
    assert answer.json() == {"error_code": "db_not_exist", text_field: "database 99 does not exist"}
    assert other not in answer.json()


# Limits and timing ------------------------------------------------------------


def test_the_simulator_answers_409_beyond_its_export_limit(sim: Simulator) -> None:
    """Like max_simultaneous_backups: one export more than the limit is refused as busy."""
    sim.cluster.scenario.export_seconds = 30
    sim.cluster.scenario.max_concurrent_exports = 1
    sim.cluster.add_database(3, "third")
    assert sim.cluster.start_export(1, "admin", S3).status == 200
    assert sim.cluster.start_export(3, "admin", S3).status == 409


def test_the_simulated_export_time_grows_with_the_data_size() -> None:
    """export_bytes_per_second adds data_bytes / rate to each export's time."""
    clock = FakeClock()
    cluster = SimCluster(clock=clock.now)
    cluster.scenario.export_seconds = 1.0
    cluster.scenario.export_bytes_per_second = 1_000_000
    small, large = cluster.add_database(1, "small"), cluster.add_database(2, "large")
    small.data_bytes, large.data_bytes = 0, 3_000_000
    for uid in (1, 2):
        assert cluster.start_export(uid, "admin", S3).status == 200
    clock.sleep(2.0)
    statuses = [cluster.get_database(uid, ["export_status"]).body for uid in (1, 2)]
    assert statuses == [{"export_status": "succeeded"}, {"export_status": "exporting"}]
    clock.sleep(2.1)
    assert cluster.get_database(2, ["export_status"]).body == {"export_status": "succeeded"}
    cluster.close()


def test_answers_leave_without_waiting_for_an_ack(sim: Simulator) -> None:
    """The head and the body of an answer go out in two writes; with Nagle's algorithm
    on, the body waited for the client's delayed ACK (40 ms on Linux), which a real
    cluster does not add to every status read. The simulator's sockets turn it off."""
    with requests.Session() as session:
        session.get(f"{sim.url}/v1/bdbs/1", auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
        assert sim._server is not None
        [connection] = sim._server.connections  # kept alive for the session
        assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# What the documentation says, modelled (simulator/SOURCES.md) -----------------


def call(
    sim: Simulator, method: str, path: str, user: str = ADMIN, **kwargs: Any
) -> requests.Response:
    """One raw request, redirects not followed, as the helper sends them."""
    return requests.request(
        method,
        f"{sim.url}{path}",
        auth=(user, PASSWORD),
        verify=str(sim.ca_path),
        timeout=10,
        allow_redirects=False,
        **kwargs,
    )


def test_the_modules_list_has_one_row_per_version_and_a_database_names_its_version(
    sim: Simulator,
) -> None:
    """GET /v1/modules lists every version with its own uid; module_list[].module_id picks one,
    and an old version lacking backup_restore gets the 406 although a newer one has it."""
    old = sim.cluster.add_module("search", "2.6.29", ["types"])
    new = sim.cluster.add_module("search", "2.8.26", ["types", "backup_restore"])
    sim.cluster.add_database(3, "old-index", modules=[{"module_id": old.uid}])
    sim.cluster.add_database(4, "new-index", modules=[{"module_id": new.uid}])
    rows = [m for m in call(sim, "GET", "/v1/modules").json() if m["module_name"] == "search"]
    assert {
        (m["uid"], m["semantic_version"], "backup_restore" in m["capabilities"]) for m in rows
    } == {
        (old.uid, "2.6.29", False),
        (new.uid, "2.8.26", True),
    }
    listed = call(sim, "GET", "/v1/bdbs/3", params={"fields": "module_list"}).json()
    assert [(m["module_name"], m["module_id"]) for m in listed["module_list"]] == [
        ("search", old.uid)
    ]
    answers = [call(sim, "POST", f"/v1/bdbs/{uid}/actions/export", json=S3) for uid in (3, 4)]
    assert [a.status_code for a in answers] == [406, 200]
    assert answers[0].json()["error_code"] == "unsupported_module_capabilities"


@pytest.mark.parametrize("rbac", [False, True])
def test_users_carry_role_or_on_rbac_clusters_role_uids(sim: Simulator, rbac: bool) -> None:
    """GET /v1/users rows carry role, or role_uids instead of role on RBAC clusters."""
    sim.cluster.scenario.rbac = rbac
    rows = {row["email"]: row for row in call(sim, "GET", "/v1/users").json()}
    if rbac:
        assert "role" not in rows[ADMIN]
        assert rows[ADMIN]["role_uids"] == [1]
        assert rows[VIEWER]["role_uids"] == [5]  # db_viewer, as GET /v1/roles numbers it
    else:
        assert (rows[ADMIN]["role"], rows[VIEWER]["role"]) == ("admin", "db_viewer")
        assert "role_uids" not in rows[ADMIN]


@pytest.mark.parametrize("rbac", [False, True])
@pytest.mark.parametrize("role", sorted(ROLES))
def test_users_role_answers_the_signed_in_users_own_role(
    sim: Simulator, role: str, rbac: bool
) -> None:
    """GET /v1/users/role answers {"role": <own management role>} to any signed-in user
    (OpenAPI: cluster_get_user_role, no permission), RBAC or not."""
    sim.cluster.scenario.rbac = rbac
    sim.cluster.add_user(f"{role}@example.com", PASSWORD, role)
    answer = call(sim, "GET", "/v1/users/role", user=f"{role}@example.com")
    assert (answer.status_code, answer.json()) == (200, {"role": role})


READS = {  # path: the roles that may read it (permissions.md)
    "/v1/bdbs": ROLES - {"none"},  # view_bdb_info
    "/v1/bdbs/1": ROLES - {"none"},
    "/v1/bdbs/stats/last/1": ROLES - {"none"},  # view_bdb_stats
    "/v1/cluster": ROLES - {"none"},  # view_cluster_info
    "/v1/cluster/policy": ROLES - {"none"},
    "/v1/modules": ROLES - {"none"},  # view_cluster_modules
    "/v1/users": {"admin", "user_manager"},  # view_all_users_info
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_gets_what_the_permissions_table_grants(sim: Simulator, role: str) -> None:
    """Reads, export and reset answer 403 exactly to the roles permissions.md leaves out."""
    sim.cluster.add_user(f"{role}@example.com", PASSWORD, role)
    user = f"{role}@example.com"
    for path, allowed in READS.items():
        assert call(sim, "GET", path, user=user).status_code == (200 if role in allowed else 403)
    exporter = role in {"admin", "cluster_member", "db_member"}
    post = call(sim, "POST", "/v1/bdbs/1/actions/export", user=user, json=S3)
    assert post.status_code == (200 if exporter else 403)
    if exporter:
        time.sleep(0.5)  # the fixture's export takes 0.4 s; reset refuses a running one
    reset = call(sim, "PUT", "/v1/bdbs/1/actions/export_reset_status", user=user, json={})
    assert reset.status_code == (200 if exporter else 403)
    if not exporter:
        assert post.json()["description"] == "user lacks start_bdb_export"


def test_the_cluster_object_has_its_name_and_handle_redirects_and_honours_fields(
    sim: Simulator,
) -> None:
    """GET /v1/cluster answers name and handle_redirects; fields= selects as for bdbs."""
    sim.cluster.scenario.cluster_name, sim.cluster.scenario.handle_redirects = "c1.example", True
    whole = call(sim, "GET", "/v1/cluster").json()
    assert (whole["name"], whole["handle_redirects"]) == ("c1.example", True)
    assert len(whole) > 2
    selected = call(sim, "GET", "/v1/cluster", params={"fields": "handle_redirects"}).json()
    assert selected == {"handle_redirects": True}


def test_a_node_that_is_not_the_master_redirects_every_request_and_does_nothing(
    sim: Simulator, httpserver: HTTPServer
) -> None:
    """Not the master and no handle_redirects: every method gets a 307 to the master's
    internal address with the same path and query; nothing is done, and the target (here a
    stand-in server) receives nothing from a client that does not follow redirects."""
    master = httpserver.url_for("/").rstrip("/")
    sim.cluster.scenario.master_url = master
    answers = [
        call(sim, "GET", "/v1/bdbs/1?fields=export_status"),
        call(sim, "POST", "/v1/bdbs/1/actions/export", json=S3),
        call(sim, "PUT", "/v1/bdbs/1/actions/export_reset_status", json={}),
        call(sim, "GET", "/v1/users/role", user="nobody@example.com"),
    ]
    assert [a.status_code for a in answers] == [307] * 4
    assert answers[0].headers["Location"] == f"{master}/v1/bdbs/1?fields=export_status"
    assert answers[1].headers["Location"] == f"{master}/v1/bdbs/1/actions/export"
    client = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    with pytest.raises(ExportError):
        client.start_export(1, S3)
    client.close()
    assert sim.cluster.exports_started() == 0
    assert httpserver.log == []


def test_with_handle_redirects_a_node_that_is_not_the_master_answers_itself(
    sim: Simulator,
) -> None:
    """handle_redirects on: the node forwards internally, so the client sees no redirect."""
    sim.cluster.scenario.master_url = "https://10.0.0.2:9443"
    sim.cluster.scenario.handle_redirects = True
    assert call(sim, "GET", "/v1/bdbs/1").status_code == 200


def test_the_scripted_pre_start_statuses_come_before_exporting(sim: Simulator) -> None:
    """pre_start_statuses: after the POST, reads show those statuses in turn, then exporting."""
    sim.cluster.scenario.export_seconds = 30
    sim.cluster.scenario.pre_start_statuses = ["initializing", "queued", "queued"]
    assert call(sim, "POST", "/v1/bdbs/1/actions/export", json=S3).status_code == 200
    seen = [get(sim).json()["export_status"] for _ in range(4)]
    assert seen == ["initializing", "queued", "queued", "exporting"]


@pytest.mark.parametrize(("switch", "shown"), [("NaN", "NaN"), ("null", None), ("junk", "junk")])
def test_non_numeric_progress_is_shown_as_scripted(sim: Simulator, switch: Any, shown: Any) -> None:
    """non_numeric_progress: export_progress is the string "NaN", JSON null, or "junk"."""
    sim.cluster.scenario.non_numeric_progress = switch
    call(sim, "POST", "/v1/bdbs/1/actions/export", json=S3)
    raw = get(sim, "/v1/bdbs/1?fields=export_progress")
    assert raw.json() == {"export_progress": shown}
    assert ("null" if shown is None else f'"{shown}"') in raw.text


@pytest.mark.parametrize("action_uid", [True, False])
def test_the_post_answers_status_only_and_action_uid_can_be_absent_everywhere(
    sim: Simulator, action_uid: bool
) -> None:
    """The 200 to the POST has no body (RS documents a status code only); action_uid on the
    bdb while exporting is a switch, and off there is none anywhere."""
    sim.cluster.scenario.export_seconds = 30
    sim.cluster.scenario.action_uid = action_uid
    post = call(sim, "POST", "/v1/bdbs/1/actions/export", json=S3)
    assert (post.status_code, post.content) == (200, b"")
    data = get(sim).json()
    assert data["export_status"] == "exporting"
    assert ("action_uid" in data) is action_uid
    assert ("action_uid" in get(sim, "/v1/bdbs").text) is action_uid


def test_a_503_before_the_work_starts_nothing(sim: Simulator) -> None:
    """Fault "503": the POST is refused before any work; no export runs."""
    sim.cluster.scenario.faults = {"POST": ["503"]}
    assert call(sim, "POST", "/v1/bdbs/1/actions/export", json=S3).status_code == 503
    assert sim.cluster.exports_started() == 0
    assert get(sim).json()["export_status"] == ""


def test_a_503_after_the_work_leaves_the_export_running(sim: Simulator) -> None:
    """Fault "503-started": the export starts, then the answer is a 503 all the same."""
    sim.cluster.scenario.export_seconds = 30
    sim.cluster.scenario.faults = {"POST": ["503-started"]}
    answer = call(sim, "POST", "/v1/bdbs/1/actions/export", json=S3)
    assert (answer.status_code, answer.json()["error_code"]) == (503, "node_unavailable")
    assert sim.cluster.exports_started(1) == 1
    assert get(sim).json()["export_status"] == "exporting"


# Database statistics: GET /v1/bdbs/stats/last/{uid} (stats/last.md) -----------

ISO_SECOND = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def stats(
    sim: Simulator, uid: int = 3, user: str = ADMIN, params: dict[str, str] | None = None
) -> requests.Response:
    return call(sim, "GET", f"/v1/bdbs/stats/last/{uid}", user=user, params=params)


def test_stats_count_the_databases_real_keys_as_a_float(sim: Simulator) -> None:
    """no_of_keys is the DBSIZE of the database's redis-server, sent as a float under the
    uid as a string, with stime and etime in ISO 8601; the request is logged."""
    sim.cluster.scenario.stats_interval_seconds = 0  # every read samples
    redis = sim.add_database(3, "drill")
    assert stats(sim).json()["3"]["no_of_keys"] == 0.0
    redis.client.mset({f"k{i}": "v" for i in range(7)})
    answer = stats(sim).json()
    assert list(answer) == ["3"]
    sample = answer["3"]
    assert sample["no_of_keys"] == 7.0
    assert type(sample["no_of_keys"]) is float
    assert re.fullmatch(ISO_SECOND, sample["stime"])
    assert re.fullmatch(ISO_SECOND, sample["etime"])
    assert sample["stime"] <= sample["etime"]
    logged = sim.cluster.log[-1]
    assert (logged.method, logged.path, logged.query, logged.user, logged.status) == (
        "GET", "/v1/bdbs/stats/last/3", "", ADMIN, 200
    )  # fmt: skip


def test_stats_show_the_last_sample_until_the_interval_passes(sim: Simulator) -> None:
    """Sampled, as RS's statistics are: after a change, reads show the old count until
    stats_interval_seconds have passed since the last sample; the next covers the time since."""
    clock = FakeClock()
    sim.cluster.clock = clock.now
    sim.cluster.scenario.stats_interval_seconds = 1.0
    redis = sim.add_database(3, "drill")
    first = stats(sim).json()["3"]
    redis.client.mset({"a": "1", "b": "2", "c": "3"})
    assert stats(sim).json()["3"] == first  # the same sample, the old count
    clock.sleep(0.5)
    assert stats(sim).json()["3"] == first
    clock.sleep(0.5)
    fresh = stats(sim).json()["3"]
    assert (first["no_of_keys"], fresh["no_of_keys"]) == (0.0, 3.0)
    assert fresh["stime"] == first["etime"]


def test_a_database_without_a_redis_server_counts_its_keys_attribute(
    cluster: SimCluster, clock: FakeClock
) -> None:
    """Without a redis-server, no_of_keys is Database.keys: 0 unless a test sets it."""
    assert cluster.last_stats(1, "admin", ["no_of_keys"]).body["1"]["no_of_keys"] == 0.0
    cluster.databases[1].keys = 12
    clock.sleep(1.0)
    assert cluster.last_stats(1, "admin", ["no_of_keys"]).body["1"]["no_of_keys"] == 12.0


@pytest.mark.parametrize(
    ("metrics", "shown"),
    [
        (None, {"no_of_keys", "used_memory"}),
        ("no_of_keys", {"no_of_keys"}),
        ("no_of_keys,used_memory", {"no_of_keys", "used_memory"}),
        ("used_memory", {"used_memory"}),
        ("not_a_metric", set()),
    ],
)
def test_stats_honour_the_metrics_filter(
    sim: Simulator, metrics: str | None, shown: set[str]
) -> None:
    """metrics=a,b answers only those metrics, always with stime and etime; no filter: all.
    An unknown name is left out (ours: RS documents no answer for it)."""
    sim.add_database(3, "drill")
    params = {} if metrics is None else {"metrics": metrics}
    sample = stats(sim, params=params).json()["3"]
    assert set(sample) == shown | {"stime", "etime"}
    if "used_memory" in shown:
        assert sample["used_memory"] > 0  # the redis-server's own figure


def test_stats_refuse_role_none_with_403(sim: Simulator) -> None:
    """view_bdb_stats belongs to every role but none (permissions.md)."""
    sim.cluster.add_user("none@example.com", PASSWORD, "none")
    answer = stats(sim, uid=1, user="none@example.com")
    assert (answer.status_code, answer.json()) == (
        403, {"error_code": "insufficient_permissions", "description": "user lacks view_bdb_stats"}
    )  # fmt: skip
    assert stats(sim, uid=1, user=VIEWER).status_code == 200  # db_viewer has it


def test_stats_of_an_unknown_database_are_404(sim: Simulator) -> None:
    """ "bdb does not exist": 404 with the usual error body."""
    answer = stats(sim, uid=99)
    assert (answer.status_code, answer.json()) == (
        404, {"error_code": "db_not_exist", "description": "database 99 does not exist"}
    )  # fmt: skip
