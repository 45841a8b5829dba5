"""Shared test helpers, one module per concern; every name is re-exported here.

The modules beyond these names are imported by path: ``day2`` (the day-2 commands run and
read back), ``jobs`` (a scripted cluster API for the action jobs), ``package`` (the package
built and installed as a user would), ``strategies`` (hypothesis), ``tables`` (shared config
tables). ``toml``: writing exports.toml. ``terraform``: a real-Terraform project.
``helper_process``: the helper run as Terraform runs it. ``postgres``: a real
PostgreSQL server. ``s3``: moto's S3 API server. ``servers``: a raw HTTP answerer
and a CONNECT proxy. ``clock``: the fake clock. ``common``: users, paths, data.
"""

from .clock import FakeClock
from .common import ADMIN, ORDERS, PASSWORD, REPO, STACK, VENV_BIN, VIEWER, sim_identity
from .helper_process import (
    S3_SECRET,
    run_helper,
    run_restore,
    start_helper,
    write_helper_config,
)
from .postgres import PostgresServer, free_port
from .s3 import AWS_KEY_ID, AWS_SECRET, MotoServer
from .servers import ConnectProxy, RawServer
from .terraform import Result, TerraformProject, run_main, terraform_env
from .toml import toml_text, toml_value

__all__ = [
    "ADMIN",
    "AWS_KEY_ID",
    "AWS_SECRET",
    "ORDERS",
    "PASSWORD",
    "REPO",
    "S3_SECRET",
    "STACK",
    "VENV_BIN",
    "VIEWER",
    "ConnectProxy",
    "FakeClock",
    "MotoServer",
    "PostgresServer",
    "RawServer",
    "Result",
    "TerraformProject",
    "free_port",
    "run_helper",
    "run_main",
    "run_restore",
    "sim_identity",
    "start_helper",
    "terraform_env",
    "toml_text",
    "toml_value",
    "write_helper_config",
]
