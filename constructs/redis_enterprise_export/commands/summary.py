"""A Markdown table row per export, for a CI job page (``$GITHUB_STEP_SUMMARY``, ``--summary``).

Terraform runs several helpers at once and each appends its own row to the same
file, so the header check and the write happen under one file lock.
"""

from __future__ import annotations

import fcntl
import os
import re
import unicodedata
from datetime import datetime
from pathlib import Path

from redis_enterprise_export.contract import DrillResult, Result, Retained
from redis_enterprise_export.redact import hide_passwords
from redis_enterprise_export.spec.values import open_regular

# The cluster column tells apart two clusters' exports of the same name.
HEADER = (
    "| export | cluster | database | status | duration | destination | reason |\n"
    "|---|---|---|---|---|---|---|\n"
)
# GitHub keeps at most 1 MiB of a step's summary: the header is looked for in as much
# of the file's end.
HEADER_WINDOW_BYTES = 2**20
# An ANSI escape sequence (CSI ... final byte, or OSC ... BEL/ST): dropped whole, not
# only its ESC, so no "[31m" is left behind.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_]?)")


def append_summary(path: Path, result: Result, cluster: str = "") -> None:
    """Append ``result``'s row to ``path``, after the table's header if the file lacks it."""
    _append(path, summary_row(result, cluster))


def append_drill_summary(path: Path, result: DrillResult, cluster: str = "") -> None:
    """Append a drill's row to ``path``, in the same table: a drill runs while other
    exports still append theirs, and one table keeps them all in one place."""
    _append(path, drill_row(result, cluster))


def _append(path: Path, row: str) -> None:
    """A regular file only (not /dev/zero, a FIFO); the header is looked for in its
    last HEADER_WINDOW_BYTES, so no summary is read whole."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
    fd = open_regular(path, flags, "job summary", "a regular file")
    with os.fdopen(fd, "r+b") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        tail = os.pread(fd, HEADER_WINDOW_BYTES, max(0, size - HEADER_WINDOW_BYTES))
        # A window begun inside a character starts with its continuation bytes.
        start = 0 if size <= HEADER_WINDOW_BYTES else min(_continuation(tail), 3)
        text = tail[start:].decode("utf-8")  # a file that is not UTF-8 is left alone
        head = "" if HEADER in text else ("\n" if size else "") + HEADER
        out.write((head + row).encode("utf-8"))


def _continuation(data: bytes) -> int:
    """How many of ``data``'s first bytes are UTF-8 continuation bytes."""
    return next((i for i, byte in enumerate(data) if byte & 0xC0 != 0x80), len(data))


def drill_row(result: DrillResult, cluster: str = "") -> str:
    """A drill's row in the exports' columns: the export and the drill, the scratch
    database, the drill's status and time, the key counts where the destination goes."""
    low, high = result.keys_expected_min, result.keys_expected_max
    source = "?" if low is None else (f"{low}" if low == high else f"{low} to {high}")
    restored = "?" if result.keys_loaded is None else str(result.keys_loaded)
    cells = [
        f"{result.export} (drill {result.name})",
        cluster,
        f"uid {result.database_uid}" if result.database_uid is not None else "",
        f"drill {result.drill_status}",
        _duration(result),
        f"keys {source} → {restored} (±{result.key_tolerance_percent:g}%)"
        + retention_words(result),
        "; ".join(
            part
            for part in (
                "" if result.drill_status == "succeeded" else result.message,
                result.retention_note,
            )
            if part
        ),
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
    # A prune's trouble never fails an export, so the row is where it shows.
    reason = "; ".join(part for part in (reason, result.retention_note) if part)
    cells = [
        result.name,
        cluster,
        database,
        result.export_status,
        _duration(result),
        hide_passwords(result.location) + retention_words(result),
        reason,
    ]
    return "| " + " | ".join(cell(text) for text in cells) + " |\n"


def retention_words(result: Retained) -> str:
    """What a retention policy kept and deleted, for the destination cell; "" without one."""
    if result.retained_files is None:
        return ""
    text = f"; kept {result.retained_files} files, {result.retained_bytes} bytes"
    if result.oldest_retained:
        text += f", oldest {result.oldest_retained}"
    if result.pruned:
        text += f"; deleted {len(result.pruned)}: " + ", ".join(result.pruned[:5])
        text += f" and {len(result.pruned) - 5} more" if len(result.pruned) > 5 else ""
    return text


def _duration(result: Result | DrillResult) -> str:
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
