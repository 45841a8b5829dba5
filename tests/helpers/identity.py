"""A simulated cluster's identity, read as the helpers read it: what its locks are keyed by."""

from __future__ import annotations

from helpers.common import ADMIN, PASSWORD
from redis_enterprise_export.polling import Deadline, SystemClock
from redis_enterprise_export.rs.client import RsClient
from redis_enterprise_export.rs.connect import cluster_identity
from redis_enterprise_export.simulator import Simulator


def identity_of(sim: Simulator) -> str:
    """The key of ``sim``'s locks (``rs.connect.cluster_identity``), read over its API."""
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    try:
        return cluster_identity(rs, Deadline(SystemClock(), 5), lambda _: None)
    finally:
        rs.close()
