"""Redis Enterprise Software database export as a declarative Terraform resource.

The models and the helper import no CDK framework; ``DatabaseExport`` and
``ExportStack`` load it on first use, so the helper starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from redis_enterprise_export.errors import ConfigError, ExportError
from redis_enterprise_export.spec.drill import DrillSpec
from redis_enterprise_export.spec.export import Cluster, ExportSpec
from redis_enterprise_export.spec.locations import (
    AbsLocation,
    FtpLocation,
    GcsLocation,
    Location,
    MountPointLocation,
    S3Location,
    SftpLocation,
    SseC,
)
from redis_enterprise_export.spec.retention import Retention
from redis_enterprise_export.synth.node import use_wheel_node

# Before an app's own `import cdktn` (or cdktf) starts jsii: the wheel's Node, not the system's.
use_wheel_node()

if TYPE_CHECKING:
    from redis_enterprise_export.synth.drill import DatabaseDrill, DatabaseDrillProps
    from redis_enterprise_export.synth.export import DatabaseExport, DatabaseExportProps
    from redis_enterprise_export.synth.stack import ExportStack, ExportStackProps

__all__ = [
    "AbsLocation",
    "Cluster",
    "ConfigError",
    "DatabaseDrill",
    "DatabaseDrillProps",
    "DatabaseExport",
    "DatabaseExportProps",
    "DrillSpec",
    "ExportError",
    "ExportSpec",
    "ExportStack",
    "ExportStackProps",
    "FtpLocation",
    "GcsLocation",
    "Location",
    "MountPointLocation",
    "Retention",
    "S3Location",
    "SftpLocation",
    "SseC",
]

# The constructs, by the synth module that defines each: loaded on first use, so the
# helper, which imports this package, never starts the CDK framework.
_CONSTRUCTS = {
    "DatabaseDrill": "drill",
    "DatabaseDrillProps": "drill",
    "DatabaseExport": "export",
    "DatabaseExportProps": "export",
    "ExportStack": "stack",
    "ExportStackProps": "stack",
}


def __getattr__(name: str) -> Any:
    if name in _CONSTRUCTS:
        module = importlib.import_module(f"redis_enterprise_export.synth.{_CONSTRUCTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
