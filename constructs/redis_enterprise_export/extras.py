"""Optional dependencies: the extra that brings each, and the one line shown when one is missing.

Each is imported only where a feature needs it, so the helper starts without them;
the CDK extras (``cdk``, ``cdktf``, ``cdktn``) include them all.
"""

from __future__ import annotations

from redis_enterprise_export.errors import LocalSetupError

PACKAGE = "redis-enterprise-export"
# Importable module -> the extra of this package that installs it.
EXTRAS = {"psycopg": "postgres", "prometheus_client": "prometheus", "boto3": "s3"}


def not_installed(module: str, feature: str) -> LocalSetupError:
    """The error for ``feature`` when ``module`` cannot be imported: which extra to install."""
    return LocalSetupError(
        f"{feature} needs the Python package {module}, which is not installed: "
        f"pip install '{PACKAGE}[{EXTRAS[module]}]' (the cdk, cdktf and cdktn extras include it)"
    )
