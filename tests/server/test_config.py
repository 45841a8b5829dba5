"""The TOML config: every mistake is one line naming file, table, key, value and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import REPO, run_main, terraform_env, toml_text
from redis_enterprise_export.cli import main
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.config import load_config
from redis_enterprise_export.spec.locations import MountPointLocation, S3Location, SseC
from redis_enterprise_export.synth.cdk import App
from redis_enterprise_export.synth.stack import ExportStack, ExportStackProps

CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
GOOD_CLUSTER = {"url": "https://rs.example.com:9443"}
GOOD_EXPORT = {
    "cluster": "prod",
    "database": 1,
    "location": {"type": "mount_point", "path": "/mnt/b"},
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exports.toml"
    path.write_text(text)
    return path


def config_text(cluster: dict[str, Any] | None = None, export: dict[str, Any] | None = None) -> str:
    return toml_text(
        {
            "clusters": {"prod": GOOD_CLUSTER if cluster is None else cluster},
            "exports": {"orders": GOOD_EXPORT if export is None else export},
        }
    )


def test_a_good_config_loads_every_field(tmp_path: Path) -> None:
    """A config using every key loads into the models with each value where it belongs."""
    (tmp_path / "ca.pem").write_text(CA)
    path = write(
        tmp_path,
        config_text(
            {
                **GOOD_CLUSTER,
                "ca_cert": "ca.pem",
                "username_env": "RS_USER",
                "password_env": "RS_PW",
            },
            {
                "cluster": "prod",
                "database": "orders-db",
                "email_notification": True,
                "timeout_seconds": 900,
                "location": {
                    "type": "s3",
                    "bucket_name": "b",
                    "access_key_id": "AKIA",
                    "secret_access_key_env": "S3_SECRET",
                },
            },
        ),
    )
    config = load_config(path)
    spec = config.exports[0]
    assert spec.name == "orders"
    assert spec.database == "orders-db"
    assert spec.cluster.ca_cert_pem == CA
    assert spec.cluster.password_env == "RS_PW"
    assert spec.email_notification is True
    assert spec.timeout_seconds == 900
    assert spec.location == S3Location(
        bucket_name="b", access_key_id="AKIA", secret_access_key_env="S3_SECRET"
    )


def test_state_in_postgres_takes_its_connection_from_the_environment(tmp_path: Path) -> None:
    """A pg [state] table names only its schema: the connection string never appears in config."""
    text = config_text() + '\n[state]\nbackend = "pg"\nschema_name = "team_a"\n'
    state = load_config(write(tmp_path, text)).state
    assert (state.backend, state.schema_name) == ("pg", "team_a")


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    """Keys left out take the defaults docs/configuration.md documents."""
    spec = load_config(write(tmp_path, config_text())).exports[0]
    assert spec.cluster.username_env == "REDIS_ENTERPRISE_USER"
    assert spec.cluster.password_env == "REDIS_ENTERPRISE_PASSWORD"
    assert spec.cluster.tls_verify is True
    assert spec.email_notification is None
    assert spec.timeout_seconds == 3600
    assert spec.location == MountPointLocation(path="/mnt/b")


def with_export(**changes: Any) -> str:
    export = {k: v for k, v in (GOOD_EXPORT | changes).items() if v is not None}
    return config_text(export=export)


def with_cluster(**changes: Any) -> str:
    cluster = {k: v for k, v in (GOOD_CLUSTER | changes).items() if v is not None}
    return config_text(cluster=cluster)


def with_location(**fields: Any) -> str:
    return with_export(location=fields)


S3 = {"type": "s3", "bucket_name": "b", "access_key_id": "a", "secret_access_key_env": "S"}

# (file text, the message after "error: <file>")
BAD_CONFIGS: list[tuple[str, str]] = [
    (
        "[clusters.prod\nurl = 1",
        ": syntax: got \"Expected ']' at the end of a table declaration (at line 1, column 15)\"; expected valid TOML",
    ),
    (
        "[clusters.a]\nurl='https://x'\n[clusters.a]\n",
        ": syntax: got \"Cannot declare ('clusters', 'a') twice (at line 3, column 12)\"; expected valid TOML",
    ),
    ("[exports.x]\n", ": [clusters]: got nothing; expected a [clusters.NAME] table"),
    (
        "[clusters.prod]\nurl = 'https://rs'\n",
        ": [exports]: got nothing; expected a [exports.NAME] table",
    ),
    (
        "clusters = 3\n[exports.x]\n",
        ": [clusters]: got 3; expected at least one [clusters.NAME] table",
    ),
    (
        config_text() + "\n[export.y]\n",
        ": export: got an unknown key; expected one of clusters, drills, exports, state (did you mean 'exports'?)",
    ),
    (
        config_text() + "\n[clusters.x]\nurl = 'https://x'\nvrify = false\n",
        " [clusters.x]: vrify: got an unknown key; expected one of allow_http, ca_cert, coordination, max_concurrent_exports, password_env, request_timeout_seconds, tls_verify, url, username_env",
    ),
    (
        config_text() + "\n[clusters.x]\nurl = 'https://x'\ntls_verfy = false\n",
        " [clusters.x]: tls_verfy: got an unknown key; expected one of allow_http, ca_cert, coordination, max_concurrent_exports, password_env, request_timeout_seconds, tls_verify, url, username_env (did you mean 'tls_verify'?)",
    ),
    (with_cluster(url=None), " [clusters.prod]: url: got nothing; expected https://HOST[:PORT]"),
    (with_cluster(url=""), " [clusters.prod]: url: got ''; expected https://HOST[:PORT]"),
    (with_cluster(url=9443), " [clusters.prod]: url: got 9443; expected https://HOST[:PORT]"),
    (
        with_cluster(url="http://rs:8080"),
        " [clusters.prod]: url: got 'http://rs:8080'; expected an https:// URL",
    ),
    (
        with_cluster(tls_verify="false"),
        " [clusters.prod]: tls_verify: got 'false'; expected true or false",
    ),
    (
        with_cluster(username_env="rs user"),
        " [clusters.prod]: username_env: got <a value not shown, 7 characters>; expected the name of an environment variable",
    ),
    (
        with_cluster(ca_cert="missing.pem"),
        " [clusters.prod]: ca_cert: got 'missing.pem'; expected a readable PEM file of at most 16 MiB (relative to exports.toml)",
    ),
    (
        with_cluster(ca_cert=""),
        " [clusters.prod]: ca_cert: got ''; expected the path of a PEM CA file",
    ),
    (
        with_export(cluster=None),
        " [exports.orders]: cluster: got nothing; expected the name of a [clusters.NAME] table",
    ),
    (
        with_export(cluster="staging"),
        " [exports.orders]: cluster: got 'staging'; expected the name of a [clusters.NAME] table: prod",
    ),
    (
        with_export(database=None),
        " [exports.orders]: database: got nothing; expected a database uid",
    ),
    (
        with_export(database=0),
        " [exports.orders]: database: got 0; expected a database uid (integer >= 1) or its name",
    ),
    (with_export(database=""), " [exports.orders]: database: got ''"),
    (with_export(database=1.5), " [exports.orders]: database: got 1.5"),
    (
        with_export(timeout_seconds=-1),
        " [exports.orders]: timeout_seconds: got -1; expected a number of seconds above 0",
    ),
    (with_export(timeout_seconds="1h"), " [exports.orders]: timeout_seconds: got '1h'"),
    (
        with_export(email_notification="yes"),
        " [exports.orders]: email_notification: got 'yes'; expected true or false",
    ),
    (
        with_export(emial_notification=True),
        " [exports.orders]: emial_notification: got an unknown key; expected one of cluster, database, databases, email_notification, exclude, location, retention, timeout_seconds (did you mean 'email_notification'?)",
    ),
    (
        with_export(location=None),
        " [exports.orders]: location: got nothing; expected an inline table",
    ),
    (
        with_export(location="s3://bucket"),
        " [exports.orders]: location: got 's3://bucket'; expected a table with a type and its fields",
    ),
    (
        with_location(path="/x"),
        " [exports.orders]: location.type: got nothing; expected one of url, sftp, s3, gs, abs, mount_point",
    ),
    (
        with_location(type="swift", path="/x"),
        " [exports.orders]: location.type: got 'swift'; expected one of url, sftp, s3, gs, abs, mount_point",
    ),
    (
        with_location(type="mount_point"),
        " [exports.orders]: location.path: got nothing; expected a value for path in a mount_point location",
    ),
    (
        with_location(type="mount_point", path=""),
        " [exports.orders]: location.path: got ''; expected an absolute path",
    ),
    (
        with_location(**S3, subdri="x"),
        " [exports.orders]: location.subdri: got an unknown key; expected one of access_key_id, bucket_name, encryption, region_name, secret_access_key_env, subdir, type (did you mean 'subdir'?)",
    ),
    (
        with_location(**(S3 | {"secret_access_key": "LEAKED"})),
        " [exports.orders]: location.secret_access_key: got '***'; expected no literal secret in config (set secret_access_key_env",
    ),
    (
        with_location(type="url", url="ftp://u:LEAKED@h/p/"),
        " [exports.orders]: location.url: got 'ftp://***@h/p/'; expected a URL without a password (give the password's environment variable as password_env)",
    ),
    (
        with_location(type="url", url="ftp://u@h/p/", password="LEAKED"),
        " [exports.orders]: location.password: got '***'; expected no literal secret in config (set password_env",
    ),
    (
        with_location(type="abs", account_name="a", container="c"),
        " [exports.orders]: location.account_key_env/sas_token_env: got 'neither'",
    ),
    (
        with_location(type="gs", bucket_name="b"),
        " [exports.orders]: location.client_id: got nothing",
    ),
    (
        config_text(export={}).replace("[exports.orders]", "[exports.9-orders]")
        + "cluster='prod'\ndatabase=1\nlocation={type='mount_point',path='/m'}\n",
        " [exports.9-orders]: name: got '9-orders'; expected a letter or _ then",
    ),
    (
        config_text().replace("[exports.orders]", '[exports."nightly backup"]'),
        " [exports.nightly backup]: name: got 'nightly backup'",
    ),
    (
        "[clusters]\nprod = 'https://rs'\n[exports.x]\n",
        ": clusters.prod: got 'https://rs'; expected a [clusters.prod] table",
    ),
    (
        config_text() + "\n[state]\nbackend = 'swift'\n",
        " [state]: backend: got 'swift'; expected one of local, pg, s3, gcs, azurerm, http, consul, kubernetes",
    ),
    (
        config_text() + "\n[state]\nbackend = 'pg'\npath = 'x'\n",
        " [state]: path: got an unknown key; expected one of backend, schema_name",
    ),
    (
        config_text() + "\n[state]\nbackend = 'pg'\nconn_str = 'postgres://u:LEAKED@h/db'\n",
        " [state]: conn_str: got an unknown key; expected one of backend, schema_name",
    ),
    (
        config_text() + "\n[state]\npath = ''\n",
        " [state]: path: got ''; expected a non-empty string",
    ),
    ("state = 'pg'\n" + config_text(), " [state]: state: got 'pg'; expected a [state] table"),
]


def test_every_error_a_single_read_finds_is_reported_one_line_each(tmp_path: Path) -> None:
    """A config with errors in two clusters, an export, the state and a drill reports all of
    them, one line each naming file, table and key (before: only the first); an export on
    a cluster in error is not blamed for it."""
    bad_export = GOOD_EXPORT | {"timeout_seconds": -1}
    leaning = GOOD_EXPORT | {"cluster": "staging"}
    drill = {"export": "orders", "into": "orders-drill", "erase": "orders-dril"}
    path = write(tmp_path, toml_text({
        "clusters": {"prod": GOOD_CLUSTER | {"port": 1}, "staging": {"url": "ftp://x"},
                     "dr": GOOD_CLUSTER},
        "exports": {"orders": GOOD_EXPORT | {"cluster": "dr"}, "bad": bad_export | {"cluster": "dr"},
                    "on-staging": leaning},
        "drills": {"nightly": drill},
    }) + "[state]\nbackend = 'swift'\n")  # fmt: skip
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path} [clusters.prod]", "port"],
        [f"{path} [clusters.staging]", "url"],
        [f"{path} [exports.bad]", "timeout_seconds"],
        [f"{path} [state]", "backend"],
        [f"{path} [drills.nightly]", "erase"],
    ]
    assert not any("on-staging" in line for line in lines)


def test_an_empty_file_says_both_tables_are_missing(tmp_path: Path) -> None:
    """An empty config is two errors: no [clusters] and no [exports], a line each."""
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).splitlines() == [
        f"{path}: [clusters]: got nothing; expected a [clusters.NAME] table",
        f"{path}: [exports]: got nothing; expected a [exports.NAME] table",
    ]


def test_the_cli_prints_each_config_error_on_its_own_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several errors reach stderr as one "error: " line each, exit 2, no traceback."""
    path = write(tmp_path, "")
    assert main(["status", "--config", str(path)], terraform_env()) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: {path}: [clusters]: got nothing; expected a [clusters.NAME] table",
        f"error: {path}: [exports]: got nothing; expected a [exports.NAME] table",
    ]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_fails_with_one_line_naming_file_table_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    """Each malformed config is one ConfigError line naming file, table and key; no secret shown."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    shown = str(info.value)
    assert shown.startswith(str(path) + message)
    assert "\n" not in shown
    assert "LEAKED" not in shown


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_main_prints_the_one_line_and_synthesizes_nothing(
    tmp_path: Path, text: str, message: str
) -> None:
    """Through main.py the same mistake is one stderr line, exit 2, and no cdktf.out."""
    path = write(tmp_path, text)
    run = run_main(path, tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {path}{message}")
    assert run.stderr.count("\n") == 1
    assert run.stdout == ""
    assert not (tmp_path / "cdktf.out").exists()


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    """A config file that does not exist is named in the error."""
    with pytest.raises(
        ConfigError, match=r"file: got '.*nope\.toml'; expected an existing TOML file"
    ):
        load_config(tmp_path / "nope.toml")


toml_scalars = st.one_of(
    st.text(max_size=12), st.integers(-5, 5), st.booleans(), st.floats(-1, 1, allow_nan=False)
)
location_tables = st.dictionaries(
    st.sampled_from(["type", "path", "url", "bucket_name", "secret_access_key_env", "subdir", "x"]),
    st.one_of(toml_scalars, st.sampled_from(["s3", "mount_point", "url", "/mnt/x", "ftp://u@h/"])),
    max_size=5,
)
valid_locations = st.sampled_from(
    [
        {"type": "mount_point", "path": "/mnt/x"},
        S3 | {"subdir": "nightly"},
        {"type": "url", "url": "ftp://u@h/", "password_env": "FTP_PW"},
        {"type": "abs", "account_name": "a", "container": "c", "sas_token_env": "SAS"},
    ]
)
export_tables = st.fixed_dictionaries(
    {},
    optional={
        "cluster": st.sampled_from(["prod", "prod", "other", ""]),
        "database": st.one_of(st.integers(-2, 3), st.text(max_size=5)),
        "location": st.one_of(valid_locations, location_tables),
        "timeout_seconds": st.one_of(st.integers(1, 60), st.integers(-10, 10), st.text(max_size=3)),
        "email_notification": st.one_of(st.booleans(), toml_scalars),
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cluster=st.one_of(
        st.just({"url": "https://rs:9443"}),
        st.fixed_dictionaries(
            {"url": st.sampled_from(["https://rs:9443", "https://rs:9443", "http://rs", "rs", ""])},
            optional={
                "tls_verify": st.one_of(st.booleans(), toml_scalars),
                "username_env": st.one_of(st.just("RS_USER"), st.text(max_size=6)),
            },
        ),
    ),
    export=st.one_of(
        st.just(
            {"cluster": "prod", "database": 1, "location": {"type": "mount_point", "path": "/m"}}
        ),
        export_tables,
    ),
    name=st.one_of(st.just("orders"), st.text(alphabet="ab-_ 9", min_size=1, max_size=6)),
)
def test_any_config_loads_or_fails_with_a_config_error(
    tmp_path: Path, cluster: dict[str, Any], export: dict[str, Any], name: str
) -> None:
    """Never a traceback: a generated config either synthesizes or raises ConfigError."""
    text = toml_text({"clusters": {"prod": cluster}, "exports": {f'"{name}"': export}})
    path = write(tmp_path, text)
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path))  # noqa: PT017 (the other branch must not raise)
        event("config error")
        return
    app = App(outdir=str(tmp_path / "out"))
    ExportStack(app, "exports", ExportStackProps(exports=config.exports))
    app.synth()
    event("synthesized")
    assert (tmp_path / "out" / "stacks" / "exports" / "cdk.tf.json").exists()


def test_the_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    """The configuration example users copy must load as it stands (its CA file aside)."""
    page = (REPO / "docs" / "configuration.md").read_text()
    example = page.split("## An example")[1].split("```toml\n")[1].split("```")[0]
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "rs-proxy-ca.pem").write_text(CA)
    config = load_config(write(tmp_path, example))
    assert [e.name for e in config.exports] == ["orders"]
    assert config.exports[0].location.type == "s3"


def test_sse_c_is_a_subtable_of_an_s3_location_and_only_its_variable_reaches_the_stack(
    tmp_path: Path,
) -> None:
    """[exports.x.location.encryption] loads as SseC; cdk.tf.json names the variable, never the key."""
    text = toml_text({"clusters": {"prod": GOOD_CLUSTER},
                      "exports": {"orders": {"cluster": "prod", "database": 1}}})  # fmt: skip
    text += (
        "[exports.orders.location]\n"
        + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in S3.items())
        + '[exports.orders.location.encryption]\ntype = "sse-c"\nsse_customer_key_env = "SSE_KEY"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.exports[0].location == S3Location(
        bucket_name="b", access_key_id="a", secret_access_key_env="S",
        encryption=SseC(sse_customer_key_env="SSE_KEY"),
    )  # fmt: skip
    app = App(outdir=str(tmp_path / "out"))
    ExportStack(app, "exports", ExportStackProps(exports=config.exports))
    app.synth()
    synthesized = json.loads((tmp_path / "out" / "stacks" / "exports" / "cdk.tf.json").read_text())
    (export,) = [
        r for r in synthesized["resource"]["terraform_data"].values() if "provisioner" in r
    ]
    spec = export["input"]
    assert spec["location"]["encryption"] == {"type": "sse-c", "sse_customer_key_env": "SSE_KEY"}
