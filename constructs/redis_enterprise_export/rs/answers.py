"""The cluster's answers, read and checked: a database's action fields, its key count,
and the values inside them. Whatever the server sends, a reader returns a checked value
or raises ProtocolError naming the field."""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from redis_enterprise_export.errors import DatabaseNotFoundError, ProtocolError
from redis_enterprise_export.redact import clipped


class _Phases:
    """What job.ActionJob reads of a state, whatever the action: its
    ``<action>_status``, ``_progress`` and ``_failure_reason``."""

    action: ClassVar[str]

    @property
    def phase(self) -> str:
        return str(getattr(self, f"{self.action}_status"))

    @property
    def percent(self) -> float | None:
        progress: float | None = getattr(self, f"{self.action}_progress")
        return progress

    @property
    def reason(self) -> str:
        return str(getattr(self, f"{self.action}_failure_reason"))


@dataclass(frozen=True)
class ExportState(_Phases):
    """The export fields of a database, checked: text where text is due, and
    progress a finite percentage, or None when the cluster's value is not one."""

    action: ClassVar[str] = "export"
    uid: int
    name: str
    export_status: str
    # Advisory: it only paces polling. None when absent or not a finite number.
    export_progress: float | None
    export_failure_reason: str
    last_export_time: str
    # The action the database runs now (a documented bdb field); "" when none is shown.
    action_uid: str = ""

    @classmethod
    def parse(cls, data: Any, path: str) -> ExportState:
        return cls(
            **_action_fields(data, path, cls.action),
            last_export_time=as_text(data.get("last_export_time"), "last_export_time", path),
        )


@dataclass(frozen=True)
class ImportState(_Phases):
    """The import fields of a database, checked as ``ExportState``'s, with its bdb
    ``status`` (``import-pending`` while importing) and ``crdt`` (Active-Active)."""

    action: ClassVar[str] = "import"
    uid: int
    name: str
    import_status: str
    import_progress: float | None  # advisory, as export_progress
    import_failure_reason: str
    status: str = ""
    crdt: bool = False
    action_uid: str = ""

    @classmethod
    def parse(cls, data: Any, path: str) -> ImportState:
        fields = _action_fields(data, path, cls.action)  # checks that it is an object
        crdt = data.get("crdt", False)
        if not isinstance(crdt, bool):
            # Read wrong, an Active-Active database would be restored into.
            raise ProtocolError(f"GET {path}: crdt {shown(crdt)} is not true or false")
        return cls(
            **fields,
            status=clipped(as_text(data.get("status"), "status", path), 60),
            crdt=crdt,
        )


State = TypeVar("State", ExportState, ImportState)


@dataclass(frozen=True)
class KeyCount:
    """A database's key count from the cluster's latest statistics sample.

    RS samples statistics: the count is the one of the interval [stime, etime], so
    right after a change (an import) it can still be the old one.
    """

    # None when no_of_keys is absent or not a whole number from 0 to 2**53 (see
    # as_count): the caller decides what an unknown count means, nothing is guessed.
    keys: int | None
    stime: str  # the sample's start and end as sent (ISO 8601); "" when absent or not text
    etime: str


# Integers up to here are exact as floats; RS sends the count as a float.
MAX_EXACT_COUNT = 2**53


# A JSON number inside a string: no spaces, no "1_0", no "nan" (float() takes all three).
_NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _action_fields(data: Any, path: str, action: str) -> dict[str, Any]:
    """The fields every action shows on a database: uid, name, action_uid and the
    ``<action>_status``, ``_progress`` and ``_failure_reason``, checked."""
    if not isinstance(data, dict):
        raise ProtocolError(f"GET {path} answered {type(data).__name__}, not a database object")
    status, reason = f"{action}_status", f"{action}_failure_reason"
    return {
        "uid": as_uid(data.get("uid"), "uid", path),
        "name": as_text(data.get("name"), "name", path),
        # Bounded and on one line: an unknown value is shown in messages.
        status: clipped(as_text(data.get(status), status, path), 60),
        f"{action}_progress": as_progress(data.get(f"{action}_progress")),
        reason: as_text(data.get(reason), reason, path),
        "action_uid": _as_action(data.get("action_uid"), path),
    }


def _as_action(value: Any, path: str) -> str:
    # Documented as a string; an integer uid is read as its digits.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return clipped(as_text(value, "action_uid", path), 80)


def as_text(value: Any, key: str, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProtocolError(f"GET {path}: {key} {shown(value)} is not a string")
    return value


def as_uid(value: Any, key: str, path: str) -> int:
    # RS sends uids as JSON integers; a string of digits is read too. Never a
    # bool (True == 1), a float, "1_0" or " 1": int() would take those.
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        value = int(value)
    if type(value) is not int or value <= 0:
        raise ProtocolError(f"GET {path}: {key} {shown(value)} is not a database uid")
    return value


def pick_database(rows: list[dict[str, Any]], wanted: int | str) -> dict[str, Any]:
    """The one row of ``rows`` (``GET /v1/bdbs``) that ``wanted`` names: by uid if an
    int, else by name; DatabaseNotFoundError, listing the names, if none or several."""
    if isinstance(wanted, int):
        found = [row for row in rows if row_uid(row) == wanted]
    else:
        found = [row for row in rows if row.get("name") == wanted]
    if len(found) != 1:
        names = sorted(clipped(str(row.get("name")), 40) for row in rows)
        raise DatabaseNotFoundError(wanted, len(found), names)
    return found[0]


def row_uid(row: dict[str, Any]) -> int | None:
    """A ``GET /v1/bdbs`` row's uid, or None if it holds none that is one."""
    with contextlib.suppress(ProtocolError):
        return as_uid(row.get("uid"), "uid", "/v1/bdbs")
    return None


def as_progress(value: Any) -> float | None:
    """Percent from a number or a string ("100"), clamped to 0..100; None for
    anything else ("NaN", null, junk): progress only paces polling, so a bad one
    is ignored rather than ending a healthy export."""
    progress = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        # OverflowError: an int beyond a float's range.
        with contextlib.suppress(ValueError, OverflowError):
            progress = float(value)
    if not math.isfinite(progress):
        return None
    return min(max(progress, 0.0), 100.0)


def as_count(value: Any) -> int | None:
    """A key count from a number, or a number sent as a string ("12"); None unless it
    is a whole number from 0 to MAX_EXACT_COUNT.

    RS documents no_of_keys as a float. A string holding a JSON number is read as
    that number, because RS sends other numbers (progress) as strings, and "12"
    means nothing else; any other string ("NaN", "12 keys", "1_0") is None, as are
    NaN and ±Infinity, 12.5, -1 and booleans.
    """
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        value = float(value)  # "1e999" is inf: refused below
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():  # also NaN and ±inf
        return None
    return int(value) if 0 <= value <= MAX_EXACT_COUNT else None


def loads(raw: bytes) -> Any:
    """JSON, with the NaN, Infinity and -Infinity tokens read as null: JSON has none,
    but a Python server (RS's API is one) writes them for a float that is not a
    number. So no non-finite number gets further than here."""
    return json.loads(raw, parse_constant=lambda _token: None)


def posted_action_uid(raw: bytes) -> str | None:
    """A plausible ``action_uid`` from the POST's answer, or None."""
    try:
        data = loads(raw)
    except (ValueError, RecursionError):
        return None
    value = data.get("action_uid") if isinstance(data, dict) else None
    if type(value) is int:
        value = str(value)
    if isinstance(value, str) and re.fullmatch(r"[\w.:-]{1,128}", value, re.ASCII):
        return value
    return None


def shown(value: Any) -> str:
    """A server's value for a message: its repr, on one line and bounded."""
    return clipped(repr(value), 80)
