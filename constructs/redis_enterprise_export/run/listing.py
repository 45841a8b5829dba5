"""Which files an export wrote: its location's folder listed before and after it.

RS does not say which file an export wrote, and its file names are not documented
(rs-export-api.md section 6: "don't parse names; list the destination prefix
instead"). What can be listed from the runner: a ``mount_point`` the runner sees at
the same path, and an ``s3`` prefix (with the ``s3`` extra, boto3). For the other
types the file has to be named by the user.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.extras import not_installed
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.spec.locations import Location, MountPointLocation, S3Location
from redis_enterprise_export.spec.values import resolve_env


@dataclass(frozen=True)
class Snapshot:
    """The files directly in a location's folder, or why they could not be listed."""

    # name -> fingerprint (size and mtime_ns; for s3 the ETag and size); None: not listed.
    files: Mapping[str, str] | None
    # One line, secret-free, when files is None.
    why_not: str = ""


def snapshot(location: Location, environ: Mapping[str, str]) -> Snapshot:
    """The files directly in ``location``'s folder, as this runner sees them now.

    Never raises for I/O or storage trouble: ``why_not`` says what stopped it.
    ``environ`` holds the variables the location's ``*_env`` fields name.
    """
    return Lister(location, environ).snapshot()


class Lister:
    """Lists one location as often as a run needs, with one S3 client for all of it.

    Making the client (boto3's import, its session) costs a few tenths of a second:
    ``warm`` makes it ahead, beside other work, so no listing waits for it.
    """

    def __init__(self, location: Location, environ: Mapping[str, str]) -> None:
        self.location = location
        self.environ = environ
        self._lock = threading.Lock()
        self._client: Any = None
        self._why_not = ""

    @property
    def s3(self) -> Any:
        """The run's S3 client, if it made one."""
        return self._client

    def warm(self) -> None:
        """Make what listing needs now, if it needs anything; never raises."""
        if isinstance(self.location, S3Location):
            self._s3(self.location)

    def snapshot(self) -> Snapshot:
        """The files directly in the location's folder now; see ``snapshot``."""
        location = self.location
        if isinstance(location, MountPointLocation):
            return _folder(location.path)
        if isinstance(location, S3Location):
            client = self._s3(location)
            if client is None:
                return Snapshot(None, self._why_not)
            return _bucket(client, location, self.environ)
        return Snapshot(
            None,
            f"RS does not say which file an export wrote and a {location.type} location "
            "cannot be listed from here: a drill of it needs the file named (file = ...)",
        )

    def _s3(self, location: S3Location) -> Any:
        """The run's S3 client, made on first use; None, with ``_why_not``, if it cannot be."""
        with self._lock:
            if self._client is None and not self._why_not:
                try:
                    self._client = s3_client(location, self.environ)
                except ListingError as exc:
                    self._why_not = str(exc)
            return self._client


class ListingError(Exception):
    """Why a location cannot be listed, in one secret-free line."""


def s3_prefix(location: S3Location) -> str:
    """S3's key prefix for the location's subdir: no leading '/', one trailing '/'
    (or none at the root)."""
    stripped = (location.subdir or "").strip("/")
    return f"{stripped}/" if stripped else ""


def s3_client(location: S3Location, environ: Mapping[str, str]) -> Any:
    """A boto3 S3 client with the location's credentials; raises ListingError.

    The endpoint is boto3's own (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, or the
    shared config file, read from the process environment: boto3 >= 1.28), so
    S3-compatible stores work as they do for the AWS CLI.
    """
    where = f"s3://{location.bucket_name}/{s3_prefix(location)}"
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise ListingError(str(not_installed("boto3", f"listing {where}"))) from None
    try:
        secret = resolve_env("secret_access_key_env", location.secret_access_key_env, environ)
    except ConfigError as exc:
        raise ListingError(f"cannot list {where}: {exc}") from None
    try:
        session = boto3.session.Session(
            aws_access_key_id=location.access_key_id,
            aws_secret_access_key=secret,
            region_name=location.region_name,
        )
        # Bounded: the export lists right before its POST, and a store that does not
        # answer must delay it seconds, not botocore's default minutes (5 x 60 s).
        bounded = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2})
        return session.client("s3", config=bounded)
    except BotoCoreError as exc:
        why = _unlisted(where, f"{type(exc).__name__}: {exc}", location, environ).why_not
        raise ListingError(why) from None


def written(before: Snapshot, after: Snapshot) -> tuple[str, ...] | None:
    """Names new or changed between the two, sorted; None if either was not listed."""
    if before.files is None or after.files is None:
        return None
    old = before.files
    return tuple(sorted(name for name, mark in after.files.items() if old.get(name) != mark))


def _folder(path: str) -> Snapshot:
    """The regular files directly in ``path``: no dot files, folders or symlinks.

    RS writes regular files; a dot file is someone else's (an NFS client's
    ``.nfsXXXX``, an editor's or a sync tool's temporary file), and a symlink was not
    written by an export, so none of them is a drill's candidate.
    """
    files: dict[str, str] = {}
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listing: not there after either
                if stat.S_ISREG(info.st_mode):
                    files[entry.name] = f"{info.st_size}:{info.st_mtime_ns}"
    except (FileNotFoundError, NotADirectoryError):
        return Snapshot(None, f"mount_point {path} is not a folder on this runner")
    except OSError as exc:
        return Snapshot(None, f"mount_point {path} cannot be listed on this runner: {exc.strerror}")
    return Snapshot(files)


def _bucket(client: Any, location: S3Location, environ: Mapping[str, str]) -> Snapshot:
    """The objects directly under the location's prefix, by name relative to it."""
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = s3_prefix(location)
    where = f"s3://{location.bucket_name}/{prefix}"
    files: dict[str, str] = {}
    try:
        # The delimiter keeps nested keys out: they come back as common prefixes.
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket_name, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if name:  # the "folder" object some tools create at the prefix itself
                    files[name] = f"{item.get('ETag', '')}:{item.get('Size', '')}"
    except ClientError as exc:
        error = exc.response.get("Error", {})
        why = f"{error.get('Code', 'error')}: {error.get('Message', '')}"
        return _unlisted(where, why, location, environ)
    except BotoCoreError as exc:
        return _unlisted(where, f"{type(exc).__name__}: {exc}", location, environ)
    return Snapshot(files)


def _unlisted(where: str, why: str, location: Location, environ: Mapping[str, str]) -> Snapshot:
    """A Snapshot saying why ``where`` was not listed, secrets hidden, on one line."""
    text = scrub(f"cannot list {where}: {why}", location.secrets(environ))
    return Snapshot(None, " ".join(text.split()))
