"""A local stand-in for an RS cluster's REST API, for tests and the demo."""

from .cluster import FAILURE_REASONS, Scenario, SimCluster
from .redis_server import RedisServer
from .server import Simulator

__all__ = ["FAILURE_REASONS", "RedisServer", "Scenario", "SimCluster", "Simulator"]
