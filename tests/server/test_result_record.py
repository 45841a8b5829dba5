"""The result record: one shape on every path, strict JSON, written whatever happens."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from helpers import run_helper, write_helper_config
from redis_enterprise_export.contract import Result, Timeline, result_path
from redis_enterprise_export.errors import ExportTimeoutError, OutcomeUnknownError
from redis_enterprise_export.run.export import result_of
from redis_enterprise_export.simulator import Simulator


def strict(text: str) -> dict[str, Any]:
    """json.loads that refuses NaN and infinities, as Terraform's jsondecode does."""

    def refuse(token: str) -> None:
        raise ValueError(token)

    data: dict[str, Any] = json.loads(text, parse_constant=refuse)
    return data


def test_a_missing_file_has_the_shape_of_a_real_result(sim: Simulator, tmp_path: Path) -> None:
    """The output's keys never depend on whether the helper's file was there to read."""
    result = tmp_path / "orders.json"
    code, _, _ = run_helper(write_helper_config(sim.url, sim.ca_path, tmp_path), result)
    assert code == 0
    real = strict(result.read_text())
    missing = strict(Result.missing(result_path("orders")).to_json())
    assert sorted(real) == sorted(missing)
    assert sorted(real["timeline"]) == sorted(missing["timeline"])
    assert missing["export_status"] == "unknown"


def test_non_finite_numbers_never_reach_the_file(tmp_path: Path) -> None:
    """A NaN in the record becomes null: jsondecode of NaN would fail every later plan."""
    record = Result(export_progress=math.nan, timeline=Timeline(started=math.inf))
    record.write(tmp_path / "r.json")
    data = strict((tmp_path / "r.json").read_text())
    assert data["export_progress"] is None
    assert data["timeline"] == {"started": None, "slot": None, "accepted": None, "finished": None}


def test_the_record_round_trips(tmp_path: Path) -> None:
    """What the helper writes, the bench and the tests read back unchanged."""
    record = Result(name="orders", database_uid=3, export_status="succeeded",
                    timeline=Timeline(started=1.5, finished=2.5))  # fmt: skip
    assert Result.from_dict(json.loads(record.to_json())) == record


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (ExportTimeoutError(1, 5, "exporting"), "timeout"),
        (OutcomeUnknownError("lost track"), "unknown"),
        (RuntimeError("a bug"), "error"),
    ],
)
def test_the_status_word_comes_from_the_outcome(outcome: BaseException, status: str) -> None:
    """Each error class names its status; anything else is an error."""
    assert result_of(None, outcome, message="m").export_status == status


def test_an_unwritable_result_file_is_bad_input_not_a_traceback(
    sim: Simulator, tmp_path: Path
) -> None:
    """The result's folder is a file: exit 2 with one line; the export is not even started."""
    (tmp_path / "blocked").write_text("a file where the folder should be")
    code, out, err = run_helper(
        write_helper_config(sim.url, sim.ca_path, tmp_path), tmp_path / "blocked" / "r.json"
    )
    assert code == 2
    assert "Traceback" not in out + err
    assert err.startswith("error: cannot write the result file")
    assert sim.cluster.exports_started() == 0


def test_a_previous_result_never_looks_current(sim: Simulator, tmp_path: Path) -> None:
    """A run that cannot even load its spec still replaces the last run's file."""
    result = tmp_path / "orders.json"
    result.write_text(json.dumps({"export_status": "succeeded", "run_id": "last-night"}))
    config = write_helper_config(sim.url, sim.ca_path, tmp_path)
    code, _, _ = run_helper(config, result, {"REDIS_ENTERPRISE_PASSWORD": ""})
    record = strict(result.read_text())
    assert code == 2
    assert (record["export_status"], record["run_id"]) == ("error", "nightly-7")
