"""The docs say what the code does: docs/configuration.md's key tables name every config key
with the default the models give it, and the README's links into the docs resolve."""

from __future__ import annotations

import re
import tomllib
from dataclasses import MISSING, Field, fields
from typing import Any

import pytest

from helpers import REPO
from redis_enterprise_export import (
    Cluster,
    DrillSpec,
    ExportSpec,
    Location,
    SseC,
)
from redis_enterprise_export.spec.config import CLUSTER_KEYS, DRILL_KEYS, EXPORT_KEYS
from redis_enterprise_export.spec.selectors import parse_selector
from redis_enterprise_export.spec.state import StateBackend

CONFIGURATION = REPO / "docs" / "configuration.md"
REQUIRED = object()  # a table's "required": the model has no default


def prose(text: str) -> str:
    """``text`` without its fenced code blocks, whose ``# comments`` are not headings."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def tables(text: str) -> dict[str, dict[str, Any]]:
    """Each heading's key table (| key | default | meaning |) as {key: default}."""
    found: dict[str, dict[str, Any]] = {}
    heading, in_table = "", False
    for line in prose(text).splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        in_table = line.startswith("|") and (in_table or line.startswith("| key | default |"))
        if in_table and line.startswith("| `"):
            key, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
            found.setdefault(heading, {})[key.strip("`")] = parse_default(default)
    return found


def parse_default(cell: str) -> Any:
    """A default cell: "required", "none" (unset), or a TOML value in backticks."""
    if cell.startswith("required"):
        return REQUIRED
    if cell.startswith("none"):
        return None
    literal = re.match(r"`([^`]+)`", cell)
    assert literal, f"a default is 'required', 'none' or a `TOML value`, not {cell!r}"
    return tomllib.loads(f"v = {literal.group(1)}")["v"]


def model_default(field: Field[Any]) -> Any:
    if field.default is not MISSING:
        return field.default
    if field.default_factory is not MISSING:
        return field.default_factory()
    return REQUIRED


def same(documented: Any, model: Any) -> bool:
    """Equal as TOML would give it: a list for a tuple, and true is not 1."""
    if isinstance(model, tuple):
        model = list(model)
    if isinstance(documented, bool) or isinstance(model, bool):
        return documented is model
    return bool(documented == model)


def mismatches(table: dict[str, Any], model: dict[str, Any]) -> list[str]:
    """What the table gets wrong about ``model`` ({key: default}): missing keys, extra keys,
    and defaults that differ."""
    wrong = [f"{key}: not documented" for key in sorted(set(model) - set(table))]
    wrong += [f"{key}: documented, not a key" for key in sorted(set(table) - set(model))]
    wrong += [
        f"{key}: documented {table[key]!r}, the model's default is {model[key]!r}"
        for key in sorted(set(table) & set(model))
        if not same(table[key], model[key])
    ]
    return wrong


def defaults(
    cls: type, *, skip: tuple[str, ...] = (), rename: dict[str, str] | None = None
) -> dict[str, Any]:
    names = rename or {}
    return {names.get(f.name, f.name): model_default(f) for f in fields(cls) if f.name not in skip}


def location_classes() -> dict[str, type[Location]]:
    """Every concrete location class by its ``type``, found through Location's subclasses."""
    found: dict[str, type[Location]] = {}
    pending = list(Location.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if "type" in vars(cls):
            found[cls.type] = cls
    return found


@pytest.fixture(scope="module")
def documented() -> dict[str, dict[str, Any]]:
    return tables(CONFIGURATION.read_text())


def test_the_cluster_table_names_every_cluster_key_with_its_model_default(
    documented: dict[str, dict[str, Any]],
) -> None:
    """[clusters.NAME]'s table has exactly CLUSTER_KEYS, each with Cluster's default."""
    table = documented["Clusters: `[clusters.NAME]`"]
    assert set(table) == CLUSTER_KEYS
    assert mismatches(table, defaults(Cluster, rename={"ca_cert_pem": "ca_cert"})) == []


def test_the_export_table_names_every_export_key_with_its_model_default(
    documented: dict[str, dict[str, Any]],
) -> None:
    """[exports.NAME]'s table has exactly EXPORT_KEYS, with ExportSpec's and the selector's defaults."""
    table = documented["Exports: `[exports.NAME]`"]
    assert set(table) == EXPORT_KEYS
    _, exclude = parse_selector({"databases": "*"})
    model = defaults(ExportSpec, skip=("name",)) | {"databases": None, "exclude": exclude}
    assert mismatches(table, model) == []


def test_every_location_type_has_a_table_of_its_fields_and_defaults(
    documented: dict[str, dict[str, Any]],
) -> None:
    """Each location type has a table headed by its type, with its class's fields and defaults."""
    by_type = {
        re.match(r"`([^`]+)`", heading).group(1): table  # type: ignore[union-attr]
        for heading, table in documented.items()
        if re.match(r"`[^`]+`( |$)", heading) and not heading.startswith("`encryption`")
    }
    classes = location_classes()
    assert set(by_type) == set(classes)
    for kind, cls in classes.items():
        assert mismatches(by_type[kind], defaults(cls)) == [], kind


def test_the_sse_c_table_names_its_fields(documented: dict[str, dict[str, Any]]) -> None:
    """The encryption table has SseC's fields and its type, all required."""
    table = documented["`encryption` (SSE-C, in an `s3` location)"]
    assert mismatches(table, {"type": REQUIRED} | defaults(SseC)) == []


def test_the_drill_table_names_every_drill_key_with_its_model_default(
    documented: dict[str, dict[str, Any]],
) -> None:
    """[drills.NAME]'s table has exactly DRILL_KEYS, each with DrillSpec's default."""
    table = documented["Drills: `[drills.NAME]`"]
    assert set(table) == DRILL_KEYS
    assert mismatches(table, defaults(DrillSpec, skip=("name", "guarded"))) == []


def test_the_state_table_names_every_state_key_with_its_model_default(
    documented: dict[str, dict[str, Any]],
) -> None:
    """[state]'s table has StateBackend's fields, each with its default."""
    assert mismatches(documented["State: `[state]`"], defaults(StateBackend)) == []


def test_a_table_with_a_wrong_default_or_a_missing_key_is_caught() -> None:
    """The comparison finds a changed default, a key left out and a key too many."""
    text = (
        "## Clusters\n\n| key | default | meaning |\n|---|---|---|\n"
        "| `url` | required | x |\n| `tls_verify` | `false` | x |\n| `extra` | none | x |\n"
    )
    table = tables(text)["Clusters"]
    assert mismatches(table, defaults(Cluster, rename={"ca_cert_pem": "ca_cert"})) != []
    assert "tls_verify: documented False, the model's default is True" in mismatches(
        table, {"url": REQUIRED, "tls_verify": True}
    )
    assert "extra: documented, not a key" in mismatches(table, {"url": REQUIRED})
    assert "tls_verify: not documented" in mismatches({}, {"tls_verify": True})


def slug(heading: str) -> str:
    """The anchor GitHub and MkDocs give a heading: lowercase, punctuation dropped, - for spaces."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-")


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_links_from_the_readme_and_contributing_into_the_docs_resolve(name: str) -> None:
    """Every relative link in README.md and CONTRIBUTING.md names a file that exists, and an
    anchor that a heading of that file gives (mkdocs --strict checks only docs/)."""
    text = (REPO / name).read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert relative
    for link in relative:
        path, _, anchor = link.partition("#")
        target = REPO / path if path else REPO / name
        assert target.is_file(), link
        if anchor:
            headings = re.findall(r"^#+ (.+)$", prose(target.read_text()), re.MULTILINE)
            assert anchor in {slug(h) for h in headings}, link


def test_the_slug_is_the_one_the_site_gives() -> None:
    """Headings with code, colons and brackets get the anchors mkdocs built for them."""
    assert slug("Where the state lives (`[state]`)") == "where-the-state-lives-state"
    assert slug("Install: prerequisites and extras") == "install-prerequisites-and-extras"
    assert slug("Day 2: preflight, status, coverage, discovery") == (
        "day-2-preflight-status-coverage-discovery"
    )


def test_every_docs_page_is_in_the_sites_nav() -> None:
    """mkdocs.yml's nav lists exactly the pages in docs/."""
    nav = re.findall(r"^  - [^:]+: (\S+\.md)$", (REPO / "mkdocs.yml").read_text(), re.MULTILINE)
    assert sorted(nav) == sorted(p.name for p in (REPO / "docs").glob("*.md"))


def test_no_docs_page_links_outside_docs() -> None:
    """No page in docs/ links to a file outside docs/, which mkdocs --strict refuses."""
    for page in (REPO / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", link) or link.startswith("#"):
                continue
            target = (page.parent / link.partition("#")[0]).resolve()
            assert target.is_relative_to((REPO / "docs").resolve()), (page.name, link)
            assert target.is_file(), (page.name, link)


def test_every_claim_that_exports_count_against_max_simultaneous_backups_says_it_is_unconfirmed() -> (
    None
):
    """RS documents max_simultaneous_backups for backups only: each paragraph of the code or
    the docs that ties it to exports or to a 409 says that is assumed or unconfirmed."""
    sources = [*(REPO / "constructs" / "redis_enterprise_export").rglob("*.py"),
               *(REPO / "docs").glob("*.md"), REPO / "README.md"]  # fmt: skip
    unhedged = []
    for path in sources:
        if "simulator" in path.parts:
            continue  # the simulator models the assumption on purpose
        for paragraph in re.split(r"\n\s*\n", path.read_text()):
            if "max_simultaneous_backups" not in paragraph or "409" not in paragraph:
                continue
            if not re.search(r"unconfirmed|assumed|UNCONFIRMED", paragraph):
                unhedged.append(f"{path.relative_to(REPO)}: {paragraph.strip()[:80]}")
    assert not unhedged
