"""Pure data: the cluster, the export locations and one export, with validation.

Secrets never live here. A secret field is given as the *name* of an environment
variable (``secret_access_key_env = "S3_SECRET"``) and resolved only by the helper,
at apply time, when it builds the request body.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from redis_enterprise_export.errors import HIDDEN, ConfigError
from redis_enterprise_export.redact import Redacted, hidden, redact_url

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Export names become Terraform names, file names and output keys.
EXPORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
# The export stack's own variable and output: an export of that name would collide.
RESERVED_NAMES = frozenset({"run_id", "exports", "drills"})
# A file of an export's location, by its name alone: no folder (the location says
# where), no control character, at most 255 characters (a file name's limit).
FILE_NAME = re.compile(r"[^/\x00-\x1f\x7f]{1,255}\Z")
FILE_EXPECTED = (
    "a file's name in the export's location: 1-255 characters, no '/', no control "
    "characters, not '.' or '..'"
)

DEFAULT_USERNAME_ENV = "REDIS_ENTERPRISE_USER"
DEFAULT_PASSWORD_ENV = "REDIS_ENTERPRISE_PASSWORD"  # noqa: S105 (a variable name)
DEFAULT_TIMEOUT_SECONDS = 3600
# RS answers status reads in milliseconds; 30 s of silence means a node is in trouble.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30
# RS's own default for max_simultaneous_backups: beyond it the cluster answers 409.
DEFAULT_MAX_CONCURRENT_EXPORTS = 4
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
COORDINATIONS = ("local", "postgres", "cluster")


# The CA reaches each helper in its environment, which Linux caps, with argv, near
# 2 MiB in all (a quarter of the stack limit): half of that is left to the rest.
MAX_CA_BYTES = 1024 * 1024

CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----"
)


def certificate_blocks(pem: object) -> str:
    """The CERTIFICATE blocks of PEM text, and nothing else; "" if there are none."""
    if not isinstance(pem, str):
        return ""
    return "".join(block + "\n" for block in CERTIFICATE.findall(pem))


# A DNS label: 1-63 letters, digits, - or _ (names in private zones use _), no - at an end.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")


def valid_host(host: str) -> bool:
    """Whether ``host`` is an IP address or a DNS name: labels of 1-63 characters,
    253 in all, one trailing dot allowed; non-ASCII names as IDNA allows them."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host.removesuffix(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def split_url(key: str, url: object, expected: str) -> SplitResult:
    """``urlsplit`` plus the port and host checks, as a ConfigError naming ``key``,
    userinfo hidden."""
    if not isinstance(url, str):
        raise ConfigError(key, Redacted(url), expected)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        # ValueError's text may quote a piece of a misspelt password: not shown.
        raise ConfigError(
            key, redact_url(url), f"{expected} (a well-formed host and a port 0-65535)"
        ) from None
    if parts.hostname and not valid_host(parts.hostname):
        raise ConfigError(
            key,
            redact_url(url),
            f"{expected} (a host name of labels of 1-63 letters, digits, - or _, "
            "253 characters in all, or an IP address)",
        )
    return parts


def _strings(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every string in ``data``, with its dotted key."""
    for key, value in data.items():
        if isinstance(value, str):
            yield prefix + key, value
        elif isinstance(value, Mapping):
            yield from _strings(value, f"{prefix}{key}.")


def _text(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, value, "a non-empty string")


def _optional_text(obj: object, name: str) -> None:
    if getattr(obj, name) is not None:
        _text(obj, name)


def _env_name(obj: object, name: str, *, required: bool) -> None:
    value = getattr(obj, name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not ENV_NAME.match(value):
        # A pasted secret is the likeliest wrong value here: never print it.
        raise ConfigError(
            name, hidden(value), "the name of an environment variable (letters, digits, _)"
        )


def resolve_env(name: str, env_name: str, environ: Mapping[str, str]) -> str:
    """The value of the variable ``env_name`` that config key ``name`` points at."""
    value = environ.get(env_name, "")
    if not value:
        raise ConfigError(
            name, env_name, "the name of an environment variable that is set and not empty"
        )
    return value


def _resolved(
    data: Mapping[str, Any], environ: Mapping[str, str], prefix: str = ""
) -> dict[str, Any]:
    """``data`` with each ``x_env`` key replaced by ``x`` and the variable's value."""
    body: dict[str, Any] = {}
    for key, value in data.items():
        if key.endswith("_env"):
            body[key.removesuffix("_env")] = resolve_env(prefix + key, value, environ)
        elif isinstance(value, Mapping):
            body[key] = _resolved(value, environ, f"{prefix}{key}.")
        else:
            body[key] = value
    return body


@dataclass(frozen=True, kw_only=True)
class SseC:
    """S3 server-side encryption with a customer-provided key (SSE-C); the key, from
    ``sse_customer_key_env``, reaches only the request body."""

    type: ClassVar[str] = "sse-c"
    sse_customer_key_env: str

    def __post_init__(self) -> None:
        _env_name(self, "sse_customer_key_env", required=True)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "sse_customer_key_env": self.sse_customer_key_env}

    @classmethod
    def from_dict(cls, data: object) -> SseC:
        """Build it from config: ``type = "sse-c"`` and ``sse_customer_key_env``."""
        if isinstance(data, SseC):
            return data
        if not isinstance(data, Mapping):
            expected = 'a table: { type = "sse-c", sse_customer_key_env = "VAR" }'
            raise ConfigError("encryption", Redacted(data), expected)
        try:
            if data.get("type") != cls.type:
                raise ConfigError(
                    "type", data.get("type"), f"{cls.type!r} (the only type RS takes)"
                )
            _check_keys(data, {"type", "sse_customer_key_env"}, ("sse_customer_key",))
            if "sse_customer_key_env" not in data:
                raise ConfigError.missing(
                    "sse_customer_key_env", "the name of the variable that holds the key"
                )
            return cls(sse_customer_key_env=data["sse_customer_key_env"])
        except ConfigError as exc:
            raise exc.within("", "encryption") from None


@dataclass(frozen=True, kw_only=True)
class Location:
    """Base of the six documented ``export_location`` types.

    Subclasses use the API's own field names; a secret field ``x`` is given as
    ``x_env``, the name of the environment variable that holds it.
    """

    type: ClassVar[str]
    # API fields that are secrets; given in config only as f"{name}_env".
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The location as config: ``type`` plus the set fields, secrets by env name."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"type": self.type} | {
            k: v.to_dict() if isinstance(v, SseC) else v for k, v in values.items() if v is not None
        }

    def api_object(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """The ``export_location`` object the API expects, secrets resolved."""
        return _resolved(self.to_dict(), environ)

    def import_source(self, environ: Mapping[str, str], file: str) -> dict[str, Any]:
        """The ``dataset_import_sources`` entry for ``file`` in this location, secrets
        resolved: the location's fields plus ``filename`` (s3, gs, abs; the other
        types name the file in their path or URL)."""
        return self.api_object(environ) | {"filename": file}

    def secrets(self, environ: Mapping[str, str]) -> list[str]:
        """The location's secrets (the values of its ``*_env`` variables) that are set."""
        names = [name for key, name in _strings(self.to_dict()) if key.endswith("_env")]
        return [environ[name] for name in names if environ.get(name)]

    def describe(self) -> str:
        """A one-line, secret-free description for progress lines."""
        return self.type


@dataclass(frozen=True, kw_only=True)
class _UrlLocation(Location):
    """A location addressed by a URL whose password comes from ``password_env``."""

    url_field: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]]
    password_env: str | None = None

    def _url(self) -> str:
        value: str = getattr(self, self.url_field)
        return value

    def _check_url(self) -> None:
        url = self._url()
        allowed = " or ".join(f"{s}://" for s in self.schemes)
        parts = split_url(self.url_field, url, f"a {allowed} URL with a host")
        if parts.scheme not in self.schemes or not parts.hostname:
            raise ConfigError(self.url_field, redact_url(url), f"a {allowed} URL with a host")
        if parts.password is not None:
            raise ConfigError(
                self.url_field,
                redact_url(url),
                "a URL without a password",
                hint="give the password's environment variable as password_env",
            )
        if self.password_env is not None and not parts.username:
            raise ConfigError(
                self.url_field,
                redact_url(url),
                "a URL with a user name when password_env is set",
                hint=f"write it as {self.schemes[0]}://USER@{parts.netloc}{parts.path}",
            )
        _env_name(self, "password_env", required=False)

    def api_object(self, environ: Mapping[str, str]) -> dict[str, Any]:
        body = super().api_object(environ)
        password = body.pop("password", None)
        if password is not None:
            parts = urlsplit(self._url())
            # The user may itself hold "@" (user@example.com): the host follows the last one.
            user, host = parts.netloc.rsplit("@", 1)
            user = quote(unquote(user), safe="")
            netloc = f"{user}:{quote(password, safe='')}@{host}"
            body[self.url_field] = urlunsplit(parts._replace(netloc=netloc))
        return body

    def import_source(self, environ: Mapping[str, str], file: str) -> dict[str, Any]:
        # The URL names the file: ftp://host/path/FILE (dataset_import_sources.md).
        body = self.api_object(environ)
        parts = urlsplit(body[self.url_field])
        folder = parts.path if parts.path.endswith("/") else parts.path + "/"
        body[self.url_field] = urlunsplit(parts._replace(path=folder + quote(file)))
        return body

    def describe(self) -> str:
        # A valid URL here has no password; its user goes, an "@" in its path stays.
        parts = urlsplit(self._url())
        _, at, host = parts.netloc.rpartition("@")
        shown = urlunsplit(parts._replace(netloc=f"***@{host}")) if at else self._url()
        return f"{self.type} {shown}"


@dataclass(frozen=True, kw_only=True)
class FtpLocation(_UrlLocation):
    """FTP or FTPS server: ``ftp://[user@]host[:port]/path/``."""

    type: ClassVar[str] = "url"
    url_field: ClassVar[str] = "url"
    schemes: ClassVar[tuple[str, ...]] = ("ftp", "ftps")
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    url: str

    def __post_init__(self) -> None:
        self._check_url()


@dataclass(frozen=True, kw_only=True)
class SftpLocation(_UrlLocation):
    """SFTP server: ``sftp://user@host[:port][/path/]``; the SSH key from ``key_env``.

    Without ``key_env`` the cluster uses its own key, whose public half must be
    installed on the server.
    """

    type: ClassVar[str] = "sftp"
    url_field: ClassVar[str] = "sftp_url"
    schemes: ClassVar[tuple[str, ...]] = ("sftp",)
    secret_fields: ClassVar[tuple[str, ...]] = ("password", "key")
    sftp_url: str
    key_env: str | None = None

    def __post_init__(self) -> None:
        self._check_url()
        _env_name(self, "key_env", required=False)


@dataclass(frozen=True, kw_only=True)
class S3Location(Location):
    """AWS S3 or the cluster's configured S3-compatible store."""

    type: ClassVar[str] = "s3"
    secret_fields: ClassVar[tuple[str, ...]] = ("secret_access_key",)
    bucket_name: str
    access_key_id: str
    secret_access_key_env: str
    subdir: str | None = None
    # Appeared in RS 7.4.2; without it the cluster detects the bucket's region.
    region_name: str | None = None
    # Valid only in an export location (and import sources), per the RS docs.
    encryption: SseC | None = None

    def __post_init__(self) -> None:
        _text(self, "bucket_name")
        _text(self, "access_key_id")
        _env_name(self, "secret_access_key_env", required=True)
        _optional_text(self, "subdir")
        _optional_text(self, "region_name")
        if self.encryption is not None:
            object.__setattr__(self, "encryption", SseC.from_dict(self.encryption))

    def describe(self) -> str:
        return f"s3://{self.bucket_name}/{self.subdir or ''}"


@dataclass(frozen=True, kw_only=True)
class GcsLocation(Location):
    """Google Cloud Storage, with a service account's key fields."""

    type: ClassVar[str] = "gs"
    secret_fields: ClassVar[tuple[str, ...]] = ("private_key",)
    bucket_name: str
    client_id: str
    client_email: str
    private_key_id: str
    private_key_env: str
    subdir: str | None = None

    def __post_init__(self) -> None:
        for name in ("bucket_name", "client_id", "client_email", "private_key_id"):
            _text(self, name)
        _env_name(self, "private_key_env", required=True)
        _optional_text(self, "subdir")

    def describe(self) -> str:
        return f"gs://{self.bucket_name}/{self.subdir or ''}"


@dataclass(frozen=True, kw_only=True)
class AbsLocation(Location):
    """Azure Blob Storage, with exactly one of an account key or a SAS token."""

    type: ClassVar[str] = "abs"
    secret_fields: ClassVar[tuple[str, ...]] = ("account_key", "sas_token")
    account_name: str
    container: str
    account_key_env: str | None = None
    sas_token_env: str | None = None
    subdir: str | None = None

    def __post_init__(self) -> None:
        _text(self, "account_name")
        _text(self, "container")
        _env_name(self, "account_key_env", required=False)
        _env_name(self, "sas_token_env", required=False)
        if (self.account_key_env is None) == (self.sas_token_env is None):
            given = "both" if self.account_key_env else "neither"
            raise ConfigError(
                "account_key_env/sas_token_env",
                given,
                "exactly one of account_key_env and sas_token_env (the API takes one)",
            )
        _optional_text(self, "subdir")

    def describe(self) -> str:
        return f"abs://{self.account_name}/{self.container}/{self.subdir or ''}"


@dataclass(frozen=True, kw_only=True)
class MountPointLocation(Location):
    """A directory mounted on every node, writable by ``redislabs:redislabs``."""

    type: ClassVar[str] = "mount_point"
    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ConfigError("path", self.path, "an absolute path on the cluster's nodes")

    def import_source(self, environ: Mapping[str, str], file: str) -> dict[str, Any]:
        # "path: Path to the locally mounted filename to import" (dataset_import_sources.md).
        return {"type": self.type, "path": posixpath.join(self.path, file)}

    def describe(self) -> str:
        return f"mount_point {self.path}"


LOCATION_TYPES: dict[str, type[Location]] = {
    cls.type: cls
    for cls in (FtpLocation, SftpLocation, S3Location, GcsLocation, AbsLocation, MountPointLocation)
}


def location_from_dict(data: object) -> Location:
    """Build a location from config: ``type`` plus the API's field names.

    Errors name their key below ``location``.
    """
    if not isinstance(data, Mapping):
        raise ConfigError("location", Redacted(data), "a table with a type and its fields")
    try:
        return _location(data)
    except ConfigError as exc:
        raise exc.within("", "location") from None


def _location(data: Mapping[str, Any]) -> Location:
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in LOCATION_TYPES:
        if kind is None:
            raise ConfigError.missing("type", "one of " + ", ".join(LOCATION_TYPES))
        raise ConfigError("type", kind, "one of " + ", ".join(LOCATION_TYPES))
    cls = LOCATION_TYPES[kind]
    _check_keys(data, {f.name for f in fields(cls)} | {"type"}, cls.secret_fields)
    kwargs = {k: v for k, v in data.items() if k != "type"}
    missing = [f.name for f in fields(cls) if f.name not in kwargs and _required(cls, f.name)]
    if missing:
        raise ConfigError.missing(missing[0], f"a value for {missing[0]} in a {kind} location")
    return cls(**kwargs)


def _check_keys(data: Mapping[str, Any], allowed: set[str], secrets: tuple[str, ...]) -> None:
    """Every key of ``data`` is allowed; a literal secret is refused without showing it."""
    for key in data:
        if key in secrets:
            raise ConfigError(
                key,
                "***",
                "no literal secret in config",
                hint=f"set {key}_env to the name of an environment variable that holds it",
            )
        if key not in allowed:
            raise ConfigError.unknown_key(key, allowed)


def _required(cls: type[Location], name: str) -> bool:
    return next(f for f in fields(cls) if f.name == name).default is MISSING


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
        _env_name(self, "username_env", required=True)
        _env_name(self, "password_env", required=True)
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
    """

    cluster: Cluster
    database: int | str
    location: Location
    email_notification: bool | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

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
        # The spec reaches the helper as an environment value, which cannot hold NUL.
        for key, value in _strings(self.to_dict()):
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
        return data | {"cluster": self.cluster.to_dict(), "location": self.location.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportSpec:
        return cls(
            **dict(data)
            | {
                "cluster": Cluster(**data["cluster"]),
                "location": location_from_dict(data["location"]),
            }
        )


def check_timeout(value: object, key: str = "timeout_seconds") -> None:
    """Raise ConfigError naming ``key`` unless ``value`` is a timeout we accept."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_TIMEOUT_SECONDS
    ):
        raise ConfigError(key, value, f"a number of seconds above 0, at most {MAX_TIMEOUT_SECONDS}")


def check_file_name(value: object, key: str = "--file") -> str:
    """``value`` if it names a file in a location; raises ConfigError naming ``key``."""
    if (
        not isinstance(value, str)
        or not FILE_NAME.match(value)
        or value in (".", "..")
        or not value.strip()
    ):
        shown = value[:100] + "…" if isinstance(value, str) and len(value) > 100 else value
        raise ConfigError(key, shown, FILE_EXPECTED)
    return value


# What a drill can find an export's files in by itself; other types name them.
LISTED_TYPES = ("mount_point", "s3")


@dataclass(frozen=True, kw_only=True)
class DrillInputs:
    """What one drill needs besides its export; ``DrillSpec`` and
    ``DatabaseDrillProps`` share these fields.

    Args:
        into: the scratch database, by uid or name, on the export's cluster. ITS
            CONTENT IS ERASED by every drill.
        erase: ``into`` again, the same value: a drill erases it, so it is named twice.
        files: the export's files by name, for a location whose files the drill
            cannot list (any type but mount_point and s3); if omitted, the files
            the export recorded.
        key_tolerance_percent: how far the scratch database's key count may be from
            the source's at export time, in percent of the source's; if omitted, 0.
        timeout_seconds: how long the import and the count may take; if omitted, one hour.
    """

    into: int | str
    erase: int | str
    files: tuple[str, ...] = ()
    key_tolerance_percent: float = 0.0
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def drill_inputs(self) -> dict[str, Any]:
        """The shared fields by name, as given."""
        return {name: getattr(self, name) for name in DRILL_FIELDS}


DRILL_FIELDS = tuple(f.name for f in fields(DrillInputs))


@dataclass(frozen=True, kw_only=True)
class DrillSpec(DrillInputs):
    """One drill, named, of the export named ``export``; validated.

    ``guarded``: the databases (uids or names, as configured) that exports of the
    drill's cluster export, its own export's included. Filled by the config and by
    ``ExportStack``; the drill refuses to import into any of them, also when the
    config spells one differently from ``into`` (a name for a uid).
    """

    name: str
    export: str
    guarded: tuple[int | str, ...] = ()

    def __post_init__(self) -> None:
        for key in ("name", "export"):
            value = getattr(self, key)
            if not isinstance(value, str) or not EXPORT_NAME.match(value):
                raise ConfigError(key, value, "a letter or _ then up to 63 letters, digits, _ or -")
        into = self.into
        if isinstance(into, bool) or not (
            (isinstance(into, int) and into >= 1)
            or (isinstance(into, str) and into.strip() and "\x00" not in into)
        ):
            raise ConfigError("into", into, "the scratch database's uid (integer >= 1) or name")
        if self.erase != into or type(self.erase) is not type(into):
            raise ConfigError(
                "erase",
                self.erase,
                f"into's value again, exactly ({into!r}, {_kind(into)}): every drill ERASES "
                "that database",
            )
        if not isinstance(self.files, list | tuple):
            raise ConfigError("files", self.files, f"a list of names, each {FILE_EXPECTED}")
        object.__setattr__(self, "files", tuple(self.files))
        for file in self.files:
            check_file_name(file, "files")
        tolerance = self.key_tolerance_percent
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int | float)
            or not 0 <= tolerance <= 100
        ):
            raise ConfigError("key_tolerance_percent", tolerance, "a number from 0 to 100")
        check_timeout(self.timeout_seconds)
        if not isinstance(self.guarded, list | tuple) or not all(
            isinstance(g, int | str) and not isinstance(g, bool) for g in self.guarded
        ):
            raise ConfigError("guarded", HIDDEN, "a list of database uids and names")
        object.__setattr__(self, "guarded", tuple(self.guarded))

    def check_source(self, export: ExportSpec) -> None:
        """Refuse what config can already tell is wrong for ``export``: its own
        database as the scratch one, or no way to know its files."""
        if self.into == export.database:
            raise ConfigError(
                "into",
                self.into,
                f"a scratch database, not export {export.name!r}'s own: a drill ERASES the "
                "database it imports into",
            )
        if export.location.type not in LISTED_TYPES and not self.files:
            raise ConfigError.missing(
                "files",
                "the files' names: RS does not say which file an export wrote, and a drill "
                f"finds them only in {' and '.join(LISTED_TYPES)} locations, not "
                f"{export.location.type}",
            )

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data; ``from_dict`` reads it back."""
        return self.trigger() | {"guarded": list(self.guarded)}

    def trigger(self) -> dict[str, Any]:
        """What, when changed, means a new drill: not ``guarded``, which grows with
        every export added to the cluster."""
        return (
            {"name": self.name, "export": self.export}
            | self.drill_inputs()
            | {"files": list(self.files)}
        )

    @classmethod
    def from_dict(cls, data: object) -> DrillSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(
                "drill", type(data).__name__, "a JSON object as the construct writes it"
            )
        known = {"name", "export", "guarded", *DRILL_FIELDS}
        return cls(**{k: v for k, v in data.items() if k in known})


def exported_databases(export: ExportSpec, exports: Iterable[ExportSpec]) -> tuple[int | str, ...]:
    """The databases that ``exports`` of ``export``'s cluster export: a drill of
    ``export`` guards them (``DrillSpec.guarded``)."""
    return tuple(dict.fromkeys(e.database for e in exports if e.cluster == export.cluster))


def _kind(value: object) -> str:
    """How TOML spelled ``value``, for a message where 3 and "3" would look alike."""
    return "a number" if isinstance(value, int) else "text"
