"""The one door to the CDK framework.

CDKTF was archived on 2025-12-10; its maintained fork CDK Terrain (``cdktn``)
has the same class names. Everything else imports the framework from here, so
switching is a change to this file alone.
"""

from cdktf import (
    App,
    LocalBackend,
    LocalExecProvisioner,
    PgBackend,
    TerraformOutput,
    TerraformResource,
    TerraformStack,
    TerraformVariable,
)

from constructs import Construct

__all__ = [
    "App",
    "Construct",
    "LocalBackend",
    "LocalExecProvisioner",
    "PgBackend",
    "TerraformOutput",
    "TerraformResource",
    "TerraformStack",
    "TerraformVariable",
]
