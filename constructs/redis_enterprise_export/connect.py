"""One configured cluster, connected: credentials from the environment, the TLS trust
the config asks for. Shared by the export and the day-2 commands."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

from .client import RsClient
from .contract import INSECURE_ENV
from .models import Cluster, resolve_env


def connect(cluster: Cluster, environ: Mapping[str, str], cleanup: ExitStack) -> RsClient:
    """A client for ``cluster``, closed by ``cleanup``; raises ConfigError if a
    credential variable is unset."""
    user = resolve_env("username_env", cluster.username_env, environ)
    password = resolve_env("password_env", cluster.password_env, environ)
    client = RsClient(
        cluster.url,
        auth=(user, password),
        verify=_verify(cluster, environ, cleanup),
        timeout_seconds=cluster.request_timeout_seconds,
    )
    cleanup.callback(client.close)
    return client


def _verify(cluster: Cluster, environ: Mapping[str, str], cleanup: ExitStack) -> bool | str:
    insecure = environ.get(INSECURE_ENV, "").lower() in ("1", "true", "yes")
    if insecure or not cluster.tls_verify:
        why = f"{INSECURE_ENV}=true" if insecure else "tls_verify = false"
        print(
            f"warning: TLS verification of {cluster.url} is OFF ({why}): anyone on the path "
            "can read the cluster password and the location secrets",
            file=sys.stderr,
        )
        import urllib3  # here, not at the top: the helper loads it with requests anyway

        # urllib3 would repeat that warning on every request.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return False
    if cluster.ca_cert_pem is None:
        return True
    # requests wants a path; the PEM travels with the stack so it stays relocatable.
    ca = tempfile.NamedTemporaryFile("w", prefix="rs-ca-", suffix=".pem", delete=False)  # noqa: SIM115
    with ca:
        ca.write(cluster.ca_cert_pem)
    cleanup.callback(Path(ca.name).unlink, missing_ok=True)
    return ca.name
