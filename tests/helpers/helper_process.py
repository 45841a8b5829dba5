"""The helper as a process, the way Terraform's local-exec runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .terraform import terraform_env
from .toml import toml_text

S3_SECRET = "s3-Secret-Value-77c"


def write_helper_config(
    url: str,
    ca_cert: Path | None,
    directory: Path,
    *,
    cluster: Mapping[str, Any] | None = None,
    **export: Any,
) -> Path:
    """One export 'orders' of database 1 to S3, its secret from $S3_SECRET."""
    path = directory / "exports.toml"
    cluster_table = {"url": url} | ({"ca_cert": str(ca_cert)} if ca_cert else {})
    path.write_text(
        toml_text(
            {
                "clusters": {"sim": cluster_table | dict(cluster or {})},
                "exports": {
                    "orders": {
                        "cluster": "sim",
                        "database": 1,
                        "location": {
                            "type": "s3",
                            "bucket_name": "b",
                            "access_key_id": "AKIA",
                            "secret_access_key_env": "S3_SECRET",
                        },
                        "timeout_seconds": 30,
                    }
                    | export
                },
            }
        )
    )  # fmt: skip
    return path


def start_helper(
    config: Path, result: Path, env: Mapping[str, str] | None = None, name: str = "orders"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "redis_enterprise_export", "export", "--config", str(config),
         "--name", name, "--result", str(result), "--run-id", "nightly-7"],
        env=terraform_env(S3_SECRET=S3_SECRET) | dict(env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def run_helper(
    config: Path,
    result: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 90,
    name: str = "orders",
) -> tuple[int, str, str]:
    """Run the helper to its end; the timeout bounds a hang."""
    process = start_helper(config, result, env, name)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def run_restore(
    config: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 90
) -> tuple[int, str, str]:
    """``redis-enterprise-export restore --config CONFIG ARGS…`` to its end, as a person
    runs it (credentials and $S3_SECRET in the environment); the timeout bounds a hang."""
    process = subprocess.run(
        [sys.executable, "-m", "redis_enterprise_export", "restore", "--config", str(config),
         *args],
        env=terraform_env(S3_SECRET=S3_SECRET) | dict(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip
    return process.returncode, process.stdout, process.stderr
