"""Redis Enterprise Software database export as a declarative Terraform resource.

The models and the helper import no CDK framework; ``DatabaseExport`` and
``ExportStack`` load it on first use, so the helper starts fast.
"""

from __future__ import annotations

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
from redis_enterprise_export.synth.node import use_wheel_node

# Before an app's own `import cdktn` (or cdktf) starts jsii: the wheel's Node, not the system's.
use_wheel_node()

if TYPE_CHECKING:
    from redis_enterprise_export.synth.construct import (
        DatabaseDrill,
        DatabaseDrillProps,
        DatabaseExport,
        DatabaseExportProps,
        ExportStack,
        ExportStackProps,
    )

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
    "S3Location",
    "SftpLocation",
    "SseC",
]

_CONSTRUCT_NAMES = {
    "DatabaseDrill",
    "DatabaseDrillProps",
    "DatabaseExport",
    "DatabaseExportProps",
    "ExportStack",
    "ExportStackProps",
}


def __getattr__(name: str) -> Any:
    if name in _CONSTRUCT_NAMES:
        from redis_enterprise_export.synth import construct

        return getattr(construct, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
