"""Each export's own records, as ``status`` reads them from the synthesized stack.

Two sources, both this project's own: each export's records in Terraform state
(its ``result`` resource, the latest run's record, and its ``last_success``, which
a failed export never replaces), read with ``terraform show -json``, which works
for every backend once the stack is initialized; and ``.results/<name>.json``, which the helper
writes on this runner for its latest attempt, whatever its outcome. The
cluster's per-database fields cannot tell two exports of one database apart;
these can.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis_enterprise_export.commands.terraform import terraform_json
from redis_enterprise_export.contract import (
    DrillResult,
    Result,
    drill_result_path,
    result_path,
    unique_id,
)
from redis_enterprise_export.spec.values import parse_time, read_bounded

SUCCEEDED = "succeeded"
STACK_FILE = "cdk.tf.json"  # what synthesis writes into the stack's folder
STATE, RESULTS_FILE = "state", "results file"


@dataclass(frozen=True)
class Outcome:
    """One run of one export (or of one drill of it), as its own record tells it."""

    export_status: str
    run_id: str
    started_at: str
    finished_at: str
    export_failure_reason: str
    message: str
    source: str  # STATE or RESULTS_FILE
    # What its retention policy kept after the run (``contract.Retained``); None: none.
    retained_files: int | None = None
    retained_bytes: int | None = None
    oldest_retained: str = ""
    retention_note: str = ""

    @classmethod
    def of(cls, result: Result | DrillResult, source: str) -> Outcome:
        # A record is read back from a file: its fields are only as typed as the file.
        if isinstance(result, DrillResult):
            status, reason = result.drill_status, result.import_failure_reason
        else:
            status, reason = result.export_status, result.export_failure_reason
        return cls(
            export_status=str(status or "unknown"),
            run_id=str(result.run_id or ""),
            started_at=str(result.started_at or ""),
            finished_at=str(result.finished_at or ""),
            export_failure_reason=str(reason or ""),
            message=str(result.message or ""),
            source=source,
            retained_files=_count(result.retained_files),
            retained_bytes=_count(result.retained_bytes),
            oldest_retained=str(result.oldest_retained or ""),
            retention_note=str(result.retention_note or ""),
        )

    @property
    def when(self) -> datetime | None:
        """When the run ended (or, not ended, began), for ordering; None if unknown."""
        return parse_time(self.finished_at) or parse_time(self.started_at)


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


@dataclass(frozen=True)
class OwnRecords:
    """What the stack says of each export, and of its drills (by the export's name);
    ``error`` says why nothing was read."""

    stack: Path
    error: str = ""
    latest: dict[str, Outcome] = field(default_factory=dict)
    last_success: dict[str, Outcome] = field(default_factory=dict)
    drill_latest: dict[str, Outcome] = field(default_factory=dict)
    drill_last_success: dict[str, Outcome] = field(default_factory=dict)

    @property
    def read(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class _Kind:
    """Where one kind of record lives: its record resources' addresses, and its file."""

    record: type[Result] | type[DrillResult]
    addresses: Callable[[str], tuple[str, ...]]
    file: Callable[[str], str]


EXPORTS = _Kind(
    Result,
    lambda name: (unique_id([name, "result"]), unique_id([name, "last_success"])),
    result_path,
)
# As ExportStack places them: DatabaseDrill constructs in its "drills" scope.
DRILLS = _Kind(
    DrillResult, lambda name: (unique_id(["drills", name, "result"]),), drill_result_path
)


def read_own_records(
    stack: Path,
    names: Iterable[str],
    environ: Mapping[str, str],
    drills: Mapping[str, str] | None = None,
) -> OwnRecords:
    """The latest outcome and the last success of each export in ``names``, and of
    its drills (``drills`` maps a drill's name to its export's)."""
    names = list(names)
    # Terraform reads any folder, an empty one as an empty state: that is no stack.
    if not (stack / STACK_FILE).is_file():
        return OwnRecords(
            stack,
            f"no stack at {stack} (no {STACK_FILE}: synthesize it and run terraform init "
            "there, or give --stack)",
        )
    state, error = terraform_json(stack, ["show", "-json"], environ)
    if state is None:
        return OwnRecords(stack, error)
    latest, last_success = _outcomes(stack, state, EXPORTS, {name: name for name in names})
    drill_latest, drill_success = _outcomes(stack, state, DRILLS, dict(drills or {}))
    return OwnRecords(stack, "", latest, last_success, drill_latest, drill_success)


def _outcomes(
    stack: Path, state: Mapping[str, Any], kind: _Kind, owners: Mapping[str, str]
) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """The newest outcome and the newest success among the records of ``owners``'
    names, each under its owner's name (an export's, for its drills)."""
    in_state = records_in_state(state, list(owners), kind)
    latest: dict[str, Outcome] = {}
    last_success: dict[str, Outcome] = {}
    for name, owner in owners.items():
        known = [Outcome.of(r, STATE) for r in in_state.get(name, [])]
        mine = _results_file(stack / kind.file(name), kind)
        if mine is not None:
            known.append(mine)
        if owner in latest:
            known.append(latest[owner])
        if not known:
            continue
        latest[owner] = _newest(known)
        good = [o for o in known if o.export_status == SUCCEEDED]
        if owner in last_success:
            good.append(last_success[owner])
        if good:
            last_success[owner] = _newest(good)
    return latest, last_success


def _newest(outcomes: list[Outcome]) -> Outcome:
    """The newest outcome. At a tie, and when the results file's time is unknown (a
    record that could not be read), the file wins: it is this runner's latest attempt."""

    def order(outcome: Outcome) -> tuple[datetime, bool]:
        mine = outcome.source == RESULTS_FILE
        unknown = datetime.max if mine else datetime.min
        return outcome.when or unknown.replace(tzinfo=UTC), mine

    return max(outcomes, key=order)


def results_in_state(state: Mapping[str, Any], names: list[str]) -> dict[str, list[Result]]:
    """Each export's ``result`` resource in state, by export name."""
    found = records_in_state(state, names, EXPORTS)
    return {name: [r for r in records if isinstance(r, Result)] for name, records in found.items()}


def records_in_state(
    state: Mapping[str, Any], names: list[str], kind: _Kind
) -> dict[str, list[Result | DrillResult]]:
    """Each ``result`` resource of ``kind`` in state, by name: found by its address
    (the construct's logical id), or by the record's own ``name``."""
    by_address = {
        f"terraform_data.{address}": name for name in names for address in kind.addresses(name)
    }
    values = state.get("values")
    module = values.get("root_module") if isinstance(values, dict) else None
    resources = module.get("resources") if isinstance(module, dict) else None
    found: dict[str, list[Result | DrillResult]] = {}
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, dict) or resource.get("type") != "terraform_data":
            continue
        if resource.get("deposed_key") or resource.get("mode", "managed") != "managed":
            continue  # a leftover of a failed replacement: not the current record
        output = (resource.get("values") or {}).get("output")
        record = _record(output, kind)
        if record is None:
            continue
        name = by_address.get(str(resource.get("address")))
        if name is None and record.name in names and _is_kind(str(output), kind):
            name = record.name
        if name is not None:
            found.setdefault(name, []).append(record)
    return found


def _is_kind(output: str, kind: _Kind) -> bool:
    """Whether a record's JSON is of ``kind`` (a drill's has drill_status), so a drill
    and an export of the same name are not taken for each other."""
    return ('"drill_status"' in output) == (kind is DRILLS)


def _record(output: Any, kind: _Kind) -> Result | DrillResult | None:
    """A result resource's output (the helper's JSON record, as a string) as a record."""
    if not isinstance(output, str) or not output:
        return None
    try:
        data = json.loads(output)
        return kind.record.from_dict(data) if isinstance(data, dict) else None
    except (ValueError, TypeError, RecursionError):  # nested too deep for the parser
        return None


def _results_file(path: Path, kind: _Kind) -> Outcome | None:
    """This runner's latest attempt; one that cannot be read is an unknown outcome."""
    try:
        data = json.loads(read_bounded(path, "file", "result file").decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return Outcome.of(kind.record.from_dict(data), RESULTS_FILE)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        reason = (
            exc.strerror
            if isinstance(exc, OSError) and exc.strerror
            else "nested too deep"
            if isinstance(exc, RecursionError)
            else str(exc)
        )
        return Outcome.of(
            Result(export_status="unknown", message=f"{path} could not be read: {reason}"),
            RESULTS_FILE,
        )


@dataclass(frozen=True)
class ExportStatus:
    """One export: its own records, its database as the cluster shows it now, and
    ``problem`` (empty when all is well).

    ``database`` is as configured; ``database_name`` and ``database_uid`` as the
    cluster reports them (as configured when it was not read). ``export_status``
    to ``age_seconds`` are the cluster's per-database fields. ``freshness_from``
    says which last success ``--max-age`` judged: the export's own, or (own
    records not read) the cluster's ``last_export_time``."""

    export: str
    cluster: str
    database: str
    database_uid: int | None
    database_name: str
    export_status: str
    export_progress: float | None
    export_failure_reason: str
    last_export_time: str
    age_seconds: float | None
    own_latest: Outcome | None
    own_last_success: Outcome | None
    own_age_seconds: float | None
    freshness_from: str
    problem: str
    # Its restore drills' own records: the latest, and the last that proved it loads.
    own_latest_drill: Outcome | None = None
    own_last_good_drill: Outcome | None = None


def retained(row: ExportStatus) -> Outcome | None:
    """The newest own record that says what the export's retention policy kept: its
    drill's, which prunes after proving the run, or else its export's; None if neither."""
    found = [o for o in (row.own_latest, row.own_latest_drill)
             if o is not None and o.retained_files is not None]  # fmt: skip
    return max(found, key=lambda o: o.finished_at) if found else None
