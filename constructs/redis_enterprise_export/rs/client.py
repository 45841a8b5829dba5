"""The RS REST API client: one session, a timeout on every call, retries set here only.

It never follows a redirect. Whatever the server or the network does, a call
returns a checked value or raises one of the package's errors: one line, with
no password or location secret in it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from redis_enterprise_export._version import __version__
from redis_enterprise_export.errors import (
    HIDDEN,
    ConfigError,
    ExportError,
    LocalSetupError,
    ProtocolError,
    RedirectError,
)
from redis_enterprise_export.polling import Deadline
from redis_enterprise_export.redact import clipped, scrub, url_shown
from redis_enterprise_export.rs.answers import (
    ExportState,
    ImportState,
    KeyCount,
    State,
    as_count,
    as_uid,
    loads,
    pick_database,
    posted_action_uid,
    shown,
)
from redis_enterprise_export.rs.failures import (
    TRANSIENT_STATUSES,
    check_proxy,
    refusal,
    transport_error,
)
from redis_enterprise_export.rs.transport import (
    WATCHDOG,
    Adapter,
    DeadlineRetry,
    TrustStoreAdapter,
    Watchdog,
)

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
# The CA bundle variables requests itself reads, in its order.
CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def transport_retry() -> Retry:
    """The one place transport retries are configured.

    Connect errors are retried for every method: the request never left. Read
    errors and status retries apply only to GET and PUT (reading state and the
    idempotent status reset). A POST that may have reached the cluster is never
    retried blindly: the export job decides, because it might have started an
    export. None begins past the run's deadline (``DeadlineRetry``).
    """
    return DeadlineRetry(
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


class _Utf8BasicAuth(requests.auth.AuthBase):
    """HTTP Basic auth sent as UTF-8 (requests encodes str credentials as latin-1)."""

    def __init__(self, user: str, password: str) -> None:
        # The password is never shown: the codec's message would name a character of it.
        pair = _utf8(user, "username", user) + b":" + _utf8(password, "password", HIDDEN)
        self.token = base64.b64encode(pair).decode()
        self.header = "Basic " + self.token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header
        return request

    @property
    def secrets(self) -> list[str]:
        """The header as sent and its base64 (user:password): a WAF or proxy error page
        may print either."""
        return [self.header, self.token]


def authorization_secrets(user: str, password: str) -> list[str]:
    """What the Authorization header for ``user`` and ``password`` shows of them."""
    return _Utf8BasicAuth(user, password).secrets


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

    ``deadline``, once a run sets it, cuts every request's timeouts and its whole-answer
    bound to the time left (``Deadline.cap``), and its retries stop there: a run ends
    within its deadline plus a grace, however slowly the cluster answers.

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
        self.deadline: Deadline | None = None
        # The timeouts the last request was sent with (``timeout`` cut to the deadline).
        self.sent_timeout = self.timeout
        self.verify = _resolve_verify(verify)
        self._ca_cert = isinstance(verify, str)  # a path given: the config's ca_cert
        basic = _Utf8BasicAuth(*auth)
        # Never part of a message, even when the server echoes them: the password, the
        # Authorization header as sent (a WAF's or proxy's error page may print it, and its
        # base64 is user:password), and the location's secrets. Not the rest of a request
        # body: its bucket, file and key id are what an operator must check in a 400.
        self._secrets = [auth[1], *basic.secrets, *secrets]
        self.session = requests.Session()
        self.session.auth = basic
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
        check_proxy(self.session, base_url)

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
        """The uid of the database called ``name``; DatabaseNotFoundError if none or several."""
        return as_uid(self.database(name, "uid,name").get("uid"), "uid", "/v1/bdbs")

    def database(self, wanted: int | str, fields: str) -> dict[str, Any]:
        """The one database ``wanted`` (a uid, or a name) names, with ``fields`` (which
        must hold uid and name); DatabaseNotFoundError if none or several."""
        return pick_database(self.databases(fields), wanted)

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
            "POST",
            path,
            permission=permission,
            action=action,
            json=body,
        ) as response:
            try:
                raw = self._read(response, "POST", path)
            except ExportError:
                return None  # the status line was the answer: the action is accepted
        return posted_action_uid(raw)

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
            came = f"it holds {shown(sample)}" if key in data else f"keys {shown(sorted(data))}"
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
            return loads(raw)
        except (ValueError, RecursionError) as exc:
            kind = response.headers.get("Content-Type", "no content type")
            if isinstance(exc, RecursionError):
                why = "nested too deeply"
            else:
                # Scrubbed before it is cut short, which could split a secret.
                head = scrub(raw[:4096].decode("utf-8", "replace"), self._secrets)
                why = shown(head[:80])
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
        action: str = "export",
        **kwargs: Any,
    ) -> Iterator[requests.Response]:
        """Send one request; yield its 2xx response to read (an error status raises).
        Each answer is bounded in all (see transport.Watchdog).

        ``action``: what the request is part of ("export", "import"), for the hint of a
        refusal."""
        watchdog = Watchdog(self.answer_seconds, self.deadline)
        token = WATCHDOG.set(watchdog)
        cap = self.deadline.cap if self.deadline is not None else float
        self.sent_timeout = (cap(self.timeout[0]), cap(self.timeout[1]))
        try:
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    timeout=self.sent_timeout,
                    verify=self.verify,
                    allow_redirects=False,
                    stream=True,  # the status first; the body is read within a size limit
                    **kwargs,
                )
            except (OSError, Urllib3Error) as exc:  # requests' exceptions are OSErrors
                raise self._transport_error(exc, method, path) from None
            with response:
                if not 200 <= response.status_code < 300:
                    raise self._refusal(response, method, path, permission, action=action)
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
        return transport_error(
            exc, method, path, self.base_url, self.sent_timeout[1], ca_cert=self._ca_cert
        )

    def _refusal(
        self,
        response: requests.Response,
        method: str,
        path: str,
        permission: str,
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
            secrets=self._secrets,
            action=action,
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
