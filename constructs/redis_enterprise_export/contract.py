"""The run contract between the construct and the helper: one home for it.

The construct sets these environment variables on the local-exec and reads the
result file back into state; the helper reads the variables and writes the file.
Both import the names and the record's shape from here, so they cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self

from redis_enterprise_export.errors import HIDDEN, ConfigError, ExportError
from redis_enterprise_export.redact import scrub
from redis_enterprise_export.spec.export import ExportSpec

# What the construct passes to the helper.
SPEC_ENV = "REDIS_EXPORT_SPEC"  # the secret-free spec, as JSON
RESULT_ENV = "REDIS_EXPORT_RESULT"  # where to write the result record
RUN_ID_ENV = "REDIS_EXPORT_RUN_ID"  # the run id, recorded in the result
DRILL_ENV = "REDIS_EXPORT_DRILL"  # a drill's spec, as JSON (its export's is SPEC_ENV)
EXPORT_RESULT_ENV = "REDIS_EXPORT_EXPORT_RESULT"  # a drill's export's result file
# "1": an outcome the result file holds exits 0, and the stack fails the apply from
# the record (see ``DatabaseExport``), so the failed run's record still reaches state.
RECORDED_FAILURE_ENV = "REDIS_EXPORT_RECORDED_FAILURE"
# "1": a drill of this export follows in the apply, so its files are proven (and old
# ones pruned, with a retention policy) only once the drill succeeded.
DRILLED_ENV = "REDIS_EXPORT_DRILLED"
# The cluster's CA PEM, in numbered parts: Linux refuses one environment string
# over 128 KiB, and corporate bundles are larger than that.
CA_ENV_PREFIX = "REDIS_EXPORT_CA_"
CA_PART_CHARS = 96 * 1024

# What a person may set around the helper.
INSECURE_ENV = "REDIS_ENTERPRISE_INSECURE"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"  # GitHub Actions' job summary file
SLOTS_ENV = "REDIS_EXPORT_SLOTS_DIR"

# Result files, relative to the stack's folder (Terraform's working directory).
RESULTS_DIR = ".results"
HELPER_MODULE = "redis_enterprise_export"
# Terraform's local-exec runs ``python -c HELPER_BOOTSTRAP COMMAND``: the helper, as
# ``python -m`` would run it; or, for a Python that lacks the package (a forgotten
# venv), one line and exit 2 (bad input), not Python's own exit 1 (a bug). It imports
# nothing of the package, so the helper's start costs no more.
HELPER_BOOTSTRAP = (
    "import importlib.util,runpy,sys\n"
    f"if importlib.util.find_spec({HELPER_MODULE!r}) is None:\n"
    f" sys.stderr.write('error: '+sys.executable+' has no {HELPER_MODULE} package: "
    "activate the environment that has the package (or set the construct\\'s python to "
    "its Python), then apply again\\n');sys.exit(2)\n"
    f"runpy.run_module({HELPER_MODULE!r},run_name='__main__',alter_sys=True)"
)


def helper_interpreter(python: str) -> list[str]:
    """The local-exec interpreter that runs the helper with ``python``."""
    return [python, "-c", HELPER_BOOTSTRAP]


def result_path(name: str) -> str:
    """The result file of export ``name``, relative to the stack's folder."""
    return f"{RESULTS_DIR}/{name}.json"


def unique_id(path: list[str]) -> str:
    """The logical id cdktf gives the element at ``path`` below its stack
    (``makeUniqueId`` in cdktf's ``private/unique.ts``), so addresses in existing
    state stay what they were when each resource was a framework object."""
    path = [part for part in path if part != "Default"]
    if len(path) == 1 and len(_allowed(path[0])) <= 255:
        return _allowed(path[0])
    digest = hashlib.md5("/".join(path).encode(), usedforsecurity=False).hexdigest()
    human: list[str] = []
    for part in path:
        if not human or not human[-1].endswith(part):
            human.append(part)
    text = "_".join(_allowed(part) for part in human if part != "Resource")[:240]
    return f"{text}_{digest[:8].upper()}"


def _allowed(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "", part)


def ca_parts(pem: str) -> list[str]:
    """``pem`` cut into environment-sized parts, in order."""
    return [pem[i : i + CA_PART_CHARS] for i in range(0, len(pem), CA_PART_CHARS)] or [""]


def ca_from_env(environ: Mapping[str, str]) -> str | None:
    """The CA PEM the construct passed in parts, or None if it passed none."""
    parts: list[str] = []
    while (part := environ.get(f"{CA_ENV_PREFIX}{len(parts)}")) is not None:
        parts.append(part)
    return "".join(parts) or None


def pack_spec(spec: ExportSpec) -> tuple[dict[str, Any], str | None]:
    """The spec as the stack carries it, and its CA PEM, which travels apart.

    The packed spec holds the CA's hash instead: it is stored in state once per
    export, and a 200 KiB bundle there would be repeated for every export.
    """
    data = spec.to_dict()
    pem = data["cluster"].pop("ca_cert_pem")
    if pem is not None:
        data["cluster"]["ca_cert_sha256"] = ca_digest(pem)
    return data, pem


def unpack_spec(data: Mapping[str, Any], environ: Mapping[str, str]) -> ExportSpec:
    """The spec ``pack_spec`` wrote, its CA read back from the environment and checked."""
    if not isinstance(data, Mapping) or not isinstance(data.get("cluster"), Mapping):
        raise ConfigError("spec", HIDDEN, "a JSON object as the construct writes it")
    cluster = dict(data["cluster"])
    digest = cluster.pop("ca_cert_sha256", None)
    if digest is not None:
        pem = ca_from_env(environ)
        if pem is None or ca_digest(pem) != digest:
            raise ConfigError(
                f"{CA_ENV_PREFIX}0..",
                "nothing" if pem is None else "another CA",
                "the CA the stack was synthesized with (synthesize and apply the same stack)",
            )
        cluster["ca_cert_pem"] = pem
    return ExportSpec.from_dict(dict(data) | {"cluster": cluster})


def ca_digest(pem: str) -> str:
    return hashlib.sha256(pem.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """Epoch seconds at which the helper reached each phase; None if it did not."""

    started: float | None = None
    slot: float | None = None
    accepted: float | None = None
    finished: float | None = None


class Record:
    """A helper's JSON record of one run, as Terraform reads it into state.
    Subclasses are dataclasses whose every field has a default and which have a
    ``message``."""

    @classmethod
    def missing(cls, path: str) -> Self:
        """What the output shows when the helper's file is not there to read."""
        return cls(message=f"{path} was missing (read on another machine, or not written)")  # type: ignore[call-arg]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The record ``data`` holds, its unknown keys (a newer version's) left out."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON: a NaN here would make Terraform's jsondecode fail on every plan."""
        return json.dumps(_finite(self.to_dict()), indent=indent, sort_keys=True, allow_nan=False)

    def write(self, path: Path) -> None:
        """Write atomically: readers see the old file or the new, never half of one."""
        text = self.to_json() + "\n"
        # Private whatever the umask: mkstemp makes the file 0600, and no other user
        # may replace it in its folder.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True, kw_only=True)
class Retained:
    """What a retention policy left, and took, after a run (see ``run.retention``);
    the defaults when the export has no policy, or a record older than retention."""

    # The files deleted by this run's prune.
    pruned: list[str] = field(default_factory=list)
    # The export's own recorded files still in its location, their bytes, and the time
    # of the oldest run they hold; None when not known (no policy, or not read).
    retained_files: int | None = None
    retained_bytes: int | None = None
    oldest_retained: str = ""
    # What the prune could not do, or kept and why; "" when all went as the policy says.
    retention_note: str = ""


@dataclass(frozen=True, kw_only=True)
class Result(Retained, Record):
    """One export's outcome: what the helper writes and the ``exports`` output shows.

    Every key is always present, so a missing file has the same shape as a real one.
    """

    name: str = ""
    run_id: str = ""
    database_uid: int | None = None
    database_name: str = ""
    export_status: str = "unknown"
    export_progress: float | None = None  # None: the cluster showed none as a number
    export_failure_reason: str = ""
    last_export_time: str = ""
    location: str = ""
    message: str = ""
    conflicts: int = 0
    status_reads: int = 0
    # For drills: the database's no_of_keys (bdb statistics) right before the POST
    # and right after success; None, and keys_note says why, when not read.
    keys_before: int | None = None
    keys_after: int | None = None
    keys_note: str = ""
    # The files the export wrote, when the runner could list its location; else
    # None, and files_note says why.
    files: list[str] | None = None
    files_note: str = ""
    started_at: str = ""
    finished_at: str = ""
    timeline: Timeline = field(default_factory=Timeline)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        timeline = Timeline(**dict(data.get("timeline") or {}))
        return super().from_dict({**data, "timeline": timeline})

    def scrubbed(self, secrets: list[str]) -> Result:
        """This record with ``secrets`` taken out of the text the cluster wrote."""
        return replace(
            self,
            message=scrub(self.message, secrets),
            export_failure_reason=scrub(self.export_failure_reason, secrets),
            database_name=scrub(self.database_name, secrets),
            last_export_time=scrub(self.last_export_time, secrets),
            keys_note=scrub(self.keys_note, secrets),
            files_note=scrub(self.files_note, secrets),
            retention_note=scrub(self.retention_note, secrets),
        )


@dataclass(frozen=True, kw_only=True)
class DrillResult(Retained, Record):
    """One drill's outcome: what ``drill`` writes and the ``drills`` output shows.

    ``drill_status`` is ``succeeded`` only when the import succeeded and the
    scratch database's key count was within the tolerance of the source's.
    """

    name: str = ""
    export: str = ""  # the export it drilled
    run_id: str = ""
    drill_status: str = "unknown"
    database_uid: int | None = None  # the scratch database
    files: list[str] = field(default_factory=list)
    keys_expected_min: int | None = None
    keys_expected_max: int | None = None
    key_tolerance_percent: float = 0.0
    keys_loaded: int | None = None
    import_failure_reason: str = ""
    import_seconds: float | None = None
    count_seconds: float | None = None
    message: str = ""
    export_finished_at: str = ""  # which of the export's runs it proved
    started_at: str = ""
    finished_at: str = ""


def drill_result_path(name: str) -> str:
    """The result file of drill ``name``, relative to the stack's folder (apart from
    the exports', whose names drills share)."""
    return f"{RESULTS_DIR}/drills/{name}.json"


def outcome_status(outcome: BaseException | None) -> str:
    """The status word a run that ended with ``outcome`` records."""
    if outcome is None:
        return "succeeded"
    return outcome.status if isinstance(outcome, ExportError) else "error"


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
