"""Sections of bench/RESULTS.md that a scenario of its own writes between markers, and
that ``./dev bench`` keeps when it rewrites the rest of the file."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
# The scenarios that write a section of their own, in the order the file shows them.
NAMES = ("frameworks", "day2", "scale", "drill", "levers")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: python -m bench.{name} --write -->", f"<!-- /{name} -->"


def write_section(name: str, title: str, text: str, path: Path = RESULTS) -> None:
    """Put ``text`` under ``title`` between ``name``'s markers, replacing what was there."""
    begin, end = markers(name)
    section = f"{begin}\n## {title}\n\n{text}{end}\n"
    current = path.read_text() if path.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n" + section
    path.write_text(current)


def kept_sections(path: Path) -> str:
    """Every scenario's section of ``path`` (each after a blank line), or ""."""
    text = path.read_text() if path.exists() else ""
    kept = ""
    for name in NAMES:
        begin, end = markers(name)
        if begin in text and end in text:
            kept += "\n" + begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
    return kept
