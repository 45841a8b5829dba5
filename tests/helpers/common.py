"""What the tests share: the repository's paths, the simulated users, sample data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
STACK = "exports"

ADMIN = "admin@example.com"
VIEWER = "viewer@example.com"
# Distinctive, so a leak check finds them wherever they might end up.
PASSWORD = "Cluster-Pass-5ecr3t-91f"
ORDERS = {f"order:{i}": f"total={i * 3}" for i in range(200)}

# The export_status values documented or seen ("" on a never-exported database, "idle"
# after a reset). The helper refuses none, known or not: tests sample from these.
EXPORT_STATUSES = frozenset({"", "idle", "exporting", "succeeded", "failed"})


def sim_identity(scenario: Any) -> str:
    """The identity the helper keys a simulated cluster's locks by (``cluster_identity``):
    its name and created_time, as GET /v1/cluster gives them."""
    return f"{scenario.cluster_name} (created {scenario.cluster_created})"
