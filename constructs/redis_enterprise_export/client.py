"""The RS REST API client: one session, a timeout on every call, retries set here only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from .errors import ApiError, ClusterBusyError, ProtocolError, TlsError, TransportError

CONNECT_TIMEOUT_SECONDS = 5.0

EXPORT_FIELDS = (
    "uid,name,status,export_status,export_progress,export_failure_reason,last_export_time"
)
# Documented values, plus "" (seen on a real never-exported database) and
# "idle" (what the docs say export_reset_status returns to).
EXPORT_STATUSES = frozenset({"", "idle", "exporting", "succeeded", "failed"})


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
        allowed_methods=frozenset({"GET", "PUT"}),
        status_forcelist=(
            502,  # a proxy in front of the cluster lost its upstream for a moment
            503,  # RS: node not responding or not yet a cluster member; transient
            504,  # a proxy gave up waiting; the next try usually lands
        ),
        backoff_factor=0.5,
        backoff_max=8.0,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


@dataclass(frozen=True)
class ExportState:
    """The export fields of a database, parsed leniently as RS sends them."""

    uid: int
    name: str
    export_status: str
    export_progress: float
    export_failure_reason: str
    last_export_time: str

    @classmethod
    def parse(cls, data: Any, path: str) -> ExportState:
        if not isinstance(data, dict):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a database object")
        status = data.get("export_status") or ""
        if status not in EXPORT_STATUSES:
            raise ProtocolError(
                f"GET {path}: unknown export_status {status!r}; this helper knows "
                f"{', '.join(sorted(s for s in EXPORT_STATUSES if s))} and empty"
            )
        return cls(
            uid=_as_int(data.get("uid"), "uid", path),
            name=str(data.get("name") or ""),
            export_status=status,
            export_progress=_as_progress(data.get("export_progress"), path),
            export_failure_reason=str(data.get("export_failure_reason") or ""),
            last_export_time=str(data.get("last_export_time") or ""),
        )


def _as_int(value: Any, key: str, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError(f"GET {path}: {key} {value!r} is not an integer")
    try:
        return int(value)
    except ValueError:
        raise ProtocolError(f"GET {path}: {key} {value!r} is not an integer") from None


def _as_progress(value: Any, path: str) -> float:
    # RS sends progress as a number or as a string ("100"); both are percent.
    if value in (None, ""):
        return 0.0
    try:
        progress = float(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"GET {path}: export_progress {value!r} is not a number") from None
    return min(max(progress, 0.0), 100.0)


class RsClient:
    """Calls the few RS endpoints an export needs.

    Args:
        base_url: ``https://host:9443``, no trailing slash.
        auth: user and password for HTTP Basic auth.
        verify: True (system CAs), a CA bundle path, or False (no TLS checks).
        timeout_seconds: the read timeout of every request (connects get at most 5 s).
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str],
        verify: bool | str = True,
        timeout_seconds: float = 30.0,
        retry: Retry | None = None,
    ) -> None:
        self.base_url = base_url
        self.user = auth[0]
        self.timeout = (min(CONNECT_TIMEOUT_SECONDS, timeout_seconds), timeout_seconds)
        self.session = requests.Session()
        self.session.auth = auth
        self.session.verify = verify
        self.session.headers.update(
            {"Accept": "application/json", "User-Agent": "redis-enterprise-export/0.1"}
        )
        # No environment proxies or .netrc: the cluster's address is what config says.
        self.session.trust_env = False
        adapter = HTTPAdapter(max_retries=retry if retry is not None else transport_retry())
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def close(self) -> None:
        self.session.close()

    # The endpoints ----------------------------------------------------------

    def export_state(self, uid: int) -> ExportState:
        path = f"/v1/bdbs/{uid}"
        data = self._call("GET", path, params={"fields": EXPORT_FIELDS}, permission="view_bdb_info")
        return ExportState.parse(data, path)

    def find_database(self, name: str) -> int:
        """The uid of the database called ``name``."""
        path = "/v1/bdbs"
        data = self._call("GET", path, params={"fields": "uid,name"}, permission="view_bdb_info")
        if not isinstance(data, list):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list")
        uids = [
            _as_int(db.get("uid"), "uid", path)
            for db in data
            if isinstance(db, dict) and db.get("name") == name
        ]
        if len(uids) != 1:
            names = sorted(str(db.get("name")) for db in data if isinstance(db, dict))
            found = "no" if not uids else f"{len(uids)}"
            raise ApiError(
                404,
                "GET",
                path,
                description=f"{found} database named {name!r}",
                hint=f"the cluster has: {', '.join(names) or 'no databases'}",
            )
        return uids[0]

    def start_export(self, uid: int, body: dict[str, Any]) -> None:
        """POST the export; returns when the cluster accepted it (200)."""
        self._call(
            "POST", f"/v1/bdbs/{uid}/actions/export", json=body, permission="start_bdb_export"
        )

    def reset_export_status(self, uid: int) -> None:
        """Clear a finished export's status, so the next one cannot be mistaken for it."""
        self._call(
            "PUT",
            f"/v1/bdbs/{uid}/actions/export_reset_status",
            json={},
            permission="reset_bdb_current_export_status",
        )

    # Day-2 reads (preflight, status, discover) ------------------------------

    def databases(self, fields: str) -> list[dict[str, Any]]:
        """Every database, with only ``fields`` (comma-separated)."""
        path = "/v1/bdbs"
        data = self._call("GET", path, params={"fields": fields}, permission="view_bdb_info")
        if not isinstance(data, list) or not all(isinstance(db, dict) for db in data):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list of objects")
        return data

    def module_capabilities(self) -> dict[str, frozenset[str]]:
        """Each module's name and its capabilities (``backup_restore`` among them)."""
        path = "/v1/modules"
        data = self._call("GET", path, permission="view_cluster_modules")
        if not isinstance(data, list):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list")
        return {
            str(m.get("module_name")): frozenset(str(c) for c in m.get("capabilities") or [])
            for m in data
            if isinstance(m, dict) and isinstance(m.get("capabilities") or [], list)
        }

    def cluster_policy(self) -> dict[str, Any]:
        """The cluster's policy settings (``max_simultaneous_backups`` among them)."""
        path = "/v1/cluster/policy"
        data = self._call("GET", path, permission="view_cluster_info")
        if not isinstance(data, dict):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not an object")
        return data

    def users(self) -> list[dict[str, Any]]:
        """The cluster's users with their roles; needs view_all_users_info."""
        path = "/v1/users"
        data = self._call("GET", path, permission="view_all_users_info")
        if not isinstance(data, list):
            raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a list")
        return [user for user in data if isinstance(user, dict)]

    # Transport --------------------------------------------------------------

    def _call(self, method: str, path: str, *, permission: str, **kwargs: Any) -> Any:
        url = self.base_url + path
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise TlsError(
                f"TLS verification of {self.base_url} failed ({_reason(exc)}). Set ca_cert to "
                "the cluster's CA file (the proxy certificate's issuer)"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise TransportError(
                f"{method} {path}: could not reach {self.base_url} ({_reason(exc)})",
                maybe_sent=_maybe_sent(exc),
            ) from None
        except requests.exceptions.Timeout as exc:
            raise TransportError(
                f"{method} {path}: no answer from {self.base_url} within {self.timeout[1]:g} s",
                maybe_sent=_maybe_sent(exc),
            ) from None
        if response.status_code >= 400:
            raise self._error(response, method, path, permission)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            excerpt = response.text[:80].replace("\n", " ")
            raise ProtocolError(
                f"{method} {path} answered {response.status_code} with a body that is not JSON "
                f"({kind}): {excerpt!r}"
            ) from None

    def _error(
        self, response: requests.Response, method: str, path: str, permission: str
    ) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("error_code") or "")
        # The OpenAPI schema says "description"; older request pages say "message".
        text = str(body.get("description") or body.get("message") or "")
        status = response.status_code
        hint = _HINTS.get(status, "").format(user=self.user, permission=permission)
        cls = ClusterBusyError if status == 409 else ApiError
        return cls(status, method, path, error_code=code, description=text, hint=hint)


_HINTS = {
    400: "The cluster rejected the request; check the export location's fields",
    401: "The cluster refused the credentials of user {user!r}; check the username and "
    "password variables. Not retried: RS locks a user out after 5 failed logins",
    403: "User {user!r} lacks the {permission} permission; the admin, cluster_member and "
    "db_member roles have it",
    404: "No such database on this cluster; check the database uid or name",
    406: "A module loaded in this database lacks the backup_restore capability, so RS "
    "cannot export it",
    409: "The database is busy with another action",
    505: "The cluster does not support this API version",
}


def _reason(exc: Exception) -> str:
    # requests nests urllib3's reason several levels deep; the innermost is the useful one.
    inner: BaseException = exc
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None) or inner
    return str(reason).split(": ", 1)[-1][:200]


def _maybe_sent(exc: Exception) -> bool:
    """Whether the request may have reached the cluster (anything but a failed connect)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    # requests wraps urllib3's MaxRetryError, whose reason says what failed.
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return not isinstance(reason, NewConnectionError | ConnectTimeoutError)
