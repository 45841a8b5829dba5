"""Any JSON answer, to the helper process as Terraform runs it: an outcome, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from helpers import run_helper, write_helper_config
from helpers.common import EXPORT_STATUSES

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**320)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["NaN", "inf", "100", "", "1"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
DATABASE = st.fixed_dictionaries(
    {},
    optional={
        "uid": st.sampled_from([1, "1", 2, True]) | VALUES,
        "name": st.just("orders") | VALUES,
        "export_status": st.sampled_from([*sorted(EXPORT_STATUSES), "paused"]) | VALUES,
        "export_progress": SCALARS,
        "export_failure_reason": st.sampled_from(["", "general-error"]) | VALUES,
    },
)
ANSWERS = VALUES | DATABASE


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} in the result file is not JSON")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=ANSWERS)
def test_any_json_answer_ends_in_a_known_exit_code_and_a_strict_json_result(
    httpserver: HTTPServer, tmp_path_factory: Any, answer: Any
) -> None:
    """Every request answered with the same arbitrary JSON: exit 0 or 2-7, no traceback, a strict JSON result."""
    directory: Path = tmp_path_factory.mktemp("shape")
    httpserver.clear()
    # allow_nan: the NaN and Infinity tokens Python's json reads (and emits) by default.
    httpserver.expect_request(re.compile("/.*")).respond_with_data(
        json.dumps(answer, allow_nan=True), content_type="application/json"
    )
    url = httpserver.url_for("").rstrip("/")
    config = write_helper_config(
        url, None, directory, cluster={"allow_http": True}, timeout_seconds=3
    )
    result = directory / "result.json"
    code, out, err = run_helper(
        config, result, env={"REDIS_EXPORT_SLOTS_DIR": str(directory / "slots")}, timeout=60
    )
    assert code in {0, 2, 3, 4, 5, 6, 7}, err
    assert "Traceback" not in out + err
    record = json.loads(result.read_text(), parse_constant=_no_constant)
    assert isinstance(record, dict)
    httpserver.check_assertions()
