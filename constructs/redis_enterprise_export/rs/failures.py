"""What goes wrong talking to the cluster, mapped to the package's errors in one place:
an error status and its body (``refusal``), and what requests or urllib3 raised
(``transport_error``). Each error is one line with a hint, and no secret."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util import parse_url

from redis_enterprise_export.errors import (
    HIDDEN,
    ApiError,
    ClusterBusyError,
    ConfigError,
    ExportError,
    ProtocolError,
    ServerError,
    TlsError,
    TransportError,
)
from redis_enterprise_export.redact import clipped, scrub, url_shown, user_shown

TRANSIENT_STATUSES = (
    500,  # RS: an internal error while a node is busy (a failover, a restart); reads may repeat
    502,  # a proxy in front of the cluster lost its upstream for a moment
    503,  # RS: node not responding or not yet a cluster member; transient
    504,  # a proxy gave up waiting; the next try usually lands
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
    hint = _HINTS.get(status, "").format(
        user=user_shown(user), permission=permission, **_WORDS[action]
    )
    cls = ClusterBusyError if status == 409 else ApiError
    return cls(status, method, path, error_code=code, description=text, hint=hint)


_HINTS = {
    400: "The cluster rejected the request; check the {location}'s fields",
    401: "The cluster refused the credentials of user {user}; check the username and "
    "password variables. Not retried: RS locks a user out after 5 failed logins",
    403: "User {user} lacks the {permission} permission; the admin, cluster_member and "
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


def check_proxy(session: requests.Session, url: str) -> None:
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


def transport_error(
    exc: BaseException,
    method: str,
    path: str,
    base_url: str,
    timeout_seconds: float,
    *,
    ca_cert: bool = False,
) -> ExportError:
    """The package's error for what requests or urllib3 raised while talking to ``base_url``;
    ``ca_cert``: the trust was the config's ``ca_cert`` (words a TLS failure's hint)."""
    where = f"{method} {path}"
    reason = _reason(exc)
    rx = requests.exceptions
    if isinstance(exc, rx.SSLError):
        hint = (
            "ca_cert is set, so its CA did not issue the cluster's certificate: if the CA "
            "changed, point ca_cert at the new one and re-run synth (the stack carries the "
            "CA it was synthesized with); preflight compares the two"
            if ca_cert
            else "Set ca_cert to the cluster's CA file (the proxy certificate's issuer)"
        )
        return TlsError(f"{where}: TLS verification of {base_url} failed ({reason}). {hint}")
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
