"""Where Terraform keeps the stack's state: the ``[state]`` table and its backend block.

Credentials never enter the stack: each backend reads its own from the
environment (``PG_CONN_STR``; ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or
``AWS_PROFILE``; ``GOOGLE_CREDENTIALS``; ``ARM_*``; ``TF_HTTP_PASSWORD``; …)
or from ``terraform init -backend-config=…`` (Terraform's partial configuration).
This module is pure data and imports no CDK framework (``construct`` declares the
block), so a bad ``[state]`` table costs no Node start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from redis_enterprise_export.errors import HIDDEN, ConfigError
from redis_enterprise_export.redact import redact_url
from redis_enterprise_export.spec.values import check_text, split_url

# Named only: their settings (and secrets) go to `terraform init -backend-config=...`.
PARTIAL_BACKENDS = ("gcs", "azurerm", "http", "consul", "kubernetes")
STATE_BACKENDS = ("local", "pg", "s3", *PARTIAL_BACKENDS)
S3_KEYS = {"backend", "bucket", "key", "region", "endpoint", "use_path_style"}
STATE_KEYS: dict[str, set[str]] = {
    "local": {"backend", "path"},
    "pg": {"backend", "schema_name"},
    "s3": S3_KEYS,
} | {name: {"backend"} for name in PARTIAL_BACKENDS}
# Keys Terraform's s3 backend would take a secret in: refused, whatever their value.
S3_CREDENTIAL_KEYS = {"access_key", "secret_key", "token", "sse_customer_key"}
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
AWS_CREDENTIALS = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, which Terraform reads"


@dataclass(frozen=True, kw_only=True)
class StateBackend:
    """Where Terraform keeps the stack's state; Terraform locks it in every backend here.

    ``local``: the file ``path``, relative to the stack's folder. ``pg``: the
    built-in PostgreSQL backend, in ``schema_name``; the connection string comes
    from ``$PG_CONN_STR``. ``s3``: ``bucket``/``key`` in ``region`` (if empty,
    ``$AWS_REGION``), locked by a lock file next to it (``use_lockfile``);
    ``endpoint`` is an S3-compatible store's URL, addressed path-style unless
    ``use_path_style = false``. ``gcs``, ``azurerm``, ``http``, ``consul``,
    ``kubernetes``: the backend by name, configured at ``terraform init
    -backend-config=…``.
    """

    backend: str = "local"
    path: str = "terraform.tfstate"
    schema_name: str = "redis_enterprise_exports"
    bucket: str = ""
    key: str = "redis-enterprise-export/terraform.tfstate"
    region: str = ""
    endpoint: str = ""
    use_path_style: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.backend, str) or self.backend not in STATE_BACKENDS:
            raise ConfigError("backend", self.backend, "one of " + ", ".join(STATE_BACKENDS))
        for name in ("path", "schema_name", "key"):
            check_text(self, name)
        for name in ("bucket", "region", "endpoint"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(name, getattr(self, name), "a string")
        if self.backend == "s3":
            self._check_s3()

    def _check_s3(self) -> None:
        if not isinstance(self.bucket, str) or not S3_BUCKET.match(self.bucket):
            raise ConfigError(
                "bucket", self.bucket, "an S3 bucket name (3-63 of a-z, 0-9, '.', '-')"
            )
        if self.key.startswith("/") or self.key.endswith("/"):
            raise ConfigError("key", self.key, "an object key with no leading or trailing '/'")
        if not isinstance(self.region, str) or not re.fullmatch(r"[a-z0-9-]*", self.region):
            raise ConfigError("region", self.region, "an AWS region name such as 'eu-west-1'")
        if self.endpoint:
            expected = "the http(s)://HOST[:PORT][/PATH] URL of an S3 API"
            parts = split_url("endpoint", self.endpoint, expected)
            if parts.password is not None or parts.username is not None:
                raise ConfigError(
                    "endpoint", HIDDEN, f"a URL without credentials (use {AWS_CREDENTIALS})"
                )
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.query
                or parts.fragment
            ):
                raise ConfigError("endpoint", redact_url(self.endpoint), expected)
        if self.use_path_style is not None and not isinstance(self.use_path_style, bool):
            raise ConfigError("use_path_style", self.use_path_style, "true or false")


def parse_state(table: Any) -> StateBackend:
    """The ``[state]`` table of a config file as a ``StateBackend``; ConfigError names the key."""
    if not isinstance(table, Mapping):
        raise ConfigError("state", table, "a [state] table")
    backend = table.get("backend", "local")
    if not isinstance(backend, str) or backend not in STATE_BACKENDS:
        raise ConfigError("backend", backend, "one of " + ", ".join(STATE_BACKENDS))
    allowed = STATE_KEYS[backend]
    for key in table:
        if key in allowed:
            continue
        if backend == "s3" and key in S3_CREDENTIAL_KEYS | {"profile"}:
            raise ConfigError(key, HIDDEN, f"no credential here: set {AWS_CREDENTIALS} itself")
        if backend in PARTIAL_BACKENDS:
            raise ConfigError(
                key,
                HIDDEN,
                f"only 'backend' for {backend}: pass its settings to "
                f"terraform init -backend-config={key}=… (they stay out of the stack)",
            )
        raise ConfigError.unknown_key(key, allowed)
    known = {f.name for f in fields(StateBackend)}
    return StateBackend(**{k: v for k, v in table.items() if k in known})


def backend_block(state: StateBackend) -> dict[str, Any]:
    """The attributes of the stack's ``terraform.backend.<state.backend>`` block."""
    if state.backend == "local":
        # Relative keeps the synthesized folder relocatable; cdktf's default is absolute.
        return {"path": state.path}
    if state.backend == "pg":
        # No conn_str: Terraform reads $PG_CONN_STR, so its password stays out of the stack.
        return {"schema_name": state.schema_name}
    if state.backend == "s3":
        block: dict[str, Any] = {"bucket": state.bucket, "key": state.key, "use_lockfile": True}
        if state.region:
            block["region"] = state.region
        if state.endpoint:
            path_style = True if state.use_path_style is None else state.use_path_style
            # An S3-compatible store has no STS, IAM or EC2 metadata to ask, and
            # may name its regions freely: Terraform must not try them.
            block |= {
                "endpoints": {"s3": state.endpoint},
                "use_path_style": path_style,
                "skip_credentials_validation": True,
                "skip_requesting_account_id": True,
                "skip_metadata_api_check": True,
                "skip_region_validation": True,
            }
        elif state.use_path_style is not None:
            block["use_path_style"] = state.use_path_style
        return block
    return {}  # a partial configuration: everything comes from -backend-config
