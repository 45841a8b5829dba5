"""One export, as config and the construct give it: the cluster and its database, the
location, and the timeout; validated.

Secrets never live here. A secret field is given as the *name* of an environment
variable (``secret_access_key_env = "S3_SECRET"``) and resolved only by the helper,
at apply time, when it builds the request body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from redis_enterprise_export.errors import HIDDEN, ConfigError
from redis_enterprise_export.redact import redact_url
from redis_enterprise_export.spec.locations import Location, location_from_dict
from redis_enterprise_export.spec.retention import PRUNABLE_TYPES, Retention, retention_from_dict
from redis_enterprise_export.spec.values import (
    COORDINATIONS,
    DEFAULT_MAX_CONCURRENT_EXPORTS,
    DEFAULT_PASSWORD_ENV,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_USERNAME_ENV,
    EXPORT_NAME,
    MAX_CA_BYTES,
    RESERVED_NAMES,
    certificate_blocks,
    check_env_name,
    check_timeout,
    split_url,
    strings_of,
)

DEFAULT_PORTS = {"https": 443, "http": 80}


def normalized_url(url: str) -> str:
    """``url`` as one spelling: scheme and host lowercase, the port always given, no
    user, path, query or trailing slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = 0
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """How to reach one RS cluster's REST API; credentials by environment variable name."""

    url: str
    ca_cert_pem: str | None = None
    tls_verify: bool = True
    allow_http: bool = False
    username_env: str = DEFAULT_USERNAME_ENV
    password_env: str = DEFAULT_PASSWORD_ENV
    # Per request; the export itself may take hours (that is timeout_seconds).
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    # Exports of this cluster that this machine's helpers run at once; 0: no limit.
    max_concurrent_exports: int = DEFAULT_MAX_CONCURRENT_EXPORTS
    # Who shares those slots: "local" (helpers on this machine), "postgres" (every
    # runner reaching $PG_CONN_STR), or "cluster" (ask the cluster's count first).
    coordination: str = "local"

    def same_as(self, other: Cluster) -> bool:
        """Whether ``other`` reaches the same cluster as far as the config can tell: the
        same address, however spelled, whatever the credentials and other settings (a
        restore's admin table and an export's table name one cluster)."""
        return normalized_url(self.url) == normalized_url(other.url)

    def __post_init__(self) -> None:
        expected = "https://HOST[:PORT] of the cluster's REST API"
        parts = split_url("url", self.url, expected)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError("url", redact_url(self.url), expected)
        if parts.scheme == "http" and self.allow_http is not True:
            raise ConfigError(
                "url",
                redact_url(self.url),
                "an https:// URL",
                hint="plain http sends the password in clear; set allow_http = true to accept that",
            )
        if parts.username or parts.query or parts.fragment or parts.path not in ("", "/"):
            raise ConfigError(
                "url", redact_url(self.url), "https://HOST[:PORT] with no user, path or query"
            )
        for name in ("tls_verify", "allow_http"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, getattr(self, name), "true or false")
        if self.ca_cert_pem is not None:
            # Only the certificates: a bundle may also hold a private key, which
            # must not be copied into the stack.
            certificates = certificate_blocks(self.ca_cert_pem)
            if not certificates:
                raise ConfigError("ca_cert", HIDDEN, "PEM text with a CERTIFICATE block")
            if len(certificates.encode()) > MAX_CA_BYTES:
                raise ConfigError(
                    "ca_cert",
                    f"{len(certificates.encode())} bytes of certificates",
                    f"at most {MAX_CA_BYTES // 1024} KiB (the helper's environment is capped "
                    "near 2 MiB): keep only the CAs that sign the cluster's certificate",
                )
            object.__setattr__(self, "ca_cert_pem", certificates)
        check_env_name(self, "username_env", required=True)
        check_env_name(self, "password_env", required=True)
        t = self.request_timeout_seconds
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 600:
            raise ConfigError(
                "request_timeout_seconds", t, "a number of seconds above 0, at most 600"
            )
        n = self.max_concurrent_exports
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 512:
            raise ConfigError(
                "max_concurrent_exports", n, "a whole number from 0 (no limit) to 512"
            )
        if self.coordination not in COORDINATIONS:
            raise ConfigError(
                "coordination", self.coordination, "one of " + ", ".join(COORDINATIONS)
            )
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class ExportInputs:
    """What one export needs; ``ExportSpec`` and ``DatabaseExportProps`` share these fields.

    Args:
        cluster: how to reach the cluster's REST API.
        database: the database's uid, or its name (resolved to a uid at apply time).
        location: where the cluster writes the export (one of the ``*Location``s).
        email_notification: sent as given; if omitted, the request leaves it out
            and the cluster's default applies.
        timeout_seconds: how long the helper waits for the export before failing
            the apply; if omitted, one hour.
        retention: which of the export's own files to keep (a ``Retention``); the
            others are deleted once a newer run is proven. If omitted, none is deleted.
            Only for a ``mount_point`` or ``s3`` location.
    """

    cluster: Cluster
    database: int | str
    location: Location
    email_notification: bool | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retention: Retention | None = None

    def inputs(self) -> dict[str, Any]:
        """The shared fields by name, as given."""
        return {name: getattr(self, name) for name in INPUT_FIELDS}


INPUT_FIELDS = tuple(f.name for f in fields(ExportInputs))


@dataclass(frozen=True, kw_only=True)
class ExportSpec(ExportInputs):
    """One export, named: which database of which cluster goes where; validated."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not EXPORT_NAME.match(self.name):
            raise ConfigError(
                "name",
                self.name,
                "a letter or _ then up to 63 letters, digits, _ or - (a Terraform name)",
            )
        if self.name in RESERVED_NAMES:
            raise ConfigError(
                "name", self.name, "a name other than " + " and ".join(sorted(RESERVED_NAMES))
            )
        db = self.database
        if isinstance(db, bool) or not (
            (isinstance(db, int) and db >= 1) or (isinstance(db, str) and db.strip())
        ):
            raise ConfigError("database", db, "a database uid (integer >= 1) or its name")
        if self.email_notification is not None and not isinstance(self.email_notification, bool):
            raise ConfigError("email_notification", self.email_notification, "true or false")
        check_timeout(self.timeout_seconds)
        if not isinstance(self.location, Location):
            raise ConfigError("location", self.location, "one of the *Location classes")
        if not isinstance(self.cluster, Cluster):
            raise ConfigError("cluster", self.cluster, "a Cluster")
        object.__setattr__(self, "retention", retention_from_dict(self.retention))
        if self.retention is not None and self.location.type not in PRUNABLE_TYPES:
            raise ConfigError(
                "retention",
                self.retention.to_dict(),
                "no [retention] for a "
                f"{self.location.type} location: only for "
                + " or ".join(PRUNABLE_TYPES)
                + " (the runner can list and delete files only there)",
            )
        if self.retention is not None and getattr(self.location, "encryption", None):
            raise ConfigError(
                "retention",
                self.retention.to_dict(),
                "no [retention] with SSE-C (location.encryption): S3 answers a HEAD of an "
                "SSE-C object only with its key, so the files could never be checked "
                "against their records, and nothing would ever be pruned",
            )
        # The spec reaches the helper as an environment value, which cannot hold NUL.
        for key, value in strings_of(self.to_dict()):
            if "\x00" in value:
                raise ConfigError(key, HIDDEN, "text without NUL characters")

    def request_body(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """The documented POST body, with the location's secrets resolved."""
        body: dict[str, Any] = {"export_location": self.location.api_object(environ)}
        if self.email_notification is not None:
            body["email_notification"] = self.email_notification
        return body

    def secrets(self, environ: Mapping[str, str]) -> list[str]:
        """The location's secrets (the values of its ``*_env`` variables) that are set."""
        return self.location.secrets(environ)

    def describe(self) -> str:
        """Where the export goes, secret-free, for progress lines."""
        return self.location.describe()

    def trigger(self) -> dict[str, Any]:
        """What, when changed, means a new export (not TLS material or timeouts)."""
        return {
            "cluster": self.cluster.url,
            "database": self.database,
            "location": self.location.to_dict(),
            "email_notification": self.email_notification,
        }

    def to_dict(self) -> dict[str, Any]:
        """The secret-free spec as plain data; ``from_dict`` reads it back."""
        data = {"name": self.name} | self.inputs()
        data |= {"cluster": self.cluster.to_dict(), "location": self.location.to_dict()}
        # Left out when none, so a stack without retention synthesizes as it did before.
        if self.retention is None:
            del data["retention"]
        else:
            data["retention"] = self.retention.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportSpec:
        return cls(
            **dict(data)
            | {
                "cluster": Cluster(**data["cluster"]),
                "location": location_from_dict(data["location"]),
                "retention": retention_from_dict(data.get("retention")),
            }
        )
