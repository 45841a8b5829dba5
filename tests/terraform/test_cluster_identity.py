"""Locks are keyed by the cluster's own identity, not by how a stack spells its URL."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from helpers import (
    ADMIN,
    PASSWORD,
    TerraformProject,
    run_helper,
    terraform_env,
    write_helper_config,
)
from helpers.identity import identity_of
from redis_enterprise_export.polling import Deadline, SystemClock
from redis_enterprise_export.rs.client import RsClient
from redis_enterprise_export.rs.connect import cluster_identity
from redis_enterprise_export.run.slots import database_lock
from redis_enterprise_export.simulator import Simulator
from redis_enterprise_export.spec.export import normalized_url

OTHER_ADMIN = "second-admin@example.com"


@given(
    host=st.sampled_from(["rs.example.com", "RS.Example.COM", "rs.example.com."]),
    port=st.sampled_from(["", ":443"]),
    slash=st.sampled_from(["", "/"]),
    scheme=st.sampled_from(["https", "HTTPS"]),
)
def test_spellings_of_one_url_normalize_alike(
    host: str, port: str, slash: str, scheme: str
) -> None:
    """Case, a default port, a trailing dot or slash: one normalized URL."""
    assert normalized_url(f"{scheme}://{host}{port}{slash}") == "https://rs.example.com:443"


def test_two_spellings_of_one_cluster_get_one_identity(sim: Simulator) -> None:
    """127.0.0.1 and localhost name one cluster: the cluster's own name is the key."""
    port = sim.url.rsplit(":", 1)[1]
    keys = {
        cluster_identity(
            RsClient(url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path)),
            Deadline(SystemClock(), 5),
            lambda _: None,
        )
        for url in (f"https://127.0.0.1:{port}", f"https://localhost:{port}")
    }
    scenario = sim.cluster.scenario
    assert keys == {f"{scenario.cluster_name} (created {scenario.cluster_created})"}


@pytest.mark.e2e
def test_two_stacks_spelling_the_url_differently_never_interleave_on_one_database(
    sim: Simulator, export_dir: Path, tmp_path: Path
) -> None:
    """Stacks on https://127.0.0.1:P and https://localhost:P/, one machine, applied at
    once, export database 1: the simulator's log shows one stack's requests to it, then
    the other's, never mixed (each stack signs in as its own user)."""
    sim.cluster.scenario.export_seconds = 1.5
    sim.cluster.add_user(OTHER_ADMIN, PASSWORD, "admin")
    port = sim.url.rsplit(":", 1)[1]
    slots = tmp_path / "slots"
    slots.mkdir(mode=0o700)
    runs = []
    for name, url, user_env in (("a", f"https://127.0.0.1:{port}", "REDIS_ENTERPRISE_USER"),
                                ("b", f"https://localhost:{port}/", "OTHER_USER")):  # fmt: skip
        root = tmp_path / name
        root.mkdir()
        env = terraform_env(REDIS_EXPORT_SLOTS_DIR=str(slots), OTHER_USER=OTHER_ADMIN)
        project = TerraformProject(root, env)
        project.synth({
            "clusters": {"sim": {"url": url, "ca_cert": str(sim.ca_path), "username_env": user_env}},
            "exports": {"orders": {"cluster": "sim", "database": 1, "timeout_seconds": 60,
                                   "location": {"type": "mount_point", "path": str(export_dir)}}},
        })  # fmt: skip
        project.init()
        runs.append(project)
    command = ["terraform", "apply", "-auto-approve", "-no-color", "-var=run_id=r1"]
    applies = [
        subprocess.Popen(
            command,
            cwd=p.stack,
            env=p.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for p in runs
    ]
    outs = [apply.communicate(timeout=180)[0] for apply in applies]
    assert [apply.returncode for apply in applies] == [0, 0], outs
    users = [r.user for r in sim.cluster.log if r.path.startswith("/v1/bdbs/1")]
    turns = [user for user, _ in itertools.groupby(users)]
    assert sorted(turns) == sorted([ADMIN, OTHER_ADMIN]), turns
    assert sim.cluster.exports_started(1) == 2


def test_trouble_reading_the_name_is_ridden_out(sim: Simulator) -> None:
    """Six 503s (more than the client's own retries) on GET /v1/cluster: asked again, and
    the cluster's name is still the key, not a fallback."""
    sim.cluster.scenario.faults = {"GET": ["503"] * 6 + ["..."]}
    said: list[str] = []
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    scenario = sim.cluster.scenario
    assert cluster_identity(rs, Deadline(SystemClock(), 60), said.append) == (
        f"{scenario.cluster_name} (created {scenario.cluster_created})"
    )
    assert said
    assert all("answered 503" in line for line in said)


def test_an_unreadable_name_falls_back_to_the_normalized_url_and_says_so(
    httpserver: HTTPServer,
) -> None:
    """A cluster that will not tell its name (404 here): the key is the URL, normalized,
    and the helper says so once."""
    httpserver.expect_request("/v1/cluster").respond_with_json({"error_code": "x"}, status=404)
    said: list[str] = []
    rs = RsClient(httpserver.url_for("/").rstrip("/"), auth=("u", "p"))
    key = cluster_identity(rs, Deadline(SystemClock(), 5), said.append)
    assert key == f"http://localhost:{httpserver.port}"
    assert len(said) == 1
    assert "keyed by the URL" in said[0]


def test_two_clusters_of_one_name_get_two_identities(sim: Simulator, tmp_path: Path) -> None:
    """A clone with the cluster's name (DR, staging restored from prod) but its own
    creation time is another cluster: another identity."""
    with Simulator(tmp_path / "clone") as clone:
        clone.cluster.add_user(ADMIN, PASSWORD, "admin")
        clone.cluster.scenario.cluster_name = sim.cluster.scenario.cluster_name
        assert identity_of(clone) != identity_of(sim)


def test_a_cluster_without_created_time_is_keyed_by_name_and_url_and_says_so(
    httpserver: HTTPServer,
) -> None:
    """A cluster that shows its name but no created_time: the key holds the name and the
    normalized URL, so a clone of that name does not share it; said once."""
    httpserver.expect_request("/v1/cluster").respond_with_json({"name": "rs.example.com"})
    said: list[str] = []
    rs = RsClient(httpserver.url_for("/").rstrip("/"), auth=("u", "p"))
    key = cluster_identity(rs, Deadline(SystemClock(), 5), said.append)
    assert key == f"rs.example.com at http://localhost:{httpserver.port}"
    assert len(said) == 1
    assert "no created_time" in said[0]


@pytest.mark.e2e
def test_an_export_never_waits_for_a_clone_of_the_same_name(sim: Simulator, tmp_path: Path) -> None:
    """The database lock of one cluster is held, on this machine; an export of database 1
    of a second cluster with the same name (one lock directory) neither waits nor times
    out: it exports at once, exit 0."""
    slots = tmp_path / "slots"
    slots.mkdir(mode=0o700)
    with Simulator(tmp_path / "clone") as clone:
        clone.cluster.add_user(ADMIN, PASSWORD, "admin")
        clone.add_database(1, "orders")
        clone.cluster.scenario.cluster_name = sim.cluster.scenario.cluster_name
        clone.cluster.scenario.export_seconds = 0.2
        config = write_helper_config(clone.url, clone.ca_path, tmp_path, timeout_seconds=5)
        with database_lock(slots, identity_of(sim), 1, Deadline(SystemClock(), 5)):
            code, out, err = run_helper(
                config, tmp_path / "r.json", {"REDIS_EXPORT_SLOTS_DIR": str(slots)}
            )
        assert code == 0, out + err
        assert "waiting for" not in out
        assert clone.cluster.exports_started(1) == 1


@pytest.mark.e2e
def test_a_wait_for_the_database_lock_names_the_cluster(sim: Simulator, tmp_path: Path) -> None:
    """An export that waits for this machine's other export of its database says which
    cluster, by the identity two clusters of one name do not share."""
    slots = tmp_path / "slots"
    slots.mkdir(mode=0o700)
    identity = identity_of(sim)
    config = write_helper_config(sim.url, sim.ca_path, tmp_path, timeout_seconds=2)
    with database_lock(slots, identity, 1, Deadline(SystemClock(), 10)):
        code, out, err = run_helper(
            config, tmp_path / "r.json", {"REDIS_EXPORT_SLOTS_DIR": str(slots)}
        )
    assert code == 5, out + err
    assert (
        "other export, drill or restore of database 1 to end before this export, on cluster "
        f"{identity}" in out
    )
    assert sim.cluster.scenario.cluster_created in identity
