"""The package version lives in one place, and the package metadata reads it from there."""

from __future__ import annotations

import tomllib

from setuptools.config.pyprojecttoml import read_configuration

from helpers import REPO
from redis_enterprise_export._version import __version__


def test_pyproject_takes_its_version_from_the_package() -> None:
    """pyproject.toml states no version of its own; setuptools resolves it to _version.__version__."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    resolved = read_configuration(REPO / "pyproject.toml", expand=True)["project"]["version"]
    assert resolved == __version__
