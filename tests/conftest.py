"""Fixtures: a running simulator with sample databases, and Terraform projects."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers import (
    ADMIN,
    ORDERS,
    PASSWORD,
    VIEWER,
    FakeClock,
    PostgresServer,
    TerraformProject,
    terraform_env,
)
from redis_enterprise_export.simulator import SimCluster, Simulator

if TYPE_CHECKING:  # the CDK Terrain venv runs these fixtures without pytest-httpserver
    from pytest_httpserver import HTTPServer


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The live suite is an explicit opt-in: its tests run only when ``-m`` asks for
    ``live`` (as ./dev test-live does), never because REDIS_EXPORT_LIVE_* happen to be set."""
    wanted = str(config.getoption("markexpr") or "")
    if re.search(r"\blive\b", wanted) and not re.search(r"\bnot\s+live\b", wanted):
        return
    skip = pytest.mark.skip(reason="the live suite runs only with -m live (./dev test-live)")
    for item in items:
        if item.get_closest_marker("live") is not None:
            item.add_marker(skip)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """A fresh simulated cluster: db 1 'orders' with data, db 2 'search' with a module
    lacking backup_restore; an admin and a viewer user.

    Strict: a request beyond a scripted ``Scenario.faults`` list fails the test.
    """
    with Simulator(tmp_path / "sim") as simulator:
        simulator.cluster.scenario.export_seconds = 0.4
        simulator.cluster.scenario.import_seconds = 0.4
        simulator.cluster.add_user(ADMIN, PASSWORD, "admin")
        simulator.cluster.add_user(VIEWER, PASSWORD, "db_viewer")
        simulator.add_database(1, "orders", data=ORDERS)
        simulator.add_database(
            2, "search", modules=[{"module_name": "legacy-index", "capabilities": ["types"]}]
        )
        yield simulator
        simulator.check_assertions()


@pytest.fixture(autouse=True)
def _no_work_left_beside() -> Iterator[None]:
    """Work a failed run abandoned beside it (``run.beside``) ends with the helper's
    process; the suite runs many in one process, so each test waits for its own: a listing
    still retrying draws on ``random`` inside the next test's hypothesis draws."""
    yield
    for thread in threading.enumerate():
        if thread.name == "beside":
            thread.join(60)


@pytest.fixture(autouse=True)
def _strict_httpserver(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's scripted pytest-httpserver surprises fail it: a request no handler
    matched, an error in a handler, an ordered request never made."""
    if "httpserver" not in request.fixturenames:
        yield
        return
    # Asked for before the test, so it is torn down after this check.
    server: HTTPServer = request.getfixturevalue("httpserver")
    yield
    server.check_assertions()


@pytest.fixture
def clock() -> FakeClock:
    """Monotonic time that moves only when someone sleeps."""
    return FakeClock()


@pytest.fixture
def cluster(clock: FakeClock) -> SimCluster:
    """The simulator's cluster model alone (no HTTP), on the fake clock: database 1
    'orders', exports of 20 s."""
    model = SimCluster(clock=clock.now)
    model.add_database(1, "orders")
    model.scenario.export_seconds = 20.0
    return model


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    """A mount_point the simulated cluster writes export files into."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


@pytest.fixture
def project(tmp_path: Path) -> TerraformProject:
    root = tmp_path / "project"
    root.mkdir()
    return TerraformProject(root, terraform_env())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; tests keep apart by schema."""
    # Not under pytest's temp root: that is private to root, and PostgreSQL runs
    # as its own user when the tests run as root.
    directory = Path(tempfile.mkdtemp(prefix="redis-export-pg-"))
    server = PostgresServer(directory)
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)
