"""Config tables the end-to-end tests share: an export of the simulator, and its drill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis_enterprise_export.simulator import Simulator


def tables(sim: Simulator, export_dir: Path, **export: Any) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {
            "orders": {
                "cluster": "sim",
                "database": "orders",
                "location": {"type": "mount_point", "path": str(export_dir)},
                "timeout_seconds": 60,
            }
            | export
        },
    }


GOOD = {"export": "orders", "into": "orders-drill", "erase": "orders-drill"}
