"""A Markdown table row per export, for a CI job page (``$GITHUB_STEP_SUMMARY``, ``--summary``).

Terraform runs several helpers at once and each appends its own row to the same
file, so the header check and the write happen under one file lock.
"""

from __future__ import annotations

import fcntl
import re
import unicodedata
from datetime import datetime
from pathlib import Path

from .contract import DrillResult, Result

# The cluster column tells apart two clusters' exports of the same name.
HEADER = (
    "| export | cluster | database | status | duration | destination | reason |\n"
    "|---|---|---|---|---|---|---|\n"
)
# An ANSI escape sequence (CSI ... final byte, or OSC ... BEL/ST): dropped whole, not
# only its ESC, so no "[31m" is left behind.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_]?)")
# user:password@ in any URL of a description: the password never reaches the page.
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*):[^/@\s]*@")


DRILL_HEADER = (
    "| drill | export | scratch database | status | import | keys: source → restored | reason |\n"
    "|---|---|---|---|---|---|---|\n"
)


def append_summary(path: Path, result: Result, cluster: str = "") -> None:
    """Append ``result``'s row to ``path``, after the table's header if the file lacks it."""
    _append(path, HEADER, summary_row(result, cluster))


def append_drill_summary(path: Path, result: DrillResult) -> None:
    """Append a drill's row to ``path``, in the drills' own table."""
    _append(path, DRILL_HEADER, drill_row(result))


def _append(path: Path, header: str, row: str) -> None:
    # The header goes in once per table: rows of both tables may interleave in one
    # file; Markdown ends a table at the next header, so each row follows its own.
    with path.open("a+", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.seek(0)
        text = out.read()
        last = max(text.rfind(HEADER), text.rfind(DRILL_HEADER))
        if last == -1 or not text[last:].startswith(header):
            out.write(("\n" if out.tell() else "") + header)
        out.write(row)


def drill_row(result: DrillResult) -> str:
    """One Markdown row: drill, export, scratch database, status, import time, keys, reason."""
    low, high = result.keys_expected_min, result.keys_expected_max
    source = "?" if low is None else (f"{low}" if low == high else f"{low} to {high}")
    restored = "?" if result.keys_loaded is None else str(result.keys_loaded)
    cells = [
        result.name,
        result.export,
        f"uid {result.database_uid}" if result.database_uid is not None else "",
        result.drill_status,
        f"{result.import_seconds:.1f} s" if result.import_seconds is not None else "",
        f"{source} → {restored} (±{result.key_tolerance_percent:g}%)",
        "" if result.drill_status == "succeeded" else result.message,
    ]
    return "| " + " | ".join(cell(str(text)) for text in cells) + " |\n"


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
    return "| " + " | ".join(cell(text) for text in cells) + " |\n"


def _duration(result: Result) -> str:
    try:
        start = datetime.fromisoformat(result.started_at)
        end = datetime.fromisoformat(result.finished_at)
    except ValueError:
        return ""
    return f"{(end - start).total_seconds():.1f} s"


def one_line(text: str) -> str:
    """Text from a cluster (or anyone) made safe for one line of a terminal or a page:
    escape sequences and control characters dropped, every kind of line break and
    other whitespace run made one space."""
    text = _ANSI.sub("", text)
    # Cc (controls), Cf (bidi overrides, zero-width), Cs/Co/Cn: nothing to show.
    text = "".join(
        c if c.isspace() or not unicodedata.category(c).startswith("C") else "" for c in text
    )
    return " ".join(text.split())


def cell(text: str) -> str:
    """``text`` safe inside one Markdown table cell: one line, a pipe as an entity, which
    no backslash before it can turn back into a column break, and no raw HTML tag."""
    return one_line(text).replace("|", "&#124;").replace("<", "&lt;")
