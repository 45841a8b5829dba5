"""Writing exports.toml from Python tables."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def toml_text(tables: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """``{"clusters": {"a": {...}}, "exports": {...}}`` as TOML text."""
    lines: list[str] = []
    for kind, named in tables.items():
        for name, table in named.items():
            lines.append(f"[{kind}.{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            lines.append("")
    return "\n".join(lines)
