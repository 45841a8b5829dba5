"""A local stand-in for an RS cluster's REST API, for tests and the demo."""

from .cluster import SimCluster
from .lifecycle import FAILURE_REASONS
from .redis_server import RedisServer
from .scenario import Scenario
from .server import Simulator

__all__ = ["FAILURE_REASONS", "RedisServer", "Scenario", "SimCluster", "Simulator"]
