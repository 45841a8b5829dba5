"""One configured cluster, connected: credentials from the environment, the TLS trust
the config asks for, and the identity its locks are keyed by. Shared by the export
and the day-2 commands."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from redis_enterprise_export.contract import INSECURE_ENV
from redis_enterprise_export.errors import ApiError, ProtocolError
from redis_enterprise_export.polling import Deadline, backoff, ride_out
from redis_enterprise_export.rs.client import RsClient, authorization_secrets
from redis_enterprise_export.spec.export import Cluster, normalized_url
from redis_enterprise_export.spec.values import resolve_env


@dataclass(frozen=True)
class Credentials:
    """A run's cluster user and password, read once from the variables its cluster
    names, and the other secrets (the location's) that no text it shows may hold."""

    user: str
    password: str = field(repr=False)
    others: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def read(
        cls, cluster: Cluster, environ: Mapping[str, str], others: Iterable[str] = ()
    ) -> Credentials:
        """Raises ConfigError naming the variable if one is unset or empty."""
        return cls(
            resolve_env("username_env", cluster.username_env, environ),
            resolve_env("password_env", cluster.password_env, environ),
            tuple(others),
        )

    @property
    def secrets(self) -> list[str]:
        """Every value to scrub from what the run shows: the password, the Authorization
        header that carries it, and the others."""
        return [self.password, *authorization_secrets(self.user, self.password), *self.others]


def connect(
    cluster: Cluster,
    credentials: Credentials,
    environ: Mapping[str, str],
    cleanup: ExitStack,
    deadline: Deadline | None = None,
) -> RsClient:
    """A client for ``cluster``, closed by ``cleanup``. No answer it reads shows the
    password or the other secrets. With the run's ``deadline``, no request outlasts it
    (see ``RsClient``)."""
    client = RsClient(
        cluster.url,
        auth=(credentials.user, credentials.password),
        verify=_verify(cluster, environ, cleanup),
        timeout_seconds=cluster.request_timeout_seconds,
        secrets=credentials.others,
    )
    client.deadline = deadline
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


def cluster_identity(
    client: RsClient,
    deadline: Deadline,
    report: Callable[[str], None],
    delays: Callable[[], Iterator[float]] = backoff,
) -> str:
    """What every lock of this cluster is keyed by, however its URL is spelled, and
    what a wait names: the cluster's own name and creation time (``GET /v1/cluster``),
    else the name and the normalized URL, else the URL alone, said once.

    Trouble reaching the cluster is ridden out until the deadline; a refused login
    (401) is raised, as it fails everything after it.
    """
    url = normalized_url(client.base_url)
    try:
        about = ride_out(
            lambda: client.cluster_settings("name,created_time"), deadline, delays(), report
        )
        name = about.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ProtocolError("GET /v1/cluster answered no cluster name")
    except (ApiError, ProtocolError) as exc:
        if isinstance(exc, ApiError) and exc.http_status == 401:
            raise
        report(
            f"the cluster's name could not be read ({exc}); its locks are keyed by the URL "
            f"{url} instead, which a stack spelling the cluster's address otherwise "
            "does not share"
        )
        return url
    # RS documents no cluster uid. `name` is the cluster's FQDN, which clones (DR,
    # staging restored from prod, labs) can share; `created_time`, the "cluster
    # creation date (read-only)", tells them apart (redis/docs
    # content/operate/rs/references/rest-api/objects/cluster/_index.md; the GET
    # /v1/cluster example shows "2015-04-29T09:09:25Z"). Whether a cluster recovered
    # from another's configuration keeps its creation time is UNCONFIRMED.
    created = about.get("created_time")
    if isinstance(created, str) and created.strip():
        return f"{name} (created {created})"
    report(
        f"the cluster {name} shows no created_time; its locks are keyed by its name and the "
        f"URL {url}, so a clone of the same name does not share them (nor does another "
        "spelling of this cluster's address)"
    )
    return f"{name} at {url}"
