"""The CI step summary: one Markdown table, one header, one well-formed row per export."""

from __future__ import annotations

import multiprocessing
import unicodedata
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from helpers import S3_SECRET, run_helper, write_helper_config
from redis_enterprise_export.commands.summary import HEADER, append_summary, summary_row
from redis_enterprise_export.contract import Result
from redis_enterprise_export.simulator import Simulator

SUCCEEDED = Result(
    name="orders",
    database_uid=3,
    database_name="orders-db",
    export_status="succeeded",
    location="s3://backups/nightly",
    message="exported",
    started_at="2026-11-28T01:00:00.000+00:00",
    finished_at="2026-11-28T01:01:02.500+00:00",
)
FAILED = Result(
    name="search",
    database_uid=2,
    export_status="failed",
    export_failure_reason="no-permission",
    location="url ftp://backup:***@ftp.example.com/r/",
    message="export failed; check the location's credentials",
    started_at="2026-11-28T01:00:00+00:00",
    finished_at="2026-11-28T01:00:04+00:00",
)


def test_rows_follow_one_header_per_file(tmp_path: Path) -> None:
    """Appends to a file that already holds other Markdown add the header once, then one row each."""
    path = tmp_path / "summary.md"
    path.write_text("### Terraform apply\n")
    append_summary(path, SUCCEEDED, "rs1.example.com:9443")
    append_summary(path, FAILED)
    assert path.read_text() == (
        "### Terraform apply\n\n"
        + HEADER
        + "| orders | rs1.example.com:9443 | orders-db (uid 3) | succeeded | 62.5 s"
        " | s3://backups/nightly |  |\n"
        + "| search |  | (uid 2) | failed | 4.0 s | url ftp://backup:***@ftp.example.com/r/"
        " | no-permission; export failed; check the location's credentials |\n"
    )


def _append_one(path: str, index: int) -> None:
    append_summary(Path(path), Result(name=f"e{index}", export_status="succeeded"))


def test_helpers_appending_at_once_write_one_header_and_every_row(tmp_path: Path) -> None:
    """Sixteen processes appending to one new file leave exactly one header and sixteen rows."""
    path = tmp_path / "summary.md"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_one, args=(str(path), i)) for i in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    text = path.read_text()
    assert text.count(HEADER) == 1
    assert text.startswith(HEADER)
    rows = text.removeprefix(HEADER).splitlines()
    assert sorted(rows) == sorted(
        summary_row(Result(name=f"e{i}", export_status="succeeded")).strip() for i in range(16)
    )


@given(
    name=st.text(max_size=30),
    reason=st.text(max_size=60),
    message=st.text(max_size=60),
    user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    password=st.from_regex(r"[A-Za-z0-9_.~-]{4,20}", fullmatch=True),
)
def test_a_row_is_one_line_of_the_headers_cells_and_never_shows_a_url_password(
    name: str, reason: str, message: str, user: str, password: str
) -> None:
    """Whatever the texts hold, the row stays one line of the header's cells, and a password in a URL is masked."""
    result = Result(
        name=name,
        export_status="failed",
        export_failure_reason=reason,
        message=message,
        location=f"url ftp://{user}:{password}@host.example/p/",
    )
    row = summary_row(result)
    assert row.endswith(" |\n")
    assert row.count("\n") == 1
    assert row.count("|") == HEADER.splitlines()[0].count("|")
    assert f"{user}:***@host.example" in row
    assert f":{password}@" not in row


# Line breaks of every kind, escape sequences, controls, bidi overrides, Markdown.
HOSTILE = st.text(
    alphabet=st.sampled_from(list("ab |\\#*`<>&;\n\r\t\v\f\x1b[31m\x00\x85\u2028\u202e\u200b")),
    max_size=40,
) | st.text(max_size=40)


@given(reason=HOSTILE, name=HOSTILE)
def test_cluster_text_stays_in_its_cell_of_its_one_row(reason: str, name: str) -> None:
    """Any failure reason or database name from a cluster stays in its one cell of the row's
    one line, with no control character or escape sequence, as a Markdown renderer reads it."""
    row = summary_row(
        Result(name="x", database_name=name, export_status="failed", export_failure_reason=reason)
    )
    assert row.count("\n") == 1
    assert not any(unicodedata.category(c).startswith("C") for c in row.rstrip("\n"))
    html = MarkdownIt("commonmark").enable("table").render(HEADER + row)
    assert html.count("<tr>") == 2
    assert html.count("<td>") == HEADER.splitlines()[0].count("|") - 1


def test_the_helper_appends_its_row_to_the_github_step_summary(
    sim: Simulator, tmp_path: Path
) -> None:
    """With $GITHUB_STEP_SUMMARY set, each helper adds its export's row, naming its cluster."""
    page = tmp_path / "summary.md"
    config = write_helper_config(sim.url, sim.ca_path, tmp_path)
    code, _, _ = run_helper(config, tmp_path / "r.json", {"GITHUB_STEP_SUMMARY": str(page)})
    assert code == 0
    lines = page.read_text().splitlines()
    assert lines[0] == (
        "| export | cluster | database | status | duration | destination | reason |"
    )
    host = sim.url.removeprefix("https://")
    assert lines[2].startswith(f"| orders | {host} | orders (uid 1) | succeeded | ")
    assert S3_SECRET not in page.read_text()
