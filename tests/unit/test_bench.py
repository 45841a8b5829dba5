"""The bench's builds (bench/builds.py) and its comparison table (bench/compare.py).

Benchmarks are not tests: nothing here times anything. These prove the parts that
decide what a comparison runs and how it reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO

sys.path.insert(0, str(REPO))  # bench/ sits beside the package, not in it
from bench import builds, levers
from bench.compare import COMPARE_SMOKE, Comparison, handover_gaps, ratio, table


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository of two commits, each with a package under constructs/."""
    repo = tmp_path / "repo"
    package = repo / "constructs" / "redis_enterprise_export"
    package.mkdir(parents=True)
    git(repo, "init", "-q")
    for n in (1, 2):
        (package / "__init__.py").write_text(f"VERSION = {n}\n")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", f"commit {n}")
    return repo


def test_a_baseline_is_the_commit_unpacked_not_the_working_tree(repo: Path, tmp_path: Path) -> None:
    """A baseline holds the file as of its commit, and its package comes first on PYTHONPATH."""
    first = git(repo, "rev-parse", "HEAD~1")
    (repo / "constructs" / "redis_enterprise_export" / "__init__.py").write_text("VERSION = 3\n")
    build = builds.baseline(first, tmp_path / "unpacked", repo)
    assert (build.package / "redis_enterprise_export" / "__init__.py").read_text() == (
        "VERSION = 1\n"
    )
    assert build.commit == git(repo, "rev-parse", "--short", first)
    env = build.environ({"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(":") == [str(build.package), "/elsewhere"]
    assert builds.head(repo).commit.endswith("+changes")


def test_a_missing_commit_is_a_clear_error(repo: Path) -> None:
    """A commit the repository lacks raises BuildError naming it and --baseline, before any
    folder is made."""
    with pytest.raises(builds.BuildError, match=r"deadbeef is not in this repository.*--baseline"):
        builds.baseline("deadbeef", None, repo)


def test_a_shallow_clone_says_it_is_shallow(repo: Path, tmp_path: Path) -> None:
    """In a shallow clone, a commit beyond its depth is refused with the reason and the fix."""
    first = git(repo, "rev-parse", "HEAD~1")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)],
                   check=True, capture_output=True)  # fmt: skip
    with pytest.raises(builds.BuildError, match=r"shallow.*git fetch --unshallow"):
        builds.baseline(first, None, shallow)


def test_the_default_baseline_is_the_last_tag_else_the_named_commit(
    repo: Path, tmp_path: Path
) -> None:
    """Without a tag the file's first word is the baseline; once a tag exists, the tag."""
    named = tmp_path / "BASELINE"
    named.write_text("abc1234\nwhy it is the baseline\n")
    assert builds.default_baseline(repo, named) == "abc1234"
    git(repo, "tag", "v0.1.0", "HEAD~1")
    assert builds.default_baseline(repo, named) == "v0.1.0"


def test_no_tag_and_no_named_commit_asks_for_baseline(repo: Path, tmp_path: Path) -> None:
    """An empty bench/BASELINE in a repository without tags is an error naming --baseline."""
    named = tmp_path / "BASELINE"
    named.write_text("")
    with pytest.raises(builds.BuildError, match="--baseline"):
        builds.default_baseline(repo, named)


def test_the_repository_names_a_baseline_commit() -> None:
    """bench/BASELINE names a commit (its first word is a hash) and says why."""
    words = builds.BASELINE_FILE.read_text().split()
    assert len(words) > 5
    assert all(c in "0123456789abcdef" for c in words[0])


@pytest.mark.parametrize(
    ("head", "base", "shown"),
    [
        (1.0, 2.0, "0.50x"),
        (3.0, 2.0, "1.50x"),
        (0.0, 4.0, "0.00x"),
        (1.0, 0.0, "-"),  # no ratio against nothing
        (0.0, 0.0, "-"),
        (1.0, -0.1, "-"),  # a phase a clock put below zero
        (-0.1, 1.0, "-"),
        (None, 1.0, "-"),
    ],
)
def test_the_ratio_is_head_over_baseline(
    head: float | None, base: float | None, shown: str
) -> None:
    """The ratio column is HEAD's median over the baseline's, to two places, or a dash."""
    assert ratio(head, base) == shown


def test_the_table_shows_medians_ratio_and_floor_per_figure() -> None:
    """A figure's row shows each build's median, HEAD/baseline, and the floor beside it."""
    c = Comparison(COMPARE_SMOKE, {})
    c.add("baseline", {"s3:beyond": 1.0})
    c.add("baseline", {"s3:beyond": 2.0})
    c.add("baseline", {"s3:beyond": 9.0})
    c.add("HEAD", {"s3:beyond": 0.5})
    c.floor({"s3:beyond": 0.1})
    row = next(line for line in table(c).splitlines() if "one export to s3" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:] == ["2.00 s", "0.50 s", "0.25x", "0.10 s", "<= 0.3 s"]


def test_handover_gaps_pair_each_freed_slot_with_the_next_start() -> None:
    """With a limit of 2, the third export's gap runs from the first end, the fourth's from
    the second."""
    assert handover_gaps([3.0, 1.0], [0.0, 0.0, 1.25, 3.5], 2) == [0.25, 0.5]


def lever_stack(exports: int) -> dict[str, Any]:
    """A stack of the synthesized shape: per export an export, result, check and last
    success, the exports output decoding each result, and a rerun key output each."""
    data: dict[str, Any] = {}
    outputs: dict[str, Any] = {"exports": {"value": {}}}
    for i in range(exports):
        e, r, c, s = (f"db{i}_{part}" for part in ("export", "result", "check", "last"))
        decoded = f"jsondecode(terraform_data.{r}.output)"
        data[e] = {"input": {"name": f"db{i}"}, "triggers_replace": {"rerun": "x"},
                   "provisioner": [{"local-exec": {"environment": {
                       "REDIS_EXPORT_SPEC": "${jsonencode(self.input)}"}}}]}  # fmt: skip
        data[r] = {"input": "${file(1)}", "triggers_replace": f"${{terraform_data.{e}.id}}"}
        data[c] = {"triggers_replace": f"${{terraform_data.{r}.id}}", "lifecycle": {
            "precondition": [{"condition": f'${{{decoded}.export_status == "succeeded"}}',
                              "error_message": f"${{{decoded}.message}}"}]}}  # fmt: skip
        data[s] = {"input": f"${{terraform_data.{r}.output}}",
                   "triggers_replace": f"${{terraform_data.{c}.id}}"}  # fmt: skip
        outputs["exports"]["value"][f"db{i}"] = f"${{merge({decoded}, {{a = 1}})}}"
        outputs[f"rerun_key_db{i}"] = {
            "value": f'${{{decoded}.export_status == "succeeded" ? "" : "y"}}'
        }
    return {"resource": {"terraform_data": data}, "output": outputs}


def test_each_lever_takes_out_only_its_part() -> None:
    """The levers' variants: no rerun output; no spec but a literal one; no jsondecode
    left; no trigger; two resources an export and no output; every rerun key kept in chunks."""
    stack = lever_stack(150)
    v = levers.variants(stack, 150)
    assert len(v) == 9
    assert not [k for k in v["without the `rerun_key_*` outputs"]["output"] if "rerun" in k]
    spec = v["without the stored spec"]["resource"]["terraform_data"]["db0_export"]
    assert "input" not in spec
    environment = spec["provisioner"][0]["local-exec"]["environment"]
    assert environment["REDIS_EXPORT_SPEC"] == '{"name": "db0"}'
    assert "jsondecode" not in json.dumps(v["without the result's decoding"])
    assert "triggers_replace" not in json.dumps(v["without triggers"])
    two = v["two resources per export, no outputs"]
    assert sorted(two["resource"]["terraform_data"])[:2] == ["db0_export", "db0_result"]
    assert len(two["resource"]["terraform_data"]) == 300
    assert "output" not in two
    chunks = v["`rerun_key_*` outputs chunked by 100"]["output"]
    assert sorted(k for k in chunks if "rerun" in k) == ["rerun_keys_0", "rerun_keys_1"]
    assert json.dumps(chunks).count('? \\"\\" : \\"y\\"') == 150
    assert stack == lever_stack(150)  # the stack as synthesized is left as it was
