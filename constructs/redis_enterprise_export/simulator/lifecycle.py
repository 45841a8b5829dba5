"""The export and import lifecycle: body checks, start, progress, file written or loaded, reset."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .redis_server import CorruptRdbError, Entry, read_rdb
from .scenario import Reply, Scenario
from .state import Database, iso_now

FAILURE_REASONS = ("no-permission", "wrong-file-path", "general-error")

# Required fields per documented location type (backup_location.md).
LOCATION_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "url": ({"url"}, set()),
    "sftp": ({"sftp_url"}, {"key"}),
    "s3": (
        {"bucket_name", "access_key_id", "secret_access_key"},
        {"subdir", "region_name", "encryption"},
    ),
    "gs": (
        {"bucket_name", "client_id", "client_email", "private_key_id", "private_key"},
        {"subdir"},
    ),
    "abs": ({"account_name", "container"}, {"account_key", "sas_token", "subdir"}),
    "mount_point": ({"path"}, set()),
}
# An import source names one file: s3, gs and abs add filename, mount_point's path
# is the file, url and sftp_url end with it (dataset_import_sources.md).
SOURCE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    kind: (required | {"filename"}, optional)
    if kind in ("s3", "gs", "abs")
    else (required, optional)
    for kind, (required, optional) in LOCATION_FIELDS.items()
}
# The share of an import's time spent "initializing" (fetching the file) before "importing".
INITIALIZING_SHARE = 0.2


@dataclass
class Run:
    """One export or import under way; its work is done when its time is up."""

    what: Any  # the export's location, or the import's sources
    body: Any  # the POST's body
    started: float
    seconds: float
    fail_reason: str | None
    done: bool = False
    finished_at: float | None = None  # wall clock, for measuring detection latency
    # Seconds the simulator itself spent at the end writing or loading the file (a
    # status read waits for it): its own cost, which the bench reports apart.
    work_seconds: float = 0.0
    action_uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    uid_read: bool = False  # a read has shown action_uid
    loses_keys: int = 0  # an import's: Scenario.import_loses_keys when it began
    s3_endpoint_url: str | None = None  # where an s3 export's object is written

    def step(self, now: float) -> float | None:
        """The share of its time gone at ``now``, below 1 while it runs; None once it
        ends: at its time, or halfway with ``fail_reason``. Marks the end."""
        fraction = (now - self.started) / self.seconds if self.seconds else 1.0
        if fraction < (0.5 if self.fail_reason else 1.0):
            return fraction
        self.done, self.finished_at = True, time.time()
        return None

    def shown_uid(self, foreign: str | None) -> str:
        """The action_uid a read shows: its own the first time; then ``foreign``, if set,
        as when RS runs another action on the bdb (Scenario.foreign_action_uid)."""
        shown = foreign if foreign is not None and self.uid_read else self.action_uid
        self.uid_read = True
        return shown


def begin_export(db: Database, body: Any, scenario: Scenario, now: float) -> Run:
    """Start the export of an accepted POST: ``exporting``, after any pre-start statuses."""
    db.pre_start = list(scenario.pre_start_statuses)
    seconds, reason = _export_seconds(db, scenario), _next_fail_reason(scenario)
    db.export = Run(body["export_location"], body, now, seconds, reason)
    db.export.s3_endpoint_url = scenario.s3_endpoint_url
    db.export_status, db.export_progress, db.export_failure_reason = "exporting", 0.0, ""
    return db.export


def begin_import(db: Database, body: Any, scenario: Scenario, now: float) -> Run:
    """Start the import of an accepted POST: ``initializing``, then ``importing``."""
    sources = list(body["dataset_import_sources"])
    seconds = _import_seconds(sources, scenario)
    db.load = Run(sources, body, now, seconds, scenario.import_fail_reason)
    db.load.loses_keys = scenario.import_loses_keys
    db.import_status, db.import_progress, db.import_failure_reason = "initializing", 0.0, ""
    return db.load


def reset_export(db: Database) -> None:
    """export_reset_status: ``idle``, as export_reset_status.md says."""
    db.pre_start = []
    db.export_status, db.export_progress, db.export_failure_reason = "idle", 0.0, ""


def reset_import(db: Database) -> None:
    """import_reset_status: the same for the import's fields."""
    db.import_status, db.import_progress, db.import_failure_reason = "idle", 0.0, ""


def busy(db: Database, scenario: Scenario, now: float) -> bool:
    """Whether a POST must be answered 409: a scripted conflict (used up by this
    answer), or an export or import running on ``db`` (under the lock)."""
    advance(db, now)
    if scenario.conflicts > 0:
        scenario.conflicts -= 1
        return True
    return db.exporting() or db.importing()


def lacks_backup_restore(db: Database, scenario: Scenario) -> Reply | None:
    """The 406 for a database loading a module without backup_restore, or None."""
    lacking = [m.module_name for m in db.modules if "backup_restore" not in m.capabilities]
    if not lacking:
        return None
    return scenario.error(
        406,
        "unsupported_module_capabilities",
        f"module {lacking[0]} does not support backup_restore",
    )


def at_export_limit(databases: Iterable[Database], scenario: Scenario, now: float) -> bool:
    """Whether ``max_concurrent_exports`` exports already run."""
    limit = scenario.max_concurrent_exports
    if limit is None:
        return False
    running = 0
    for db in databases:
        advance(db, now)
        running += db.export_status == "exporting"
    return running >= limit


def _next_fail_reason(scenario: Scenario) -> str | None:
    """The reason the export being started will fail with, if it is to fail."""
    if scenario.fail_exports is None:
        return scenario.fail_reason
    if scenario.fail_exports <= 0:
        return None
    scenario.fail_exports -= 1
    return scenario.fail_reason


def _export_seconds(db: Database, scenario: Scenario) -> float:
    rate = scenario.export_bytes_per_second
    extra = db.dataset_bytes() / rate if rate else 0.0
    return scenario.export_seconds + extra


def _import_seconds(sources: list[Any], scenario: Scenario) -> float:
    """The import's time: fixed, plus the bytes of the files it reads at the rate. Only
    a mount_point source is a file here; a remote one reads as empty (see _load)."""
    rate = scenario.import_bytes_per_second
    if not rate:
        return scenario.import_seconds
    size = 0
    for source in sources:
        path = Path(source["path"]) if source.get("type") == "mount_point" else None
        if path is not None and path.is_file():
            size += path.stat().st_size
    return scenario.import_seconds + size / rate


def go_stale(db: Database, scenario: Scenario) -> None:
    """Keep showing the state before this action for the next few reads."""
    db.stale_reads, db.stale_view = scenario.stale_reads, db.fields(scenario)


def view(db: Database, scenario: Scenario, now: float) -> dict[str, Any]:
    """What a read shows: the current state, or the stale one right after an action."""
    advance(db, now)
    if db.stale_reads > 0:
        db.stale_reads -= 1
        return db.stale_view
    data = db.fields(scenario)
    if db.pre_start:
        data["export_status"] = db.pre_start.pop(0)
        data.pop("action_uid", None)
    elif "action_uid" in data and (run := db.action()) is not None:
        data["action_uid"] = run.shown_uid(scenario.foreign_action_uid)
    return data


def advance(db: Database, now: float) -> None:
    """Bring the export's and the import's state up to ``now`` (under the lock)."""
    actions = (
        (db.export, _exporting, _exported),
        (db.load, _importing, _imported),
    )
    for run, running, ended in actions:
        if run is None or run.done:
            continue
        fraction = run.step(now)
        if fraction is None:
            began = time.monotonic()
            ended(db, run)
            run.work_seconds = time.monotonic() - began
        else:
            running(db, round(100.0 * fraction, 1))


class Finisher:
    """Ends each action on time even if nobody reads: an action holds the database busy."""

    def __init__(self, lock: threading.RLock, clock: Callable[[], float]) -> None:
        self.lock, self.clock = lock, clock
        self._timers: list[threading.Timer] = []
        self._closed = False

    def finish_on_time(self, db: Database, seconds: float) -> None:
        timer = threading.Timer(seconds, self._finish, (db,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _finish(self, db: Database) -> None:
        with self.lock:
            if not self._closed:
                advance(db, self.clock())

    def close(self) -> None:
        """Cancel the pending timers; the redis-servers are about to stop."""
        with self.lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()


def _exporting(db: Database, percent: float) -> None:
    db.export_progress = percent


def _exported(db: Database, export: Run) -> None:
    reason = export.fail_reason or _write(db, export.what, export.s3_endpoint_url)
    if reason:
        db.export_status, db.export_failure_reason = "failed", reason
        return
    db.export_status, db.export_progress = "succeeded", 100.0
    db.last_export_time = iso_now()


def _importing(db: Database, percent: float) -> None:
    db.import_status = "initializing" if percent < 100 * INITIALIZING_SHARE else "importing"
    db.import_progress = percent


def _imported(db: Database, load: Run) -> None:
    reason = load.fail_reason or _load(db, load.what, load.loses_keys)
    db.import_status, db.import_failure_reason = ("failed", reason) if reason else ("succeeded", "")
    if not reason:
        db.import_progress = 100.0


def _load(db: Database, sources: list[dict[str, Any]], loses_keys: int = 0) -> str:
    """Load the sources into the database; returns a failure reason, or "" on success.

    All sources are read and checked first, and only then is the database erased
    and loaded, in one transaction: a failed import leaves the old data (ours: RS
    documents no outcome for the data of a failed import).
    """
    files: list[Path] = []
    for source in sources:
        if source["type"] != "mount_point":
            continue  # remote stores are not reachable from here: read as empty
        path = Path(source["path"])
        if not path.is_file() or not os.access(path, os.R_OK):
            return "download-error"
        files.append(path)
    entries: list[Entry] = []
    try:
        for path in files:
            entries += read_rdb(path)
    except CorruptRdbError:
        return "file-corrupted"
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return "general-error"  # the file was checked whole; loading it failed anyway
    if db.redis is None:
        return "general-error" if files else ""
    # Active-Active: "imported data is merged" (import-data.md); counters that add
    # up are not modelled: a key from the file replaces the one there.
    if loses_keys > 0:
        entries = entries[: max(len(entries) - loses_keys, 0)]
    db.redis.replace_data(entries, erase=not db.crdt)
    return ""


def _write(db: Database, location: dict[str, str], s3_endpoint_url: str | None = None) -> str:
    """Write the export file; returns a failure reason, or "" on success."""
    if location["type"] == "s3" and s3_endpoint_url:
        return _put_s3(db, location, s3_endpoint_url)
    if location["type"] != "mount_point":
        return ""  # remote stores are not reachable from here; accepted as written
    target = Path(location["path"])
    if not target.is_dir():
        return "wrong-file-path"
    if not os.access(target, os.W_OK):
        return "no-permission"
    if db.redis is None:
        return "general-error"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    # Like RS: the name (first 30 characters) and a timestamp, gzipped RDB.
    path = target / f"{db.name[:30]}-{db.uid}-{stamp}.rdb.gz"
    with db.redis.dump().open("rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    db.files.append(path)
    return ""


def _put_s3(db: Database, location: dict[str, str], endpoint: str) -> str:
    """Write the export as one object under the location's subdir, named as on a mount
    point, with the location's credentials (boto3, which only this needs)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    subdir = (location.get("subdir") or "").strip("/")
    key = f"{subdir}/" if subdir else ""
    key += f"{db.name[:30]}-{db.uid}-{stamp}.rdb.gz"
    if db.redis is None:
        return "general-error"
    with db.redis.dump().open("rb") as src:
        data = gzip.compress(src.read())
    try:
        client = boto3.session.Session(
            aws_access_key_id=location.get("access_key_id"),
            aws_secret_access_key=location.get("secret_access_key"),
            region_name=location.get("region_name") or "us-east-1",
        ).client("s3", endpoint_url=endpoint)
        client.put_object(Bucket=location["bucket_name"], Key=key, Body=data)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return "no-permission" if code in ("AccessDenied", "403") else "wrong-file-path"
    except BotoCoreError:
        return "general-error"
    return ""


def check_export_body(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("export_location"), dict):
        return "export_location: expected an object"
    return _check_attributes(body, "export_location") or _check_location(
        body["export_location"], "export_location", LOCATION_FIELDS
    )


def check_import_body(body: Any) -> str:
    # With no body RS imports from the database's configured sources; the simulated
    # databases have none (ours).
    sources = body.get("dataset_import_sources") if isinstance(body, dict) else None
    if not isinstance(sources, list) or not sources:
        return "dataset_import_sources: expected a non-empty array (no sources are configured)"
    problems = (
        _check_location(source, f"dataset_import_sources[{i}]", SOURCE_FIELDS)
        if isinstance(source, dict)
        else f"dataset_import_sources[{i}]: expected an object"
        for i, source in enumerate(sources)
    )
    return _check_attributes(body, "dataset_import_sources") or next(
        (problem for problem in problems if problem), ""
    )


def _check_attributes(body: dict[str, Any], main: str) -> str:
    """Only ``main`` and email_notification: "Other attributes are not allowed"."""
    extra = set(body) - {main, "email_notification"}
    if extra:
        return f"unknown attribute {sorted(extra)[0]}"
    if "email_notification" in body and not isinstance(body["email_notification"], bool):
        return "email_notification: expected a boolean"
    return ""


def _check_location(
    location: dict[str, Any], name: str, table: dict[str, tuple[set[str], set[str]]]
) -> str:
    kind = location.get("type")
    if kind not in table:
        return f"{name}.type {kind!r} is not supported"
    required, optional = table[kind]
    missing = required - set(location)
    if missing:
        return f"{name}.{sorted(missing)[0]} is required"
    unknown = set(location) - required - optional - {"type"}
    if unknown:
        return f"{name}.{sorted(unknown)[0]} is not allowed for type {kind}"
    if kind == "abs" and ("account_key" in location) == ("sas_token" in location):
        return f"{name}: exactly one of account_key and sas_token"
    return ""
