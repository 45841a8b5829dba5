"""Optional dependencies: the extra that brings each, and the one line shown when one is
missing; and the package's names, for the commands such lines suggest.

Each is imported only where a feature needs it, so the helper starts without them;
the CDK extras (``cdk``, ``cdktf``, ``cdktn``) include them all.
"""

from __future__ import annotations

import sys
from pathlib import Path

from redis_enterprise_export.errors import LocalSetupError

PACKAGE = "redis-enterprise-export"
SCRIPT = "redis-enterprise-export"  # the console script (pyproject.toml's [project.scripts])
MODULE_COMMAND = "python -m redis_enterprise_export"
# Importable module -> the extra of this package that installs it.
EXTRAS = {"psycopg": "postgres", "prometheus_client": "prometheus", "boto3": "s3"}


def not_installed(module: str, feature: str) -> LocalSetupError:
    """The error for ``feature`` when ``module`` cannot be imported: which extra to install."""
    return LocalSetupError(
        f"{feature} needs the Python package {module}, which is not installed: "
        f"pip install '{PACKAGE}[{EXTRAS[module]}]' (the cdk, cdktf and cdktn extras include it)"
    )


def command_name() -> str:
    """This package's command as the user runs it: ``python -m …`` when run so, else the
    console script (also what to suggest from ``main.py`` or a test)."""
    return MODULE_COMMAND if Path(sys.argv[0]).name == "__main__.py" else SCRIPT
