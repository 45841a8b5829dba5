"""The scenario switches tests set per case, and the request and answer records."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Scenario:
    """Faults and timings for the next requests; tests set these per case."""

    export_seconds: float = 1.0  # plus data_bytes / export_bytes_per_second, if that is set
    import_seconds: float = 1.0  # plus the sources' file bytes / import_bytes_per_second
    # Fail imports midway with this import_failure_reason, whatever the file holds
    # (e.g. "out-of-memory", "file-larger-than-mem-limit:2048:1024").
    import_fail_reason: str | None = None
    # A succeeded import loads this many keys fewer than its files hold (the last ones),
    # so a drill's key count disagrees with the export's.
    import_loses_keys: int = 0
    export_bytes_per_second: float | None = None
    import_bytes_per_second: float | None = None
    # Like rladmin's max_simultaneous_backups: a POST beyond it is answered 409.
    max_concurrent_exports: int | None = None
    conflicts: int = 0  # answer 409 to this many POSTs first
    stale_reads: int = 0  # after an accepted POST or reset, reads show the old state this often
    fail_reason: str | None = None  # fail exports midway with this reason
    # With fail_reason: fail only this many exports from now on (None: every one).
    fail_exports: int | None = None
    progress_as_string: bool = False
    # Every read shows export_progress as the string "NaN", JSON null, or the string
    # "junk": the docs say a number, the actions API sends strings; be ready for worse.
    non_numeric_progress: Literal["NaN", "null", "junk"] | None = None
    # After an accepted POST, the next reads show these statuses in turn (e.g.
    # "initializing", "queued": import_status has them, export_status may) before
    # "exporting". export_status is not a closed set in practice.
    pre_start_statuses: list[str] = field(default_factory=list)
    # The running export's uid as the bdb's action_uid (UNCONFIRMED that RS shows
    # it); False: no action_uid anywhere (the POST's 200 has no body either way).
    action_uid: bool = True
    # Set: from the second read of a running export or import on, the bdb's action_uid
    # is this other uid, as when RS runs a state-machine action of its own on the
    # database (e.g. SMUpdateBDB); the export or import carries on and ends as before.
    foreign_action_uid: str | None = None
    # GET /v1/users rows carry role_uids instead of role, as on RBAC clusters.
    rbac: bool = False
    # A database's statistics are sampled at most this often; in between, reads show
    # the last sample, so a change (an import) shows late. 0: every read samples.
    stats_interval_seconds: float = 1.0
    # Unique per simulator, as a real cluster's FQDN: helpers key their locks by it,
    # and the simulators of tests running at once must not share them.
    cluster_name: str = field(default_factory=lambda: f"cluster-{uuid.uuid4().hex[:12]}.sim.local")
    # GET /v1/cluster's created_time, as the docs' example spells it: a second of the
    # last ten years, at random, so two simulators given one name are still two clusters.
    cluster_created: str = field(
        default_factory=lambda: time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - uuid.uuid4().int % 315_360_000)
        )
    )
    # The cluster setting: a node that is not the master forwards requests to it.
    handle_redirects: bool = False
    # Set: this node is not the master, whose internal address this is; unless
    # handle_redirects, every request is answered 307 with a Location there.
    master_url: str | None = None
    error_text_field: str = "description"  # or "message", as older clusters send
    # Transport faults per method, taken one per request in order: "" (none),
    # "503" (answered before any work: nothing started), "503-started" (processed,
    # e.g. an export started, then answered 503), "reset" (connection reset,
    # request not processed), "drop" (processed, then the connection reset: the
    # answer is lost), "slow:<seconds>", "html", "trickle" (processed, then the
    # answer sent a byte every TRICKLE_SECONDS, as a stalled proxy or a sick node does).
    # The list is the whole plan for its method: a request beyond it is answered
    # 500 and fails Simulator.check_assertions(), unless the list ends with "...",
    # which answers every later request normally. Methods not listed are normal.
    faults: dict[str, list[str]] = field(default_factory=dict)
    # Set: an export to an s3 location writes its object to this S3 endpoint (moto in
    # the tests) with the location's own credentials; unset, it is accepted as written.
    s3_endpoint_url: str | None = None

    def error(self, status: int, code: str, text: str) -> Reply:
        """An error answer, its text under ``error_text_field``."""
        return Reply(status, {"error_code": code, self.error_text_field: text})


@dataclass
class Reply:
    """One answer: its status, JSON body and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """One request as the simulator saw it (no body: bodies may carry secrets)."""

    method: str
    path: str
    query: str
    user: str
    status: int  # the cluster's own answer, even when a fault (drop, 503-started) replaced it
    at: float = field(default_factory=time.time)  # wall clock, comparable across processes
    body: Any = None  # the answer (the simulator's own, never a secret)
