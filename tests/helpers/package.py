"""The package as a user installs it, offline: a git clone of the worktree and its wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from redis_enterprise_export.extras import PACKAGE

from .common import REPO, VENV_BIN


def clone(tmp_path: Path) -> Path:
    """A git clone of this worktree's package files as they are now (committed or not)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    shutil.copytree(
        REPO / "constructs", source / "constructs", ignore=shutil.ignore_patterns("__pycache__")
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=source, check=True)
    subprocess.run([*git, "add", "-A"], cwd=source, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=source, check=True)
    return source


def git_wheel(tmp_path: Path, extras: str = "cdktn") -> Path:
    """The wheel pip builds from '<package>[extras] @ git+file://<clone>', offline: no build
    isolation (this venv's setuptools builds it) and no dependencies."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [
            str(VENV_BIN / "python"), "-m", "pip", "wheel", "--quiet", "--no-deps",
            "--no-build-isolation", "--no-index", "--wheel-dir", str(wheels),
            f"{PACKAGE}[{extras}] @ git+file://{clone(tmp_path)}",
        ],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("redis_enterprise_export-*.whl")
    return wheel


def site_packages() -> Path:
    """The tests' venv's site-packages: the dependencies a venv without network borrows."""
    return next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
