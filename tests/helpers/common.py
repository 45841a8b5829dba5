"""What the tests share: the repository's paths, the simulated users, sample data."""

from __future__ import annotations

import sys
from pathlib import Path

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
