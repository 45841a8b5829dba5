"""Retention: an export's own files recorded, proven, and pruned by its policy.

The records are a manifest beside the files, in the location itself:
``.redis-export-retention/<export name>.json``. Not Terraform state: the manifest
survives a fresh runner and a lost or replaced state, and it sits next to the files
it describes (as restic keeps its index in the repository). A dot folder: listing
(``listing._folder``) ignores it, an S3 listing with a delimiter leaves it out, and
RS never writes there.

What may be deleted (``plan``): only files the manifest records as this export's own;
only once a newer run is proven (its export succeeded and, where it has a drill, its
drill did); never the newest proven run's; never a file whose name, size (or S3 ETag)
or location no longer matches its record. The order makes an interrupted prune safe
and a rerun finish it: the entries are marked ``deleting`` in the manifest, then
their files deleted, then the entries dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from redis_enterprise_export.errors import ExportError, ExportTimeoutError, InterruptedExportError
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.spec.locations import Location, MountPointLocation, S3Location
from redis_enterprise_export.spec.retention import Retention
from redis_enterprise_export.spec.values import FILE_NAME, parse_time

MANIFEST_DIR = ".redis-export-retention"
MANIFEST_VERSION = 1
# How long a run waits for another prune (or record) of the same export.
LOCK_WAIT_SECONDS = 30.0
# A manifest is small; a larger file is not one.
MAX_MANIFEST_BYTES = 16 * 2**20


class RetentionError(Exception):
    """The records or the location could not be read or written: one line, secret-free."""


class PruneBusyError(RetentionError):
    """Another prune or record of the same export holds its retention lock."""


@dataclass(frozen=True)
class StoredFile:
    """One file as recorded: its name in the location, its size, and for S3 its ETag."""

    name: str
    size: int
    etag: str = ""


@dataclass(frozen=True)
class Entry:
    """One run of the export, as the manifest records it."""

    sequence: int  # monotonic per export
    run_id: str
    time: str  # when the export finished, ISO 8601 UTC
    files: tuple[StoredFile, ...]
    proven: bool  # the export succeeded and, where it has a drill, the drill did
    deleting: bool = False  # a prune chose it and may have deleted some of its files

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files]
        return data

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class Manifest:
    """The export's records in its location."""

    export: str
    next_sequence: int = 1
    entries: tuple[Entry, ...] = ()

    def to_json(self) -> str:
        data = {
            "version": MANIFEST_VERSION,
            "export": self.export,
            "next_sequence": self.next_sequence,
            "entries": [e.to_dict() for e in self.entries],
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def parse(cls, text: str, export: str, where: str) -> Manifest:
        """The manifest ``text`` holds; RetentionError if it is not export's manifest."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
                raise ValueError(f"not a version {MANIFEST_VERSION} manifest")
            if data.get("export") != export:
                raise ValueError(f"it is export {str(data.get('export'))[:80]!r}'s")
            entries = tuple(_entry(e) for e in data["entries"])
            next_sequence = data["next_sequence"]
            if type(next_sequence) is not int or any(e.sequence >= next_sequence for e in entries):
                raise ValueError("its next_sequence is not above every entry's")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise RetentionError(
                f"the retention records {where} cannot be read ({str(exc)[:200]}): nothing "
                "is recorded or deleted until it is fixed or removed"
            ) from None
        return cls(export=export, next_sequence=next_sequence, entries=entries)


def _entry(data: Any) -> Entry:
    if not isinstance(data, dict):
        raise ValueError("an entry is not an object")
    files = tuple(
        StoredFile(str(f["name"]), _count(f["size"]), str(f.get("etag", ""))) for f in data["files"]
    )
    for f in files:
        if not FILE_NAME.match(f.name) or f.name in (".", ".."):
            raise ValueError(f"an entry's file name {f.name[:80]!r} is not a file's name")
    flags = (data["proven"], data.get("deleting", False))
    if not all(isinstance(flag, bool) for flag in flags):
        raise ValueError("an entry's proven or deleting is not true or false")
    return Entry(_count(data["sequence"]), str(data["run_id"]), str(data["time"]), files, *flags)


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{value!r:.40} is not a whole number")
    return value


# What a policy decides.


@dataclass(frozen=True)
class Decision:
    """The entries a prune keeps and those it deletes, each with why."""

    keep: tuple[Entry, ...]
    go: tuple[tuple[Entry, str], ...]


def plan(manifest: Manifest, retention: Retention, now: datetime) -> Decision:
    """Which entries ``retention`` lets go, and why; pure.

    The proven entries kept are the newest ``keep_last`` and those of runs within
    ``keep_within``, and always the newest proven one. Only an entry older than every
    proven entry kept may go: a proven one the policy no longer keeps, or one never
    proven (its drill failed, or never ran) that a newer proven run superseded. Entries
    newer than the newest proven one (a drill still to come) are never candidates. An
    entry already marked ``deleting`` goes: a prune chose it before it was interrupted.
    """
    entries = sorted(manifest.entries, key=lambda e: e.sequence)
    proven = [e for e in entries if e.proven and not e.deleting]
    if not proven:
        interrupted = tuple((e, "a prune that was interrupted chose it") for e in entries
                            if e.deleting)  # fmt: skip
        return Decision(tuple(e for e in entries if not e.deleting), interrupted)
    kept: set[int] = {proven[-1].sequence}
    if retention.keep_last is not None:
        kept |= {e.sequence for e in proven[-retention.keep_last :]}
    if retention.keep_within is not None:
        for e in proven:
            when = parse_time(e.time)
            if when is not None and (now - when).total_seconds() <= retention.keep_within:
                kept.add(e.sequence)
    oldest_kept = min(kept)
    go: list[tuple[Entry, str]] = []
    keep: list[Entry] = []
    for e in entries:
        if e.deleting:
            go.append((e, "a prune that was interrupted chose it"))
        elif e.sequence < oldest_kept:
            go.append((e, _why(e, retention, len(proven))))
        else:
            keep.append(e)
    return Decision(tuple(keep), tuple(go))


def _why(entry: Entry, retention: Retention, proven: int) -> str:
    if not entry.proven:
        return "never proven, and a newer proven run superseded it"
    return f"{retention.describe()} of {proven} proven runs: run {entry.sequence} is older"


# Where the files and the manifest live.


class Store(Protocol):
    """A location's files and the export's manifest in it."""

    @property
    def where(self) -> str:
        """The location, secret-free, for messages."""

    def read_manifest(self, export: str) -> str | None:
        """The manifest's text, or None if there is none yet."""

    def write_manifest(self, export: str, text: str) -> None:
        """Replace the manifest atomically."""

    def stat(self, name: str) -> StoredFile | None:
        """The file ``name`` as it is now (None: not there, or not a regular file)."""

    def delete(self, name: str) -> None:
        """Delete the file ``name``; a missing one is no error."""


@dataclass
class MountStore:
    """A ``mount_point`` location as this runner sees it, at the same path."""

    path: Path

    @property
    def where(self) -> str:
        return f"mount_point {self.path}"

    def _manifest(self, export: str) -> Path:
        return self.path / MANIFEST_DIR / f"{export}.json"

    def read_manifest(self, export: str) -> str | None:
        path = self._manifest(export)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RetentionError(f"cannot read {path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "rb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    raise RetentionError(f"{path} is not a regular file")
                data = file.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:  # EIO from a network mount, say
            raise RetentionError(f"cannot read {path}: {exc.strerror}") from None
        if len(data) > MAX_MANIFEST_BYTES:
            raise RetentionError(f"{path} is larger than a manifest can be")
        return data.decode("utf-8", errors="replace")

    def write_manifest(self, export: str, text: str) -> None:
        path = self._manifest(export)
        try:
            if not self.path.is_dir():
                raise RetentionError(f"{self.where} is not a folder on this runner")
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise RetentionError(f"cannot write {path}: {exc.strerror}") from None

    def stat(self, name: str) -> StoredFile | None:
        try:
            info = (self.path / name).lstat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RetentionError(f"cannot read {self.path / name}: {exc.strerror}") from None
        return StoredFile(name, info.st_size) if stat.S_ISREG(info.st_mode) else None

    def delete(self, name: str) -> None:
        try:
            (self.path / name).unlink(missing_ok=True)
        except OSError as exc:
            raise RetentionError(f"cannot delete {self.path / name}: {exc.strerror}") from None


class S3Store:
    """An ``s3`` location's prefix, through boto3 (the ``s3`` extra)."""

    def __init__(
        self, location: S3Location, environ: Mapping[str, str], client: Any = None
    ) -> None:
        from redis_enterprise_export.extras import not_installed
        from redis_enterprise_export.run.listing import s3_client, s3_prefix

        self.bucket = location.bucket_name
        self.prefix = s3_prefix(location)
        self.where = f"s3://{self.bucket}/{self.prefix}"
        self._secrets = location.secrets(environ)
        try:
            # The run's own client if it has one (its listings'): another takes tenths of a second.
            self.client = client or s3_client(location, environ)
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            raise RetentionError(str(not_installed("boto3", f"pruning {self.where}"))) from None
        except Exception as exc:
            # A ConfigError (the secret's variable unset), or whatever one-line error
            # listing raises for a client it cannot make: secret-free either way.
            text = scrub(f"cannot reach {self.where}: {exc}", self._secrets)
            raise RetentionError(" ".join(text.split())) from None
        self._errors: tuple[type[BaseException], ...] = (BotoCoreError, ClientError)

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @contextmanager
    def _calling(self, doing: str) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            error = getattr(exc, "response", {}).get("Error", {})
            why = f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"
            text = scrub(f"cannot {doing}: {why}", self._secrets)
            raise RetentionError(" ".join(text.split())) from None

    def read_manifest(self, export: str) -> str | None:
        key = self._key(f"{MANIFEST_DIR}/{export}.json")
        with self._calling(f"read s3://{self.bucket}/{key}"):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=key)
            except self.client.exceptions.NoSuchKey:
                return None
            data: bytes = answer["Body"].read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise RetentionError(f"s3://{self.bucket}/{key} is larger than a manifest can be")
        return data.decode("utf-8", errors="replace")

    def write_manifest(self, export: str, text: str) -> None:
        key = self._key(f"{MANIFEST_DIR}/{export}.json")
        # One PUT replaces the object whole: readers see the old manifest or the new.
        with self._calling(f"write s3://{self.bucket}/{key}"):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=text.encode(), ContentType="application/json"
            )

    def stat(self, name: str) -> StoredFile | None:
        with self._calling(f"read s3://{self.bucket}/{self._key(name)}"):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(name))
            except self._errors[1] as exc:
                code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
                if code in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        return StoredFile(name, int(head.get("ContentLength", 0)), str(head.get("ETag", "")))

    def delete(self, name: str) -> None:
        with self._calling(f"delete s3://{self.bucket}/{self._key(name)}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))


def store_for(location: Location, environ: Mapping[str, str], s3: Any = None) -> Store:
    """The store of a location retention works in (``s3``: an S3 client to use);
    RetentionError for any other."""
    if isinstance(location, MountPointLocation):
        return MountStore(Path(location.path))
    if isinstance(location, S3Location):
        return S3Store(location, environ, s3)
    raise RetentionError(
        f"a {location.type} location cannot be listed or deleted from by the runner"
    )


# What a run does.


@dataclass
class PruneOutcome:
    """What a prune (or a record) did and left: the result's retention fields."""

    pruned: list[str] = field(default_factory=list)  # deleted (dry run: would be)
    planned: list[tuple[str, str]] = field(default_factory=list)  # file, why
    kept: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retained_files: int | None = None
    retained_bytes: int | None = None
    oldest_retained: str = ""
    unfinished: bool = False  # a deletion failed: its run stays marked for a rerun

    @property
    def note(self) -> str:
        return "; ".join(self.notes)

    def fields(self) -> dict[str, Any]:
        """The fields of ``contract.Retained``."""
        return {
            "pruned": list(self.pruned),
            "retained_files": self.retained_files,
            "retained_bytes": self.retained_bytes,
            "oldest_retained": self.oldest_retained,
            "retention_note": self.note,
        }

    def left(self, entries: Sequence[Entry]) -> None:
        """Count what the export's records hold now."""
        self.kept = list(entries)
        self.retained_files = sum(len(e.files) for e in entries)
        self.retained_bytes = sum(e.size for e in entries)
        times = sorted(e.time for e in entries)
        self.oldest_retained = times[0] if times else ""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def retention_lock(
    spec: ExportSpec,
    where: str,
    environ: Mapping[str, str],
    *,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    report: Callable[[str], None] = lambda _line: None,
    busy: str = "nothing was deleted (a rerun finishes the job)",
) -> Iterator[None]:
    """Hold the retention lock of export ``spec`` in the store at ``where``: this user's
    on this machine, and with coordination = "postgres" every runner's. Recording and
    pruning take it, so two never rewrite one manifest at once. PruneBusyError if
    another holds it past ``wait_seconds``, its message ending with ``busy``."""
    from contextlib import ExitStack

    from redis_enterprise_export.polling import Deadline, SystemClock
    from redis_enterprise_export.run.slots import database_lock, slots_dir

    # Keyed by where the manifest lives, not by cluster: the files are the location's.
    # The store's own words for it, so "/mnt/b" and "/mnt/b/" are one lock.
    key = "retention:" + json.dumps([where, spec.name])
    number = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    deadline = Deadline(SystemClock(), wait_seconds)

    def waiting() -> None:
        report(f"retention: waiting for another prune or record of export {spec.name!r} to end")

    with ExitStack() as held:
        # Only taking the locks is guarded here: what the block raises is its own.
        try:
            held.enter_context(
                database_lock(slots_dir(environ), key, number, deadline, on_wait=waiting)
            )
            if spec.cluster.coordination == "postgres":
                from redis_enterprise_export.run.coordination import PgLocks

                pg = PgLocks(environ, lambda _line: None)
                held.callback(pg.close)
                held.enter_context(pg.database(key, number, deadline, on_wait=waiting))
        except ExportTimeoutError:
            raise PruneBusyError(
                f"another prune or record of export {spec.name!r} held its retention lock "
                f"for {wait_seconds:g} s; {busy}"
            ) from None
        except InterruptedExportError:
            raise
        except ExportError as exc:
            raise RetentionError(
                f"cannot take export {spec.name!r}'s retention lock: {exc}"
            ) from None
        yield


def _read(store: Store, export: str) -> Manifest:
    text = store.read_manifest(export)
    if text is None:
        return Manifest(export)
    return Manifest.parse(text, export, f"{store.where} {MANIFEST_DIR}/{export}.json")


def _matches(store: Store, recorded: StoredFile, *, gone_ok: bool = False) -> str:
    """Why the file no longer matches its record, or "" (also when it is gone and
    ``gone_ok``)."""
    now = store.stat(recorded.name)
    if now is None:
        return "" if gone_ok else f"{recorded.name} is not in {store.where}"
    if now.size != recorded.size:
        return f"{recorded.name} is {now.size} bytes, not the {recorded.size} recorded"
    if recorded.etag and now.etag != recorded.etag:
        return f"{recorded.name}'s ETag is {now.etag}, not the {recorded.etag} recorded"
    return ""


def prune_locked(
    spec: ExportSpec,
    store: Store,
    *,
    dry_run: bool,
    report: Callable[[str], None],
    now: datetime | None = None,
) -> PruneOutcome:
    """Prune ``spec``'s files in ``store`` by its policy; the caller holds the lock."""
    outcome = PruneOutcome()
    retention = spec.retention
    manifest = _read(store, spec.name)
    if retention is None:
        outcome.left(manifest.entries)
        return outcome
    decision = plan(manifest, retention, now or datetime.now(UTC))
    newest = max((e for e in decision.keep if e.proven), key=lambda e: e.sequence, default=None)
    # Every deletion leans on the newest proven copy: gone or changed, nothing goes.
    stale = [p for f in newest.files if (p := _matches(store, f))] if newest and decision.go else []
    if newest and stale:
        outcome.notes.append(
            f"nothing deleted: the newest proven run {newest.sequence}, the copy the older "
            "ones would give way to, no longer matches its record: " + "; ".join(stale)
        )
        outcome.left(manifest.entries)
        return outcome
    # A name a kept run holds too is that run's file as well (rewritten in place).
    held = {f.name: e.sequence for e in decision.keep for f in e.files}
    going: list[Entry] = []
    kept = list(decision.keep)
    for entry, why in decision.go:
        # Files of an interrupted prune already deleted were meant to be.
        problems = [p for f in entry.files if (p := _matches(store, f, gone_ok=entry.deleting))]
        problems += [f"{f.name} is also kept run {held[f.name]}'s"
                     for f in entry.files if f.name in held]  # fmt: skip
        if problems:
            outcome.notes.append(f"kept run {entry.sequence}: " + "; ".join(problems))
            kept.append(entry)
            continue
        going.append(entry)
        outcome.planned += [(f.name, why) for f in entry.files]
    if dry_run:
        # What would be left: the counts a prune without --dry-run would record.
        outcome.pruned = [name for name, _ in outcome.planned]
        outcome.left(sorted(kept, key=lambda e: e.sequence))
        return outcome
    if not going:
        outcome.left(manifest.entries)
        return outcome
    chosen = {e.sequence for e in going}
    marked = tuple(replace(e, deleting=True) if e.sequence in chosen else e
                   for e in manifest.entries)  # fmt: skip
    store.write_manifest(spec.name, replace(manifest, entries=marked).to_json())
    gone: set[int] = set()
    for entry in going:
        try:
            for f in entry.files:
                store.delete(f.name)
                outcome.pruned.append(f.name)
                report(f"retention: deleted {f.name} ({f.size} bytes, run {entry.sequence})")
        except RetentionError as exc:
            outcome.notes.append(f"{exc} (run {entry.sequence} stays marked; a rerun finishes)")
            outcome.unfinished = True
            continue
        gone.add(entry.sequence)
    left = tuple(e for e in marked if e.sequence not in gone)
    store.write_manifest(spec.name, replace(manifest, entries=left).to_json())
    outcome.left(left)
    return outcome


def prune(
    spec: ExportSpec,
    environ: Mapping[str, str],
    *,
    dry_run: bool,
    report: Callable[[str], None],
    now: datetime | None = None,
) -> PruneOutcome:
    """Prune ``spec``'s own files by its retention policy, under its retention lock.

    Raises RetentionError (PruneBusyError when another prune holds the lock)."""
    store = store_for(spec.location, environ)
    with retention_lock(spec, store.where, environ, report=report):
        return prune_locked(spec, store, dry_run=dry_run, report=report, now=now)


def record(
    spec: ExportSpec,
    environ: Mapping[str, str],
    *,
    files: Sequence[str],
    run_id: str,
    proven: bool,
    report: Callable[[str], None],
    s3: Any = None,
) -> PruneOutcome:
    """Record a successful export's ``files`` in the manifest; if ``proven`` (no drill
    follows), prune right after; ``s3`` as for ``store_for``. Never raises: what went
    wrong is the outcome's note."""
    outcome = PruneOutcome()
    # No rerun records this run's files: left out, they stay unmanaged, so name them.
    busy = ("this run's files were not recorded, and no prune will ever delete them: "
            + ", ".join(files))  # fmt: skip
    try:
        store = store_for(spec.location, environ, s3)
        with retention_lock(spec, store.where, environ, report=report, busy=busy):
            manifest = _read(store, spec.name)
            stored: list[StoredFile] = []
            for name in files:
                now = store.stat(name)
                if now is None:
                    raise RetentionError(f"the export's file {name} is not in {store.where}")
                stored.append(now)
            entry = Entry(manifest.next_sequence, run_id, utc_now(), tuple(stored), proven)
            manifest = replace(
                manifest,
                next_sequence=manifest.next_sequence + 1,
                entries=(*manifest.entries, entry),
            )
            store.write_manifest(spec.name, manifest.to_json())
            report(f"retention: recorded run {entry.sequence} ({len(stored)} files)"
                   + ("" if proven else ", proven once its drill succeeds"))  # fmt: skip
            if not proven:
                outcome.left(manifest.entries)
                return outcome
            return prune_locked(spec, store, dry_run=False, report=report)
    except RetentionError as exc:
        outcome.notes.append(f"retention: {exc}")
    return outcome


def prove(
    spec: ExportSpec,
    environ: Mapping[str, str],
    *,
    files: Sequence[str],
    report: Callable[[str], None],
) -> PruneOutcome:
    """Mark the run that wrote ``files`` proven (its drill succeeded), then prune.
    Never raises: what went wrong is the outcome's note."""
    outcome = PruneOutcome()
    try:
        store = store_for(spec.location, environ)
        with retention_lock(spec, store.where, environ, report=report):
            manifest = _read(store, spec.name)
            names = set(files)
            match = [e for e in manifest.entries if {f.name for f in e.files} == names]
            if not match:
                raise RetentionError(
                    "the drilled files are not recorded as a run of the export; nothing "
                    "was proven or deleted"
                )
            newest = max(match, key=lambda e: e.sequence)
            entries = tuple(
                replace(e, proven=True) if e.sequence == newest.sequence else e
                for e in manifest.entries
            )
            store.write_manifest(spec.name, replace(manifest, entries=entries).to_json())
            report(f"retention: run {newest.sequence} is proven by its drill")
            return prune_locked(spec, store, dry_run=False, report=report)
    except RetentionError as exc:
        outcome.notes.append(f"retention: {exc}")
    return outcome
