"""The builds a comparison runs: HEAD (this working tree) and a baseline commit.

A build is a folder holding the project as of one commit: its package under
``constructs/`` and its ``main.py``. A baseline is unpacked from git with
``git archive COMMIT | tar -x`` into a temporary folder, so nothing of the working
tree (or of an installed copy) leaks into it. Whatever a build runs (the helper under
Terraform's local-exec, ``main.py``) is given the build's package first on
``PYTHONPATH``; the simulator and the bench itself are always HEAD's.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The commit a comparison is made against when the repository has no tag (see the file).
BASELINE_FILE = REPO / "bench" / "BASELINE"


class BuildError(Exception):
    """A build that cannot be made: the message says why and what to do."""


@dataclass(frozen=True)
class Build:
    name: str  # "HEAD" or "baseline"
    commit: str  # short hash (HEAD's with "+changes" when the tree differs from it)
    folder: Path  # the project as of ``commit``

    @property
    def package(self) -> Path:
        """The source root that holds ``redis_enterprise_export``."""
        return self.folder / "constructs"

    @property
    def main(self) -> Path:
        return self.folder / "main.py"

    def environ(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with this build's package first on ``PYTHONPATH``."""
        rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        return env | {"PYTHONPATH": os.pathsep.join([str(self.package), *rest])}

    @property
    def label(self) -> str:
        return f"{self.name} ({self.commit})"


def git(repo: Path, *args: str) -> str:
    """``git -C repo ARGS``'s output, stripped; raises BuildError with git's words."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise BuildError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def head(repo: Path = REPO) -> Build:
    """The working tree as it is, uncommitted changes included."""
    commit = git(repo, "rev-parse", "--short", "HEAD")
    if git(repo, "status", "--porcelain", "--untracked-files=no"):
        commit += "+changes"
    return compiled(Build("HEAD", commit, repo))


def resolve(commit: str, repo: Path = REPO) -> str:
    """``commit``'s short hash; BuildError if this clone does not have it (and says
    when the reason is likely a shallow clone)."""
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0:
        return git(repo, "rev-parse", "--short", done.stdout.strip())
    if git(repo, "rev-parse", "--is-shallow-repository") == "true":
        raise BuildError(
            f"the baseline commit {commit} is not in this clone, which is shallow: fetch the "
            "history (git fetch --unshallow) or name a commit it has with --baseline"
        )
    raise BuildError(
        f"the baseline commit {commit} is not in this repository: name one it has with "
        "--baseline (git log --oneline), or fetch it"
    )


def baseline(commit: str, into: Path | None = None, repo: Path = REPO) -> Build:
    """``commit`` unpacked with ``git archive | tar -x`` into ``into`` (a new temporary
    folder if None; the caller removes it)."""
    short = resolve(commit, repo)
    folder = into or Path(tempfile.mkdtemp(prefix=f"redis-export-baseline-{short}-"))
    folder.mkdir(parents=True, exist_ok=True)
    with subprocess.Popen(
        ["git", "-C", str(repo), "archive", "--format=tar", short],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as archive:
        untar = subprocess.run(
            ["tar", "-x", "-C", str(folder)], stdin=archive.stdout, capture_output=True, check=False
        )
        _, stderr = archive.communicate()
    errors = stderr.decode(errors="replace").strip()
    if archive.returncode or untar.returncode:
        raise BuildError(
            f"could not unpack {short} into {folder}: {errors} "
            f"{untar.stderr.decode(errors='replace').strip()}".strip()
        )
    if not (folder / "constructs" / "redis_enterprise_export").is_dir():
        raise BuildError(f"{short} has no constructs/redis_enterprise_export: not this project")
    return compiled(Build("baseline", short, folder))


def compiled(build: Build) -> Build:
    """``build`` with its package's bytecode written, as pip writes it at install: without
    it, where PYTHONDONTWRITEBYTECODE is set, every helper compiles its modules anew."""
    if not compileall.compile_dir(build.package, quiet=1):
        raise BuildError(f"{build.package} does not compile: run it for Python's own error")
    return build


def default_baseline(repo: Path = REPO, named: Path = BASELINE_FILE) -> str:
    """The last tag reachable from HEAD if there is one, else the commit bench/BASELINE
    names (its first word)."""
    done = subprocess.run(
        ["git", "-C", str(repo), "describe", "--tags", "--abbrev=0"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip()
    words = named.read_text().split() if named.exists() else []
    if not words:
        raise BuildError(f"no tag, and {named} names no commit: give --baseline COMMIT")
    return words[0]
