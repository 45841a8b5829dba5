"""A local stand-in for an RS cluster's REST API, for tests and the demo.

Its names load on first use, so that ``python -m redis_enterprise_export.simulator``
can say which package is missing (trustme, redis) instead of failing on import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import SimCluster
    from .lifecycle import FAILURE_REASONS
    from .redis_server import RedisServer
    from .scenario import Scenario
    from .server import Simulator

__all__ = ["FAILURE_REASONS", "RedisServer", "Scenario", "SimCluster", "Simulator"]

# Each name's module.
_HOMES = {
    "FAILURE_REASONS": "lifecycle",
    "RedisServer": "redis_server",
    "Scenario": "scenario",
    "SimCluster": "cluster",
    "Simulator": "server",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
