"""The live conformance suite: what a real cluster answers, checked and recorded.

Tests marked ``live`` run only when asked for by ``-m live`` (``./dev test-live``; without
a URL it starts the project's simulator): plain ``pytest`` skips them even with the
variables set (tests/conftest.py), and ``-m live`` skips them without the variables. They
only read, except one real export of the scratch database (its status reset first) when
REDIS_EXPORT_LIVE_EXPORT=1. Every answer they read is written, secrets redacted and every
email and database name pseudonymized, as a JSON fixture into REDIS_EXPORT_LIVE_RECORD
(default: a pytest temporary folder). The
unmarked tests below replay the committed fixtures (tests/fixtures/live/) through
RsClient, so an answer once seen from a real cluster stays a regression test.

Variables: REDIS_EXPORT_LIVE_URL (https://host:9443), _USER, _PASSWORD, _CA (a CA file;
unset: the system's trust), _DB (the scratch database's name), _MOUNT (a mount_point path
on every node, for the export), _EXPORT=1 (allow the export), _RECORD (fixture folder),
_ORIGIN (the label written into fixtures; default "live cluster").
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import REPO
from redis_enterprise_export.rs.client import EXPORT_FIELDS, RsClient

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

FIXTURES = REPO / "tests" / "fixtures" / "live"
ENV = "REDIS_EXPORT_LIVE_"
REQUIRED = ("URL", "USER", "PASSWORD", "DB")
# Keys whose values are secrets wherever they sit in an answer (cf. backup_location.md).
SECRET_KEY = re.compile(r"pass|key|secret|token|credential", re.IGNORECASE)
REDACTED = "<redacted>"
ROLES = {
    "none",
    "db_viewer",
    "cluster_viewer",
    "db_member",
    "cluster_member",
    "user_manager",
    "admin",
}
DOCUMENTED_STATUSES = {"", "idle", "exporting", "succeeded", "failed"}


# Redaction and recording -----------------------------------------------------


def redact(value: Any, secrets: tuple[str, ...] = (), *, under_secret: bool = False) -> Any:
    """``value`` with every string under a secret-named key replaced, credentials taken out
    of URLs, and any of ``secrets`` blanked wherever it appears. Empty strings stay empty:
    they show the shape and hide nothing."""
    if isinstance(value, dict):
        return {
            k: redact(v, secrets, under_secret=under_secret or bool(SECRET_KEY.search(str(k))))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets, under_secret=under_secret) for v in value]
    if not isinstance(value, str) or value == "":
        return value
    if under_secret:
        return REDACTED
    for secret in secrets:
        if secret:
            value = value.replace(secret, REDACTED)
    return re.sub(r"(\w[\w+.-]*://)[^/@\s]*@", r"\1" + REDACTED + "@", value)


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PSEUDONYM_DOMAIN = "@example.invalid"


class Pseudonyms:
    """Stable stand-ins for what names people and databases in recorded answers: each
    email becomes ``user-N@example.invalid``, each user's name ``user-N`` and each
    database name ``database-N``, the same original always the same stand-in."""

    def __init__(self) -> None:
        self.emails: dict[str, str] = {}
        self.names: dict[str, dict[str, str]] = {"database": {}, "user": {}}

    def answer(self, path: str, body: Any) -> Any:
        """``body``, answered to ``path``, with the names its rows carry (under "name", in
        the databases' and the users' answers) and every email replaced, wherever they
        appear as a whole string (or, for emails, inside one)."""
        kind = "database" if path.startswith("/v1/bdbs") else "user"
        if path.startswith("/v1/bdbs") or path == "/v1/users":
            for row in body if isinstance(body, list) else [body]:
                if isinstance(row, dict) and isinstance(row.get("name"), str) and row["name"]:
                    self._stand_in(kind, row["name"])
        return self._replaced(body)

    def _stand_in(self, kind: str, name: str) -> str:
        names = self.names[kind]
        return names.setdefault(name, f"{kind}-{len(names) + 1}")

    def _email(self, email: str) -> str:
        return self.emails.setdefault(email, f"user-{len(self.emails) + 1}{PSEUDONYM_DOMAIN}")

    def _replaced(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._replaced(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._replaced(v) for v in value]
        if not isinstance(value, str):
            return value
        for names in self.names.values():
            if value in names:
                return names[value]
        return EMAIL.sub(lambda m: self._email(m.group()), value)


@dataclass
class Answer:
    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "body": self.body,
        }


def write_fixture(folder: Path, name: str, origin: str, answers: list[Answer]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    document = {
        "origin": origin,
        "recorded": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "answers": [a.as_json() for a in answers],
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


# The live cluster --------------------------------------------------------------


@dataclass
class Live:
    client: RsClient
    uid: int  # the scratch database's
    record: Path
    origin: str
    password: str
    pseudonyms: Pseudonyms = field(default_factory=Pseudonyms)

    def read(
        self, name: str, path: str, fields: str = "", permission: str = "view_bdb_info"
    ) -> Any:
        """GET ``path`` through the client's transport; record the answer as ``name``."""
        query = {"fields": fields} if fields else {}
        body = self.client._get(path, query or None, permission=permission)
        self.save(name, [Answer("GET", path, query, 200, body)])
        return body

    def save(self, name: str, answers: list[Answer]) -> None:
        for answer in answers:
            # Redacted first: a URL's user@host is gone before emails are looked for.
            answer.body = self.pseudonyms.answer(answer.path, redact(answer.body, (self.password,)))
        write_fixture(self.record, name, self.origin, answers)


def env(name: str) -> str:
    return os.environ.get(ENV + name, "")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The cluster the REDIS_EXPORT_LIVE_* variables name; skips the test without them."""
    missing = [ENV + n for n in REQUIRED if not env(n)]
    if missing:
        pytest.skip(f"live suite: set {', '.join(missing)} (./dev test-live runs the simulator)")
    client = RsClient(
        env("URL").rstrip("/"), auth=(env("USER"), env("PASSWORD")), verify=env("CA") or True
    )
    record = Path(env("RECORD")) if env("RECORD") else tmp_path_factory.mktemp("live-answers")
    yield Live(
        client,
        client.find_database(env("DB")),
        record,
        env("ORIGIN") or "live cluster",
        env("PASSWORD"),
    )
    client.close()


def is_progress(value: Any) -> bool:
    """A number 0..100, or a string of one (the actions API sends strings)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool) and math.isfinite(number) and 0 <= number <= 100


@pytest.mark.live
def test_live_export_fields_have_the_documented_types_and_fields_is_honoured(live: Live) -> None:
    """GET /v1/bdbs/{uid}?fields=… answers those fields only: a known export_status, a
    progress 0..100, text failure reason; last_export_time absent or text."""
    data = live.read("bdb_export_fields", f"/v1/bdbs/{live.uid}", EXPORT_FIELDS)
    assert set(data) <= set(EXPORT_FIELDS.split(",")), "fields= was not honoured"
    assert data["export_status"] in DOCUMENTED_STATUSES
    assert is_progress(data["export_progress"]), data["export_progress"]
    assert isinstance(data["export_failure_reason"], str)
    assert isinstance(data.get("last_export_time", ""), str)


@pytest.mark.live
def test_live_the_databases_list_honours_fields(live: Live) -> None:
    """GET /v1/bdbs?fields=uid,name answers a list of objects with those two fields only."""
    rows = live.read("bdbs_uid_name", "/v1/bdbs", "uid,name")
    assert rows
    assert all(set(row) <= {"uid", "name"} and isinstance(row["uid"], int) for row in rows)


@pytest.mark.live
def test_live_users_role_answers_the_own_management_role(live: Live) -> None:
    """GET /v1/users/role answers {"role": <one of the seven management roles>}."""
    data = live.read("users_role", "/v1/users/role", permission="none")
    assert set(data) >= {"role"}
    assert data["role"] in ROLES


@pytest.mark.live
def test_live_modules_list_one_row_per_version_and_the_database_names_its_own(
    live: Live,
) -> None:
    """GET /v1/modules rows have a unique uid, module_name, semantic_version and a list of
    capabilities; every module_id in the scratch database's module_list is one of them."""
    rows = live.read("modules", "/v1/modules", permission="view_cluster_modules")
    assert isinstance(rows, list)
    for row in rows:
        assert isinstance(row["uid"], str)
        assert isinstance(row["module_name"], str)
        assert isinstance(row["semantic_version"], str)
        assert all(isinstance(c, str) for c in row["capabilities"])
    uids = [row["uid"] for row in rows]
    assert len(uids) == len(set(uids))
    loaded = live.read("bdb_module_list", f"/v1/bdbs/{live.uid}", "uid,module_list")
    assert {m["module_id"] for m in loaded.get("module_list", []) if "module_id" in m} <= set(uids)


@pytest.mark.live
def test_live_cluster_says_whether_it_handles_redirects(live: Live) -> None:
    """GET /v1/cluster has a text name and a boolean handle_redirects (absent: false)."""
    data = live.read("cluster", "/v1/cluster", "name,handle_redirects", "view_cluster_info")
    assert isinstance(data["name"], str)
    assert isinstance(data.get("handle_redirects", False), bool)


@pytest.mark.live
def test_live_policy_gives_max_simultaneous_backups_as_a_number(live: Live) -> None:
    """GET /v1/cluster/policy: max_simultaneous_backups, if present, is a positive integer."""
    data = live.read("cluster_policy", "/v1/cluster/policy", permission="view_cluster_info")
    limit = data.get("max_simultaneous_backups", 1)
    assert isinstance(limit, int)
    assert limit > 0


@pytest.mark.live
def test_live_users_rows_carry_role_or_role_uids(live: Live) -> None:
    """GET /v1/users (admin and user_manager only): each row has an email and a role, or
    role_uids on RBAC clusters; other roles are refused, which is not checked here."""
    own = live.client.own_role()
    if own not in {"admin", "user_manager"}:
        pytest.skip(f"the live user is {own}; reading users needs admin or user_manager")
    rows = live.read("users", "/v1/users", permission="view_all_users_info")
    for row in rows:
        assert isinstance(row["email"], str)
        assert isinstance(row.get("role"), str) or isinstance(row.get("role_uids"), list)


@pytest.mark.live
def test_live_statistics_give_the_key_count_a_drill_compares(live: Live) -> None:
    """GET /v1/bdbs/stats/last/{uid}?metrics=no_of_keys answers the sample under the uid
    as text: no_of_keys a whole number >= 0, stime and etime ISO 8601 with stime <= etime
    (what a restore drill's count and its freshness rule read)."""
    path = f"/v1/bdbs/stats/last/{live.uid}"
    query = {"metrics": "no_of_keys"}
    body = live.client._get(path, query, permission="view_bdb_stats")
    live.save("bdb_stats_last", [Answer("GET", path, query, 200, body)])
    sample = body[str(live.uid)]
    keys = sample["no_of_keys"]
    assert isinstance(keys, int | float), keys
    assert not isinstance(keys, bool)
    assert keys >= 0, keys
    assert float(keys).is_integer(), keys
    start, end = (
        datetime.fromisoformat(sample[k].replace("Z", "+00:00")) for k in ("stime", "etime")
    )
    assert start <= end


@pytest.mark.live
def test_live_one_export_of_the_scratch_database_succeeds_and_is_recorded(live: Live) -> None:
    """With REDIS_EXPORT_LIVE_EXPORT=1: after a status reset (so an earlier export's
    outcome cannot pass for this one), a POST to a mount_point answers 2xx, the statuses
    read after it end in succeeded with progress 100 and a last_export_time that moved;
    every distinct answer on the way is recorded."""
    if env("EXPORT") != "1" or not env("MOUNT"):
        pytest.skip("a real export needs REDIS_EXPORT_LIVE_EXPORT=1 and REDIS_EXPORT_LIVE_MOUNT")
    path = f"/v1/bdbs/{live.uid}"
    before = live.client._get(path, {"fields": EXPORT_FIELDS})
    if before["export_status"] == "exporting":
        pytest.skip("the scratch database is exporting already")
    answers = [Answer("GET", path, {"fields": EXPORT_FIELDS}, 200, before)]
    data = before
    if before["export_status"] in {"succeeded", "failed"}:
        live.client.reset_export_status(live.uid)
        answers.append(Answer("PUT", f"{path}/actions/export_reset_status", {}, 200, None))
        data = live.client._get(path, {"fields": EXPORT_FIELDS})
        assert data["export_status"] not in {"succeeded", "failed"}, data
        answers.append(Answer("GET", path, {"fields": EXPORT_FIELDS}, 200, data))
    body = {"export_location": {"type": "mount_point", "path": env("MOUNT")}}
    action_uid = live.client.start_export(live.uid, body)
    # The POST's 2xx: its body's action_uid if it had one (RsClient keeps no more of it).
    posted = None if action_uid is None else {"action_uid": action_uid}
    answers.append(Answer("POST", f"{path}/actions/export", {}, 200, posted))
    until = time.monotonic() + float(env("TIMEOUT") or 600)
    while time.monotonic() < until:
        time.sleep(0.5)
        data = live.client._get(path, {"fields": EXPORT_FIELDS})
        if data != answers[-1].body:
            answers.append(Answer("GET", path, {"fields": EXPORT_FIELDS}, 200, data))
        if data["export_status"] in {"succeeded", "failed"}:
            break
    live.save("export_sequence", answers)
    assert data["export_status"] == "succeeded", data
    assert float(data["export_progress"]) == 100
    assert isinstance(data["last_export_time"], str)
    assert data["last_export_time"] != before.get("last_export_time", ""), "a stale status"


# Replaying what was recorded ---------------------------------------------------


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.rglob("*.json"))


def test_there_are_fixtures_of_each_origin() -> None:
    """The committed fixtures hold the simulator's answers and the fact sheet's real shapes."""
    origins = {json.loads(p.read_text())["origin"].split(":")[0] for p in fixture_files()}
    assert {"simulator", "real cluster via the fact sheet"} <= origins


@pytest.mark.parametrize("fixture", fixture_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_recorded_answer_reads_through_the_client_as_recorded(
    fixture: Path, httpserver: HTTPServer
) -> None:
    """Each recorded answer, served back, is read by RsClient to the same values: export
    fields to the same state, lists and objects to the same data."""
    for answer in json.loads(fixture.read_text())["answers"]:
        httpserver.clear()
        body, path = answer["body"], answer["path"]
        expected = httpserver.expect_request(
            path, method=answer["method"], query_string=answer["query"] or None
        )
        if body is None:  # a status-only answer, as RS documents the export POST's
            expected.respond_with_data(b"", status=answer["status"])
        else:
            expected.respond_with_json(body, status=answer["status"])
        client = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", "p"), retry=None)
        try:
            replay(client, answer)
        finally:
            client.close()


def replay(client: RsClient, answer: dict[str, Any]) -> None:
    body, path = answer["body"], answer["path"]
    if answer["method"] == "POST":
        expected = body.get("action_uid") if isinstance(body, dict) else None
        assert client.start_export(int(path.split("/")[3]), {}) == expected
    elif answer["method"] == "PUT":  # a status reset: its 2xx is the whole answer
        client.reset_export_status(int(path.split("/")[3]))
    elif re.fullmatch(r"/v1/bdbs/\d+", path) and "export_status" in body:
        state = client.export_state(int(path.split("/")[3]))
        assert state.export_status == body["export_status"]
        assert state.export_progress == float(body["export_progress"])
        assert state.last_export_time == body.get("last_export_time", "")
    elif path == "/v1/bdbs":
        assert client.databases(answer["query"].get("fields", "")) == body
    elif path == "/v1/modules":
        assert client.modules() == body
    elif path == "/v1/users/role":
        assert client.own_role() == body["role"]
    elif path == "/v1/cluster":
        assert client.cluster_settings(answer["query"].get("fields", "")) == body
    elif path == "/v1/users":
        assert client.users() == body
    elif path == "/v1/cluster/policy":
        assert client.cluster_policy() == body
    else:  # no client method reads it yet: the transport's reading
        assert client._get(path, answer["query"] or None, permission="none") == body


# Redaction ---------------------------------------------------------------------

SECRET_TEXT = st.text(min_size=1, max_size=12)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.text("ab xy", max_size=8))


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


@given(
    secret=SECRET_TEXT,
    key=st.sampled_from(
        [
            "password",
            "smtp_password",
            "secret_access_key",
            "sas_token",
            "private_key",
            "authentication_redis_pass",
            "Credentials",
        ]
    ),
    shape=st.sampled_from(["flat", "nested", "listed"]),
    noise=st.dictionaries(st.sampled_from(["name", "uid", "status"]), JSON_LEAF, max_size=3),
)
def test_redaction_leaves_no_string_under_a_secret_key(
    secret: str, key: str, shape: str, noise: dict[str, Any]
) -> None:
    """Whatever sits under a *pass*/*key*/*secret*/*token* key, at any depth, is not written."""
    leaf = {"flat": secret, "nested": {"inner": secret}, "listed": [secret, {"x": secret}]}[shape]
    answer = {**noise, "location": {key: leaf}}
    redacted = redact(answer)
    assert set(strings(redacted["location"])) == {REDACTED}
    assert {k: redacted[k] for k in noise} == noise


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ftp://user:pw@host/dir/", "ftp://<redacted>@host/dir/"),
        ("see sftp://me@host:22/x and more", "see sftp://<redacted>@host:22/x and more"),
        ("https://host:9443/v1/bdbs", "https://host:9443/v1/bdbs"),
    ],
)
def test_redaction_takes_credentials_out_of_urls(text: str, shown: str) -> None:
    """A URL's user and password, anywhere in a text, become <redacted>; the rest stays."""
    assert redact({"url": text}) == {"url": shown}


def test_redaction_blanks_the_live_password_anywhere() -> None:
    """The live user's password is blanked even under an innocent key."""
    assert redact({"note": "pw is Hunter-2!"}, ("Hunter-2!",)) == {"note": "pw is <redacted>"}


def test_the_committed_fixtures_hold_no_secret() -> None:
    """No committed fixture has a non-empty value under a secret-named key, or a URL with a
    user in it: redaction ran on every one."""
    for path in fixture_files():
        document = json.loads(path.read_text())
        assert redact(document["answers"]) == document["answers"], path.name


# Pseudonyms ---------------------------------------------------------------------

NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
LOCAL_PART = st.text("abcxyz0189._+-", min_size=1, max_size=10)


@given(names=st.lists(NAMES, min_size=1, max_size=5, unique=True), locals_=st.lists(
    LOCAL_PART, min_size=1, max_size=4, unique=True))  # fmt: skip
def test_pseudonyms_replace_every_database_name_and_email_stably(
    names: list[str], locals_: list[str]
) -> None:
    """Every database name and email, in the answers that carry them and wherever else
    they appear whole, becomes a stand-in: the same original always the same one, two
    originals never one; nothing of an email is left."""
    emails = [f"{local}@corp.example.com" for local in locals_]
    pseudonyms = Pseudonyms()
    rows = [{"uid": i, "name": name} for i, name in enumerate(names, 1)]
    listed = pseudonyms.answer("/v1/bdbs", rows)
    again = pseudonyms.answer("/v1/bdbs/1", {"name": names[0], "note": f"by {emails[0]}"})
    users = pseudonyms.answer("/v1/users", [{"email": e, "name": f"U {e}"} for e in emails])
    stand_ins = [row["name"] for row in listed]
    assert stand_ins == [f"database-{i}" for i in range(1, len(names) + 1)]
    assert again == {"name": "database-1", "note": "by user-1@example.invalid"}
    assert [u["email"] for u in users] == [
        f"user-{i}@example.invalid" for i in range(1, len(emails) + 1)
    ]
    assert not {json.dumps(v) for v in (users, again)} & {json.dumps(e) for e in emails}
    assert all(e not in json.dumps(users) for e in emails)


def test_the_committed_fixtures_hold_no_email_and_no_database_name() -> None:
    """Every committed fixture was pseudonymized: each email is user-N@example.invalid and
    each database name in the databases' answers is database-N."""
    for path in fixture_files():
        text = path.read_text()
        assert all(e.endswith(PSEUDONYM_DOMAIN) for e in EMAIL.findall(text)), path.name
        for answer in json.loads(text)["answers"]:
            if answer["path"].startswith("/v1/bdbs"):
                body = answer["body"]
                for row in body if isinstance(body, list) else [body]:
                    if isinstance(row, dict) and "name" in row:
                        assert re.fullmatch(r"database-\d+", row["name"]), path.name


# docs/unconfirmed.md says what the suite checks --------------------------------


def live_test_sources() -> dict[str, str]:
    source = Path(__file__).read_text()
    return {
        node.name: ast.get_source_segment(source, node) or ""
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
        and any("mark.live" in ast.unparse(d) for d in node.decorator_list)
    }


def test_the_readme_lists_exactly_the_requests_the_live_suite_makes() -> None:
    """The "What is not confirmed" page's table names every GET the live tests make, and
    no other; and the one POST, behind REDIS_EXPORT_LIVE_EXPORT=1."""
    readme = (REPO / "docs" / "unconfirmed.md").read_text()
    listed = set(re.findall(r"`GET (/v1/[^`?]*)", readme))
    code = "\n".join(live_test_sources().values()).replace("{live.uid}", "{uid}")
    made = set(re.findall(r'"(/v1/[^"?]*)"', code))
    assert listed == made
    assert "`POST /v1/bdbs/{uid}/actions/export`" in readme
    assert "REDIS_EXPORT_LIVE_EXPORT=1" in readme
    assert set(re.findall(r"REDIS_EXPORT_LIVE_[A-Z]+", readme)) <= {
        ENV + name for name in ("URL", "USER", "PASSWORD", "CA", "DB", "MOUNT", "EXPORT", "RECORD")
    }
