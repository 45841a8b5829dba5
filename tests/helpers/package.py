"""The package as a user installs it, offline: a git clone of the worktree and its wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers.terraform import terraform_env
from helpers.toml import toml_text
from redis_enterprise_export.extras import PACKAGE
from redis_enterprise_export.simulator import Simulator

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


# Runs the CLI with one module made unimportable, as in a venv installed without its extra.
WITHOUT = (
    "import sys; sys.modules[sys.argv[1]] = None; "
    "from redis_enterprise_export.cli import main; sys.exit(main(sys.argv[2:]))"
)


def config(tmp_path: Path, sim: Simulator, location: dict[str, str], **cluster: str) -> Path:
    path = tmp_path / "exports.toml"
    path.write_text(
        toml_text(
            {
                "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)} | cluster},
                "exports": {"orders": {"cluster": "sim", "database": 1, "location": location}},
            }
        )
    )
    return path


def cli(*argv: str, cwd: Path | None = None, without: str = "") -> subprocess.CompletedProcess[str]:
    command = ["-c", WITHOUT, without] if without else ["-m", "redis_enterprise_export"]
    return subprocess.run(
        [sys.executable, *command, *argv],
        cwd=cwd,
        env=terraform_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
