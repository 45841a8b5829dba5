"""The six documented ``export_location`` types, as config gives them: the API's own
field names, each secret given as the name of the environment variable that holds it."""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.redact import Redacted, redact_url
from redis_enterprise_export.spec.values import (
    check_env_name,
    check_optional_text,
    check_text,
    resolved,
    split_url,
    strings_of,
)


@dataclass(frozen=True, kw_only=True)
class SseC:
    """S3 server-side encryption with a customer-provided key (SSE-C); the key, from
    ``sse_customer_key_env``, reaches only the request body."""

    type: ClassVar[str] = "sse-c"
    sse_customer_key_env: str

    def __post_init__(self) -> None:
        check_env_name(self, "sse_customer_key_env", required=True)

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
        return resolved(self.to_dict(), environ)

    def import_source(self, environ: Mapping[str, str], file: str) -> dict[str, Any]:
        """The ``dataset_import_sources`` entry for ``file`` in this location, secrets
        resolved: the location's fields plus ``filename`` (s3, gs, abs; the other
        types name the file in their path or URL)."""
        return self.api_object(environ) | {"filename": file}

    def secrets(self, environ: Mapping[str, str]) -> list[str]:
        """The location's secrets (the values of its ``*_env`` variables) that are set."""
        names = [name for key, name in strings_of(self.to_dict()) if key.endswith("_env")]
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
        check_env_name(self, "password_env", required=False)

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
        check_env_name(self, "key_env", required=False)


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
        check_text(self, "bucket_name")
        check_text(self, "access_key_id")
        check_env_name(self, "secret_access_key_env", required=True)
        check_optional_text(self, "subdir")
        check_optional_text(self, "region_name")
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
            check_text(self, name)
        check_env_name(self, "private_key_env", required=True)
        check_optional_text(self, "subdir")

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
        check_text(self, "account_name")
        check_text(self, "container")
        check_env_name(self, "account_key_env", required=False)
        check_env_name(self, "sas_token_env", required=False)
        if (self.account_key_env is None) == (self.sas_token_env is None):
            given = "both" if self.account_key_env else "neither"
            raise ConfigError(
                "account_key_env/sas_token_env",
                given,
                "exactly one of account_key_env and sas_token_env (the API takes one)",
            )
        check_optional_text(self, "subdir")

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
        if "\x00" in self.path:
            return  # refused as every NUL is, by the config's own check
        # ".." would leave the mount the operator named; a control character (a newline, an
        # escape) is no folder a share is mounted at, and would break lines where it is shown.
        if ".." in self.path.split("/") or any(unicodedata.category(c) == "Cc" for c in self.path):
            raise ConfigError(
                "path",
                self.path,
                "an absolute path on the cluster's nodes without '..' segments or control "
                "characters",
            )

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
