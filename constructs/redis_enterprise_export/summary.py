"""A Markdown table row per export, for a CI job page (``$GITHUB_STEP_SUMMARY``, ``--summary``).

Terraform runs several helpers at once and each appends its own row to the same
file, so the header check and the write happen under one file lock.
"""

from __future__ import annotations

import fcntl
import re
from datetime import datetime
from pathlib import Path

from .contract import Result

# The cluster column tells apart two clusters' exports of the same name.
HEADER = (
    "| export | cluster | database | status | duration | destination | reason |\n"
    "|---|---|---|---|---|---|---|\n"
)
# user:password@ in any URL of a description: the password never reaches the page.
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*):[^/@\s]*@")


def append_summary(path: Path, result: Result, cluster: str = "") -> None:
    """Append ``result``'s row to ``path``, after the table's header if the file lacks it."""
    row = summary_row(result, cluster)
    with path.open("a+", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.seek(0)
        if HEADER not in out.read():
            out.write(("\n" if out.tell() else "") + HEADER)
        out.write(row)


def summary_row(result: Result, cluster: str = "") -> str:
    """One Markdown table row: export, cluster, database, status, duration, destination, reason."""
    database = " ".join(
        part
        for part in (
            result.database_name,
            f"(uid {result.database_uid})" if result.database_uid is not None else "",
        )
        if part
    )
    reason = result.export_failure_reason
    if result.export_status != "succeeded":
        reason = "; ".join(part for part in (reason, result.message) if part)
    cells = [
        result.name,
        cluster,
        database,
        result.export_status,
        _duration(result),
        _URL_PASSWORD.sub(r"\1:***@", result.location),
        reason,
    ]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |\n"


def _duration(result: Result) -> str:
    try:
        start = datetime.fromisoformat(result.started_at)
        end = datetime.fromisoformat(result.finished_at)
    except ValueError:
        return ""
    return f"{(end - start).total_seconds():.1f} s"


def _cell(text: str) -> str:
    """``text`` safe inside one table cell: one line, and a pipe as an entity, which no
    backslash before it can turn back into a column break."""
    return " ".join(text.split()).replace("|", "&#124;")
