"""The RS REST API client: one session, a timeout on every call, retries set here only.

It never follows a redirect. Whatever the server or the network does, a call
returns a checked value or raises one of the package's errors: one line, with
no password or location secret in it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import parse_url
from urllib3.util.retry import Retry

from redis_enterprise_export._version import __version__
from redis_enterprise_export.errors import (
    HIDDEN,
    ApiError,
    ClusterBusyError,
    ConfigError,
    ExportError,
    LocalSetupError,
    ProtocolError,
    RedirectError,
    ServerError,
    TlsError,
    TransportError,
)
from redis_enterprise_export.redact import clipped, scrub, url_shown
from redis_enterprise_export.rs.transport import WATCHDOG, Adapter, TrustStoreAdapter, Watchdog

CONNECT_TIMEOUT_SECONDS = 5.0
# A status read is a few hundred bytes, the database list at most a few hundred
# KB; an answer far larger is not the RS API, and is not read into memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024

EXPORT_FIELDS = (
    "uid,name,status,export_status,export_progress,export_failure_reason,last_export_time,"
    "action_uid"
)
# crdt: an Active-Active database, where an import merges instead of replacing.
IMPORT_FIELDS = (
    "uid,name,status,crdt,import_status,import_progress,import_failure_reason,action_uid"
)
# Safe to send twice: reading state, and the status reset (a no-op the second time).
IDEMPOTENT_METHODS = frozenset({"GET", "PUT"})
TRANSIENT_STATUSES = (
    500,  # RS: an internal error while a node is busy (a failover, a restart); reads may repeat
    502,  # a proxy in front of the cluster lost its upstream for a moment
    503,  # RS: node not responding or not yet a cluster member; transient
    504,  # a proxy gave up waiting; the next try usually lands
)
# The CA bundle variables requests itself reads, in its order.
CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def transport_retry() -> Retry:
    """The one place transport retries are configured.

    Connect errors are retried for every method: the request never left. Read
    errors and status retries apply only to GET and PUT (reading state and the
    idempotent status reset). A POST that may have reached the cluster is never
    retried blindly: the export job decides, because it might have started an
    export.
    """
    return Retry(
        # Few and quick: the export job rides out longer outages itself, within
        # its deadline, which these per-request retries cannot see.
        total=4,
        connect=2,
        read=2,
        status=3,
        other=0,  # a TLS verification failure will fail the same way again
        redirect=0,  # never followed (allow_redirects=False); a 3xx is an error
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=TRANSIENT_STATUSES,
        backoff_factor=0.5,
        backoff_max=8.0,
        respect_retry_after_header=True,
        # A server asking for an hour must not hold the helper past its deadline.
        retry_after_max=8,
        raise_on_status=False,
    )


class _Phases:
    """What job.ActionJob reads of a state, whatever the action: its
    ``<action>_status``, ``_progress`` and ``_failure_reason``."""

    action: ClassVar[str]

    @property
    def phase(self) -> str:
        return str(getattr(self, f"{self.action}_status"))

    @property
    def percent(self) -> float | None:
        progress: float | None = getattr(self, f"{self.action}_progress")
        return progress

    @property
    def reason(self) -> str:
        return str(getattr(self, f"{self.action}_failure_reason"))


@dataclass(frozen=True)
class ExportState(_Phases):
    """The export fields of a database, checked: text where text is due, and
    progress a finite percentage, or None when the cluster's value is not one."""

    action: ClassVar[str] = "export"
    uid: int
    name: str
    export_status: str
    # Advisory: it only paces polling. None when absent or not a finite number.
    export_progress: float | None
    export_failure_reason: str
    last_export_time: str
    # The action the database runs now (a documented bdb field); "" when none is shown.
    action_uid: str = ""

    @classmethod
    def parse(cls, data: Any, path: str) -> ExportState:
        return cls(
            **_action_fields(data, path, cls.action),
            last_export_time=_as_text(data.get("last_export_time"), "last_export_time", path),
        )


@dataclass(frozen=True)
class ImportState(_Phases):
    """The import fields of a database, checked as ``ExportState``'s, with its bdb
    ``status`` (``import-pending`` while importing) and ``crdt`` (Active-Active)."""

    action: ClassVar[str] = "import"
    uid: int
    name: str
    import_status: str
    import_progress: float | None  # advisory, as export_progress
    import_failure_reason: str
    status: str = ""
    crdt: bool = False
    action_uid: str = ""

    @classmethod
    def parse(cls, data: Any, path: str) -> ImportState:
        fields = _action_fields(data, path, cls.action)  # checks that it is an object
        crdt = data.get("crdt", False)
        if not isinstance(crdt, bool):
            # Read wrong, an Active-Active database would be restored into.
            raise ProtocolError(f"GET {path}: crdt {_shown(crdt)} is not true or false")
        return cls(
            **fields,
            status=clipped(_as_text(data.get("status"), "status", path), 60),
            crdt=crdt,
        )


State = TypeVar("State", ExportState, ImportState)


@dataclass(frozen=True)
class KeyCount:
    """A database's key count from the cluster's latest statistics sample.

    RS samples statistics: the count is the one of the interval [stime, etime], so
    right after a change (an import) it can still be the old one.
    """

    # None when no_of_keys is absent or not a whole number from 0 to 2**53 (see
    # as_count): the caller decides what an unknown count means, nothing is guessed.
    keys: int | None
    stime: str  # the sample's start and end as sent (ISO 8601); "" when absent or not text
    etime: str


# Integers up to here are exact as floats; RS sends the count as a float.
MAX_EXACT_COUNT = 2**53
# A JSON number inside a string: no spaces, no "1_0", no "nan" (float() takes all three).
_NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _action_fields(data: Any, path: str, action: str) -> dict[str, Any]:
    """The fields every action shows on a database: uid, name, action_uid and the
    ``<action>_status``, ``_progress`` and ``_failure_reason``, checked."""
    if not isinstance(data, dict):
        raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a database object")
    status, reason = f"{action}_status", f"{action}_failure_reason"
    return {
        "uid": _as_uid(data.get("uid"), "uid", path),
        "name": _as_text(data.get("name"), "name", path),
        # Bounded and on one line: an unknown value is shown in messages.
        status: clipped(_as_text(data.get(status), status, path), 60),
        f"{action}_progress": as_progress(data.get(f"{action}_progress")),
        reason: _as_text(data.get(reason), reason, path),
        "action_uid": _as_action(data.get("action_uid"), path),
    }


def _as_action(value: Any, path: str) -> str:
    # Documented as a string; an integer uid is read as its digits.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return clipped(_as_text(value, "action_uid", path), 80)


def _as_text(value: Any, key: str, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProtocolError(f"GET {path}: {key} {_shown(value)} is not a string")
    return value


def _as_uid(value: Any, key: str, path: str) -> int:
    # RS sends uids as JSON integers; a string of digits is read too. Never a
    # bool (True == 1), a float, "1_0" or " 1": int() would take those.
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        value = int(value)
    if type(value) is not int or value <= 0:
        raise ProtocolError(f"GET {path}: {key} {_shown(value)} is not a database uid")
    return value


def as_progress(value: Any) -> float | None:
    """Percent from a number or a string ("100"), clamped to 0..100; None for
    anything else ("NaN", null, junk): progress only paces polling, so a bad one
    is ignored rather than ending a healthy export."""
    progress = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        # OverflowError: an int beyond a float's range.
        with contextlib.suppress(ValueError, OverflowError):
            progress = float(value)
    if not math.isfinite(progress):
        return None
    return min(max(progress, 0.0), 100.0)


def as_count(value: Any) -> int | None:
    """A key count from a number, or a number sent as a string ("12"); None unless it
    is a whole number from 0 to MAX_EXACT_COUNT.

    RS documents no_of_keys as a float. A string holding a JSON number is read as
    that number, because RS sends other numbers (progress) as strings, and "12"
    means nothing else; any other string ("NaN", "12 keys", "1_0") is None, as are
    NaN and ±Infinity, 12.5, -1 and booleans.
    """
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        value = float(value)  # "1e999" is inf: refused below
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():  # also NaN and ±inf
        return None
    return int(value) if 0 <= value <= MAX_EXACT_COUNT else None


class _Utf8BasicAuth(requests.auth.AuthBase):
    """HTTP Basic auth sent as UTF-8 (requests encodes str credentials as latin-1)."""

    def __init__(self, user: str, password: str) -> None:
        # The password is never shown: the codec's message would name a character of it.
        pair = _utf8(user, "username", user) + b":" + _utf8(password, "password", HIDDEN)
        self._header = "Basic " + base64.b64encode(pair).decode()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request


def _utf8(text: str, key: str, shown: Any) -> bytes:
    # surrogateescape gives back the bytes of an environment variable that was
    # not UTF-8, exactly as they were set.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ConfigError(
            key, shown, "text that can be sent as UTF-8 (it holds a lone surrogate)"
        ) from None


class RsClient:
    """Calls the few RS endpoints an export needs.

    Args:
        base_url: ``https://host:9443``, no trailing slash.
        auth: user and password for HTTP Basic auth (sent as UTF-8).
        verify: what verifies the cluster's certificate. A CA bundle path (the
            cluster's ``ca_cert``) is the only trust then: REQUESTS_CA_BUNDLE and
            the system store are not consulted. False: no TLS checks. True: the
            file in $REQUESTS_CA_BUNDLE (else $CURL_CA_BUNDLE) if set, as for any
            requests program; otherwise the operating system's trust store
            (``truststore``; on Linux OpenSSL's default paths, which
            $SSL_CERT_FILE and $SSL_CERT_DIR override). Never certifi's bundle.
        timeout_seconds: the read timeout of every request (connects get at most 5 s).
            A whole answer, however slowly it trickles in, gets the two together.
        secrets: values besides the password that no answer may show (the export
            location's secrets): they are replaced by ``***`` in everything read.

    Proxies come from the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY,
    NO_PROXY), as for curl. Redirects are never followed.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str],
        verify: bool | str = True,
        timeout_seconds: float = 30.0,
        retry: Retry | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url
        self.user = auth[0]
        self.timeout = (min(CONNECT_TIMEOUT_SECONDS, timeout_seconds), timeout_seconds)
        # The bound on each whole answer (see transport.Watchdog): the connect timeout's share
        # for a proxy's tunnel and the TLS handshake (urllib3 gives each of their
        # reads the connect timeout), the read timeout's for status, headers and
        # body. Not a per-read bound but a total: it is far above a healthy
        # answer's time (a few KB, milliseconds), and cuts only one that trickles.
        self.answer_seconds = self.timeout[0] + self.timeout[1]
        self.verify = _resolve_verify(verify)
        # Never part of a message, even when the server echoes them.
        self._secrets = [auth[1], *secrets]
        self.session = requests.Session()
        self.session.auth = _Utf8BasicAuth(*auth)
        self.session.verify = self.verify
        self.session.headers.update(
            {"Accept": "application/json", "User-Agent": f"redis-enterprise-export/{__version__}"}
        )
        # trust_env stays on, for the proxy variables; .netrc is not read because
        # auth is set, and REQUESTS_CA_BUNDLE cannot override ``verify`` because
        # every request passes it explicitly (see _request).
        retries = retry if retry is not None else transport_retry()
        https = (
            TrustStoreAdapter(max_retries=retries)
            if self.verify is True
            else Adapter(max_retries=retries)
        )
        self.session.mount("https://", https)
        self.session.mount("http://", Adapter(max_retries=retries))
        _check_proxy(self.session, base_url)

    def close(self) -> None:
        self.session.close()

    # The endpoints ----------------------------------------------------------

    def export_state(self, uid: int) -> ExportState:
        return self._state(uid, EXPORT_FIELDS, ExportState.parse)

    def import_state(self, uid: int) -> ImportState:
        """The import fields of database ``uid``, its bdb status and crdt."""
        return self._state(uid, IMPORT_FIELDS, ImportState.parse)

    def _state(self, uid: int, fields: str, parse: Callable[[Any, str], State]) -> State:
        """Only ``fields``: the full database object carries passwords."""
        path = f"/v1/bdbs/{uid}"
        state = parse(self._get(path, {"fields": fields}), path)
        if state.uid != uid:
            raise ProtocolError(f"GET {path} answered the database with uid {state.uid}")
        return state

    def find_database(self, name: str) -> int:
        """The uid of the database called ``name``."""
        path = "/v1/bdbs"
        data = self._get(path, {"fields": "uid,name"})
        if not isinstance(data, list):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list")
        rows = [db for db in data if isinstance(db, dict)]
        uids = [_as_uid(db.get("uid"), "uid", path) for db in rows if db.get("name") == name]
        if len(uids) != 1:
            names = sorted(clipped(str(db.get("name")), 40) for db in rows)
            shown = ", ".join(names[:20]) + (
                f" and {len(names) - 20} more" if len(names) > 20 else ""
            )
            found = "no" if not uids else f"{len(uids)}"
            raise ApiError(
                404,
                "GET",
                path,
                description=f"{found} database named {name!r}",
                hint=f"the cluster has: {shown or 'no databases'}",
            )
        return uids[0]

    def start_export(self, uid: int, body: dict[str, Any]) -> str | None:
        """POST the export; returns when the cluster accepted it (2xx).

        Returns the ``action_uid`` of the export if the answer carries one
        (undocumented: RS documents the 200 as status only), else None.
        """
        return self._start(uid, "export", "start_bdb_export", body)

    def start_import(self, uid: int, body: dict[str, Any]) -> str | None:
        """POST the import (``dataset_import_sources``), as ``start_export``. It
        erases the database's content once it runs."""
        return self._start(uid, "import", "start_bdb_import", body)

    def reset_export_status(self, uid: int) -> None:
        """Clear a finished export's status, so the next one cannot be mistaken for it."""
        self._reset(uid, "export", "reset_bdb_current_export_status")

    def reset_import_status(self, uid: int) -> None:
        """Clear a finished import's status, as ``reset_export_status``."""
        self._reset(uid, "import", "reset_bdb_current_import_status")

    def _start(self, uid: int, action: str, permission: str, body: dict[str, Any]) -> str | None:
        path = f"/v1/bdbs/{uid}/actions/{action}"
        with self._request(
            "POST", path, permission=permission, secrets=_strings(body), action=action, json=body
        ) as response:
            try:
                raw = self._read(response, "POST", path)
            except ExportError:
                return None  # the status line was the answer: the action is accepted
        return _action_uid(raw)

    def _reset(self, uid: int, action: str, permission: str) -> None:
        with self._request(
            "PUT",
            f"/v1/bdbs/{uid}/actions/{action}_reset_status",
            permission=permission,
            action=action,
            json={},
        ):
            pass  # a 2xx is the answer; its body says nothing more

    def key_count(self, uid: int) -> KeyCount:
        """Database ``uid``'s key count from its latest statistics sample (``GET
        /v1/bdbs/stats/last/{uid}``, only ``no_of_keys``). Sampled: see KeyCount."""
        path = f"/v1/bdbs/stats/last/{uid}"
        data = self._get(path, {"metrics": "no_of_keys"}, permission="view_bdb_stats")
        if not isinstance(data, dict):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not an object")
        # Keyed by the uid as a string; another database's stats are never taken for it.
        key = str(uid)
        sample = data.get(key)
        if not isinstance(sample, dict):
            came = f"it holds {_shown(sample)}" if key in data else f"keys {_shown(sorted(data))}"
            raise ProtocolError(f"GET {path} answered no stats object under {key!r} ({came})")
        stime, etime = sample.get("stime"), sample.get("etime")
        return KeyCount(
            keys=as_count(sample.get("no_of_keys")),
            stime=stime if isinstance(stime, str) else "",
            etime=etime if isinstance(etime, str) else "",
        )

    # Day-2 reads (preflight, status, discover) ------------------------------

    def databases(self, fields: str) -> list[dict[str, Any]]:
        """Every database, with only ``fields`` (comma-separated)."""
        path = "/v1/bdbs"
        data = self._get(path, {"fields": fields})
        if not isinstance(data, list) or not all(isinstance(db, dict) for db in data):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list of objects")
        return data

    def modules(self) -> list[dict[str, Any]]:
        """Every module *version* on the cluster: its ``uid``, ``module_name`` and
        ``capabilities`` (a database names its version by ``module_list[].module_id``)."""
        path = "/v1/modules"
        data = self._get(path, permission="view_cluster_modules")
        if not isinstance(data, list):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list")
        return [module for module in data if isinstance(module, dict)]

    def own_role(self) -> str:
        """The signed-in user's management role (``GET /v1/users/role``: ``{"role": ...}``)."""
        path = "/v1/users/role"
        # The OpenAPI file names no permission for it; view_cluster_info is the nearest.
        data = self._get(path, permission="view_cluster_info")
        role = data.get("role") if isinstance(data, dict) else None
        if not isinstance(role, str) or not role:
            raise ProtocolError(f"GET {path} answered with no role name")
        return role

    def cluster_settings(self, fields: str) -> dict[str, Any]:
        """The cluster object, with only ``fields`` (``handle_redirects`` among them)."""
        path = "/v1/cluster"
        data = self._get(path, {"fields": fields}, permission="view_cluster_info")
        if not isinstance(data, dict):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not an object")
        return data

    def cluster_policy(self) -> dict[str, Any]:
        """The cluster's policy settings (``max_simultaneous_backups`` among them)."""
        path = "/v1/cluster/policy"
        data = self._get(path, permission="view_cluster_info")
        if not isinstance(data, dict):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not an object")
        return data

    def users(self) -> list[dict[str, Any]]:
        """The cluster's users with their roles; needs view_all_users_info."""
        path = "/v1/users"
        data = self._get(path, permission="view_all_users_info")
        if not isinstance(data, list):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list")
        return [user for user in data if isinstance(user, dict)]

    # Transport --------------------------------------------------------------

    def _get(
        self, path: str, params: dict[str, str] | None = None, *, permission: str = "view_bdb_info"
    ) -> Any:
        with self._request("GET", path, permission=permission, params=params) as response:
            raw = self._read(response, "GET", path)
        if not raw:
            return None
        try:
            # Read as sent: a secret that happens to be "fail" or "orders" must not change
            # what the answer means. Where cluster text is shown, it is scrubbed there.
            return _loads(raw)
        except (ValueError, RecursionError) as exc:
            kind = response.headers.get("Content-Type", "no content type")
            if isinstance(exc, RecursionError):
                why = "nested too deeply"
            else:
                # Scrubbed before it is cut short, which could split a secret.
                head = scrub(raw[:4096].decode("utf-8", "replace"), self._secrets)
                why = _shown(head[:80])
            raise ProtocolError(
                f"GET {path} answered {response.status_code} with a body that is not JSON "
                f"({clipped(kind, 60)}): {why}"
            ) from None

    @contextlib.contextmanager
    def _request(
        self,
        method: str,
        path: str,
        *,
        permission: str,
        secrets: Iterable[str] = (),
        action: str = "export",
        **kwargs: Any,
    ) -> Iterator[requests.Response]:
        """Send one request; yield its 2xx response to read (an error status raises).
        Each answer is bounded in all (see transport.Watchdog).

        ``action``: what the request is part of ("export", "import"), for the hint of a
        refusal."""
        watchdog = Watchdog(self.answer_seconds)
        token = WATCHDOG.set(watchdog)
        try:
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    timeout=self.timeout,
                    verify=self.verify,
                    allow_redirects=False,
                    stream=True,  # the status first; the body is read within a size limit
                    **kwargs,
                )
            except (OSError, Urllib3Error) as exc:  # requests' exceptions are OSErrors
                raise self._transport_error(exc, method, path) from None
            with response:
                if not 200 <= response.status_code < 300:
                    raise self._refusal(
                        response, method, path, permission, [*self._secrets, *secrets],
                        action=action,
                    )  # fmt: skip
                yield response
        finally:
            watchdog.stop()
            WATCHDOG.reset(token)

    def _read(self, response: requests.Response, method: str, path: str) -> bytes:
        """The body of ``response``, at most MAX_ANSWER_BYTES of it."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ProtocolError(
                        f"{method} {path}: the answer is larger than "
                        f"{MAX_ANSWER_BYTES // 2**20} MiB, which is not the RS API"
                    )
                chunks.append(chunk)
        except (OSError, Urllib3Error) as exc:
            raise self._transport_error(exc, method, path) from None
        watchdog = WATCHDOG.get()
        if watchdog is not None:
            watchdog.stop()  # the answer is in
            if watchdog.fired:  # its end was the watchdog's cut, not the server's
                raise watchdog.error(method, path, self.base_url)
        return b"".join(chunks)

    def _transport_error(self, exc: BaseException, method: str, path: str) -> ExportError:
        watchdog = WATCHDOG.get()
        if watchdog is not None and watchdog.fired:
            return watchdog.error(method, path, self.base_url)  # whatever the cut broke
        return transport_error(exc, method, path, self.base_url, self.timeout[1])

    def _refusal(
        self,
        response: requests.Response,
        method: str,
        path: str,
        permission: str,
        secrets: list[str],
        *,
        action: str,
    ) -> ExportError:
        status = response.status_code
        if 300 <= status < 400:
            location = url_shown(response.headers.get("Location", ""))
            return RedirectError(method, path, status, location)
        if status < 200:
            return ProtocolError(f"{method} {path} answered {status}, not a final HTTP status")
        try:
            body = json.loads(self._read(response, method, path))
        except (ExportError, ValueError, RecursionError):
            body = {}
        return refusal(
            status,
            body,
            method,
            path,
            user=self.user,
            permission=permission,
            secrets=secrets,
            action=action,
        )


def refusal(
    status: int,
    body: Any,
    method: str,
    path: str,
    *,
    user: str,
    permission: str,
    secrets: Iterable[str] = (),
    action: str = "export",
) -> ExportError:
    """The error for an error status and its JSON body: the one mapping of RS's
    answers to the error tree (tests' fake cluster API uses it too). ``action``
    ("export", "import") words the hint of a 400 or 406."""
    if not isinstance(body, dict):
        body = {}
    secrets = list(secrets)
    code = clipped(scrub(str(body.get("error_code") or ""), secrets), 60)
    # The OpenAPI schema says "description"; older request pages say "message".
    text = str(body.get("description") or body.get("message") or "")
    text = clipped(scrub(text, secrets), 300)
    if status in TRANSIENT_STATUSES:
        # To a POST too: RS's 503 is "node not responding", which says nothing of whether
        # the action started, so the export job treats it as a lost answer and looks
        # before posting again.
        detail = ": ".join(part for part in (code, text) if part)
        return ServerError(
            f"{method} {path} answered {status}"
            + (f" ({detail})" if detail else "")
            + ": trouble on the cluster or on a proxy in front of it",
            maybe_sent=True,
        )
    hint = _HINTS.get(status, "").format(user=user, permission=permission, **_WORDS[action])
    cls = ClusterBusyError if status == 409 else ApiError
    return cls(status, method, path, error_code=code, description=text, hint=hint)


_HINTS = {
    400: "The cluster rejected the request; check the {location}'s fields",
    401: "The cluster refused the credentials of user {user!r}; check the username and "
    "password variables. Not retried: RS locks a user out after 5 failed logins",
    403: "User {user!r} lacks the {permission} permission; the admin, cluster_member and "
    "db_member roles have it",
    404: "No such database on this cluster; check the database uid or name",
    406: "A module loaded in this database lacks the backup_restore capability, so RS cannot {act}",
    409: "The database is busy with another action",
    505: "The cluster does not support this API version",
}


# The words of the hints above, per action.
_WORDS = {
    "export": {"location": "export location", "act": "export it"},
    "import": {"location": "import source", "act": "import into it"},
}


PROXY_KEY = "proxy (from $HTTPS_PROXY, $HTTP_PROXY or $ALL_PROXY)"


def _check_proxy(session: requests.Session, url: str) -> None:
    """Refuse, by its name, a proxy from the environment that requests cannot use, so a
    bad proxy is not blamed on the cluster's url (neither value is shown: a proxy URL
    may carry a password, and the parser's message quotes it)."""
    proxies = session.merge_environment_settings(url, {}, None, None, None)["proxies"]
    proxy = requests.utils.select_proxy(url, proxies)
    if not proxy:
        return
    try:
        parts = parse_url(requests.utils.prepend_scheme_if_needed(proxy, "http"))  # type: ignore[no-untyped-call]
        usable = parts.scheme in ("http", "https") and bool(parts.host)
    except (LocationParseError, ValueError):
        usable = False
    if not usable:
        raise ConfigError(
            PROXY_KEY, HIDDEN, "an http:// or https:// proxy URL with a host and a valid port"
        )


def _resolve_verify(verify: bool | str) -> bool | str:
    """``verify`` with True resolved as the class docstring says: a bundle path, or True."""
    source = "ca_cert"
    if verify is True:
        for name in CA_BUNDLE_ENV:
            if os.environ.get(name):
                verify, source = os.environ[name], f"${name}"
                break
    if isinstance(verify, str) and not os.path.exists(verify):
        raise LocalSetupError(f"{source} names the CA bundle {verify}, which does not exist")
    return verify


def transport_error(
    exc: BaseException, method: str, path: str, base_url: str, timeout_seconds: float
) -> ExportError:
    """The package's error for what requests or urllib3 raised while talking to ``base_url``."""
    where = f"{method} {path}"
    reason = _reason(exc)
    rx = requests.exceptions
    if isinstance(exc, rx.SSLError):
        return TlsError(
            f"{where}: TLS verification of {base_url} failed ({reason}). Set ca_cert to "
            "the cluster's CA file (the proxy certificate's issuer)"
        )
    if isinstance(exc, rx.InvalidURL | rx.InvalidSchema | rx.MissingSchema):
        if isinstance(exc, rx.InvalidProxyURL) or "proxy" in reason.lower():
            return ConfigError(PROXY_KEY, HIDDEN, "a proxy URL requests can use")
        return ConfigError(
            "url", url_shown(base_url), "an http(s) URL of the cluster's API", hint=reason
        )
    if isinstance(exc, rx.ProxyError):
        # urllib3 says ProxyError only before it reached the proxy: nothing was sent.
        return TransportError(
            f"{where}: the proxy for {base_url} failed ({reason})", maybe_sent=False
        )
    if isinstance(exc, rx.ConnectTimeout):
        return TransportError(
            f"{where}: could not reach {base_url} (no connection within the connect timeout)",
            maybe_sent=False,
        )
    if isinstance(exc, rx.Timeout) or isinstance(_innermost(exc), ReadTimeoutError):
        return TransportError(
            f"{where}: no answer from {base_url} within {timeout_seconds:g} s", maybe_sent=True
        )
    if isinstance(exc, rx.ConnectionError):
        return TransportError(
            f"{where}: could not reach {base_url} ({reason})", maybe_sent=_maybe_sent(exc)
        )
    if isinstance(exc, rx.ChunkedEncodingError):
        return TransportError(
            f"{where}: the answer from {base_url} broke off ({reason})", maybe_sent=True
        )
    if isinstance(exc, rx.ContentDecodingError):
        return ProtocolError(f"{where}: the answer's body does not match its encoding ({reason})")
    if isinstance(exc, rx.TooManyRedirects):
        return ProtocolError(f"{where}: {base_url} answered with redirects ({reason})")
    if isinstance(exc, rx.RetryError):
        return ServerError(f"{where}: {base_url} kept answering errors ({reason})", maybe_sent=True)
    if isinstance(exc, rx.InvalidHeader):
        return ProtocolError(f"{where}: {base_url} answered a malformed header ({reason})")
    # Anything else may have happened after the request left.
    return TransportError(
        f"{where}: talking to {base_url} failed ({type(exc).__name__}: {reason})",
        maybe_sent=True,
    )


def _innermost(exc: BaseException) -> BaseException:
    # requests nests urllib3's reason several levels deep; the innermost is the useful one.
    inner = exc
    for _ in range(10):
        reason = getattr(inner, "reason", None)
        nested = [a for a in inner.args if isinstance(a, BaseException)]
        if isinstance(reason, BaseException):
            inner = reason
        elif nested:
            inner = nested[0]
        else:
            break
    return inner


def _reason(exc: BaseException) -> str:
    inner = _innermost(exc)
    # An SSL verification error says why in verify_message; its reason is only a code.
    text = getattr(inner, "verify_message", None) or getattr(inner, "reason", None) or inner
    return clipped(str(text).split(": ", 1)[-1] or type(inner).__name__, 200)


def _maybe_sent(exc: BaseException) -> bool:
    """Whether the request may have reached the cluster (anything but a failed connect)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    # requests wraps urllib3's MaxRetryError, whose reason says what failed.
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return not isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _loads(raw: bytes) -> Any:
    """JSON, with the NaN, Infinity and -Infinity tokens read as null: JSON has none,
    but a Python server (RS's API is one) writes them for a float that is not a
    number. So no non-finite number gets further than here."""
    return json.loads(raw, parse_constant=lambda _token: None)


def _action_uid(raw: bytes) -> str | None:
    """A plausible ``action_uid`` from the POST's answer, or None."""
    try:
        data = _loads(raw)
    except (ValueError, RecursionError):
        return None
    value = data.get("action_uid") if isinstance(data, dict) else None
    if type(value) is int:
        value = str(value)
    if isinstance(value, str) and re.fullmatch(r"[\w.:-]{1,128}", value, re.ASCII):
        return value
    return None


def _strings(value: Any) -> list[str]:
    """The string leaves of a request body: the values a message must never echo."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _shown(value: Any) -> str:
    """A server's value for a message: its repr, on one line and bounded."""
    return clipped(repr(value), 80)
