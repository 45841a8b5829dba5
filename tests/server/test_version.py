"""The package version lives in one place, and the package metadata reads it from there."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from pytest_httpserver import HTTPServer
from setuptools.config.pyprojecttoml import read_configuration

from helpers import REPO
from redis_enterprise_export._version import __version__
from redis_enterprise_export.rs.client import RsClient


def test_pyproject_takes_its_version_from_the_package() -> None:
    """pyproject.toml states no version of its own; setuptools resolves it to _version.__version__."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    resolved = read_configuration(REPO / "pyproject.toml", expand=True)["project"]["version"]
    assert resolved == __version__


def test_version_flag_prints_the_package_version() -> None:
    """``python -m redis_enterprise_export --version`` answers from the same place."""
    run = subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", "--version"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run.stdout == f"python -m redis_enterprise_export {__version__}\n"


def test_the_user_agent_carries_the_package_version(httpserver: HTTPServer) -> None:
    """The cluster's access log can tell which release of the helper called it."""
    httpserver.expect_request(
        "/v1/bdbs/1", headers={"User-Agent": f"redis-enterprise-export/{__version__}"}
    ).respond_with_json({"uid": 1})
    RsClient(httpserver.url_for("").rstrip("/"), auth=("u", "p")).export_state(1)
    httpserver.check_assertions()
    assert len(httpserver.log) == 1
