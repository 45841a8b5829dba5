"""Models: the request body per location type, secrets by env name, validation."""

from __future__ import annotations

from typing import Any

import pytest

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.redact import redact_url
from redis_enterprise_export.spec.export import Cluster, ExportSpec
from redis_enterprise_export.spec.locations import (
    AbsLocation,
    FtpLocation,
    GcsLocation,
    Location,
    MountPointLocation,
    S3Location,
    SftpLocation,
    SseC,
    location_from_dict,
)

ENV = {
    "FTP_PW": "ftp p@ss/word",
    "SFTP_PW": "sftp-pw",
    "SFTP_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
    "S3_SECRET": "s3-secret-value",
    "GCS_KEY": "-----BEGIN PRIVATE KEY-----\ngcs\n",
    "ABS_KEY": "abs-account-key",
    "ABS_SAS": "sv=2024&sig=abc",
    "SSE_KEY": "c3NlLWMta2V5LTMyLWJ5dGVzLWxvbmctLS0tLS0=",
}

S3: dict[str, Any] = {
    "type": "s3",
    "bucket_name": "b",
    "access_key_id": "a",
    "secret_access_key_env": "S",
}

# (location, the exact export_location the API must receive)
BODIES: list[tuple[Location, dict[str, Any]]] = [
    (
        FtpLocation(url="ftp://backup@ftp.example.com/redis/", password_env="FTP_PW"),
        {"type": "url", "url": "ftp://backup:ftp%20p%40ss%2Fword@ftp.example.com/redis/"},
    ),
    (
        FtpLocation(url="ftps://ftp.example.com:2121/redis/"),
        {"type": "url", "url": "ftps://ftp.example.com:2121/redis/"},
    ),
    (
        SftpLocation(
            sftp_url="sftp://backup@sftp.example.com/x/", password_env="SFTP_PW", key_env="SFTP_KEY"
        ),
        {
            "type": "sftp",
            "sftp_url": "sftp://backup:sftp-pw@sftp.example.com/x/",
            "key": ENV["SFTP_KEY"],
        },
    ),
    (
        S3Location(
            bucket_name="b",
            access_key_id="AKIA1",
            secret_access_key_env="S3_SECRET",
            subdir="nightly",
            region_name="eu-west-1",
        ),
        {
            "type": "s3",
            "bucket_name": "b",
            "access_key_id": "AKIA1",
            "secret_access_key": "s3-secret-value",
            "subdir": "nightly",
            "region_name": "eu-west-1",
        },
    ),
    (
        S3Location(
            bucket_name="b",
            access_key_id="AKIA1",
            secret_access_key_env="S3_SECRET",
            encryption=SseC(sse_customer_key_env="SSE_KEY"),
        ),
        {
            "type": "s3",
            "bucket_name": "b",
            "access_key_id": "AKIA1",
            "secret_access_key": "s3-secret-value",
            "encryption": {"type": "sse-c", "sse_customer_key": ENV["SSE_KEY"]},
        },
    ),
    (
        GcsLocation(
            bucket_name="g",
            client_id="123",
            client_email="sa@p.iam.gserviceaccount.com",
            private_key_id="kid",
            private_key_env="GCS_KEY",
        ),
        {
            "type": "gs",
            "bucket_name": "g",
            "client_id": "123",
            "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key_id": "kid",
            "private_key": ENV["GCS_KEY"],
        },
    ),
    (
        AbsLocation(account_name="acct", container="c", account_key_env="ABS_KEY"),
        {"type": "abs", "account_name": "acct", "container": "c", "account_key": "abs-account-key"},
    ),
    (
        AbsLocation(account_name="acct", container="c", sas_token_env="ABS_SAS", subdir="d"),
        {
            "type": "abs",
            "account_name": "acct",
            "container": "c",
            "sas_token": "sv=2024&sig=abc",
            "subdir": "d",
        },
    ),
    (MountPointLocation(path="/mnt/backups"), {"type": "mount_point", "path": "/mnt/backups"}),
]


def cluster() -> Cluster:
    return Cluster(url="https://rs.example.com:9443")


@pytest.mark.parametrize(("location", "expected"), BODIES, ids=lambda v: getattr(v, "type", ""))
def test_request_body_is_exactly_the_documented_object(
    location: Location, expected: dict[str, Any]
) -> None:
    """Every location type sends the API's field names, with secrets resolved."""
    spec = ExportSpec(name="x", cluster=cluster(), database=1, location=location)
    assert spec.request_body(ENV) == {"export_location": expected}


@pytest.mark.parametrize(("location", "_"), BODIES, ids=lambda v: getattr(v, "type", ""))
def test_config_form_round_trips_and_holds_no_secret(location: Location, _: object) -> None:
    """to_dict is what lands in Terraform: it names variables and never holds their values."""
    data = location.to_dict()
    assert location_from_dict(data) == location
    text = repr(data)
    assert not any(secret in text for secret in ENV.values())


def test_email_notification_is_sent_only_when_set() -> None:
    """email_notification is left out of the request unless set, and an explicit false is sent."""
    loc = MountPointLocation(path="/mnt")
    plain = ExportSpec(name="x", cluster=cluster(), database=1, location=loc)
    told = ExportSpec(
        name="x", cluster=cluster(), database=1, location=loc, email_notification=False
    )
    assert "email_notification" not in plain.request_body({})
    assert told.request_body({})["email_notification"] is False


def test_spec_round_trips_through_its_dict() -> None:
    """An export spec read back from its to_dict equals the original."""
    spec = ExportSpec(
        name="orders",
        cluster=cluster(),
        database="orders",
        location=BODIES[3][0],
        email_notification=True,
        timeout_seconds=90,
    )
    assert ExportSpec.from_dict(spec.to_dict()) == spec


def test_fails_when_a_secret_variable_is_unset_and_names_only_the_variable() -> None:
    """An unset secret variable fails with a message naming the variable, not a value."""
    loc = S3Location(bucket_name="b", access_key_id="a", secret_access_key_env="S3_SECRET")
    with pytest.raises(ConfigError) as info:
        loc.api_object({})
    assert str(info.value) == (
        "secret_access_key_env: got 'S3_SECRET'; expected the name of an environment "
        "variable that is set and not empty"
    )


def test_redact_url_hides_the_whole_userinfo() -> None:
    """User and password both go, up to the text's last "@" (a password may hold "/" or "@"), even where urlsplit fails."""
    assert redact_url("ftp://u:pw@h:21/p/") == "ftp://***@h:21/p/"
    assert redact_url("ftp://u@h/p/") == "ftp://***@h/p/"
    assert redact_url("ftp://user@example.com:pw@host/p/") == "ftp://***@host/p/"
    assert redact_url("ftp://u:p/w@h/p/") == "ftp://***@h/p/"
    assert redact_url("ftp:/u:pw@h/p/") == "ftp:/***@h/p/"


def test_a_location_description_keeps_an_at_sign_in_its_path() -> None:
    """describe() (progress lines, results) hides the user of a valid URL, not the path after it."""
    location = FtpLocation(url="ftp://user@example.com@host/p@x/", password_env="P")
    assert location.describe() == "url ftp://***@host/p@x/"
    assert redact_url("https://admin:pw@[x") == "https://***@[x"
    assert redact_url("ftp://h/p/") == "ftp://h/p/"


LOCATION_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"type": "swift", "path": "/x"}, "type: got 'swift'; expected one of url, sftp, s3, gs, abs"),
    ({"path": "/x"}, "type: got nothing; expected one of url"),
    ({"type": "mount_point", "path": "relative/x"}, "path: got 'relative/x'; expected an absolute"),
    (
        {"type": "mount_point", "pth": "/x"},
        "pth: got an unknown key; expected one of path, type (did you mean 'path'?)",
    ),
    (
        {"type": "s3", "bucket_name": "b", "access_key_id": "a"},
        "secret_access_key_env: got nothing",
    ),
    (
        {"type": "s3", "bucket_name": "b", "access_key_id": "a", "secret_access_key": "LEAK"},
        "secret_access_key: got '***'; expected no literal secret in config (set "
        "secret_access_key_env",
    ),
    (
        {"type": "s3", "bucket_name": "", "access_key_id": "a", "secret_access_key_env": "S"},
        "bucket_name: got ''; expected a non-empty string",
    ),
    (
        {"type": "s3", "bucket_name": "b", "access_key_id": "a", "secret_access_key_env": "1BAD"},
        "secret_access_key_env: got <a value not shown, 4 characters>; expected the name of an environment variable",
    ),
    (
        {
            "type": "abs",
            "account_name": "a",
            "container": "c",
            "account_key_env": "K",
            "sas_token_env": "T",
        },
        "account_key_env/sas_token_env: got 'both'; expected exactly one",
    ),
    ({"type": "abs", "account_name": "a", "container": "c"}, "got 'neither'; expected exactly one"),
    (
        {"type": "url", "url": "http://h/x/"},
        "url: got 'http://h/x/'; expected a ftp:// or ftps:// URL",
    ),
    (
        {"type": "url", "url": "ftp://u:LEAK@h/x/"},
        "url: got 'ftp://***@h/x/'; expected a URL without a password",
    ),
    ({"type": "url", "url": "ftp://h/x/", "password_env": "P"}, "expected a URL with a user name"),
    (
        {"type": "sftp", "sftp_url": "ftp://u@h/"},
        "sftp_url: got 'ftp://***@h/'; expected a sftp:// URL",
    ),
    (
        S3 | {"encryption": {"type": "sse-c", "sse_customer_key": "LEAK"}},
        "location.encryption.sse_customer_key: got '***'; expected no literal secret in config",
    ),
    (
        S3 | {"encryption": {"type": "sse-c", "sse_customer_key_env": "LE AK"}},
        "location.encryption.sse_customer_key_env: got <a value not shown, 5 characters>",
    ),
    (S3 | {"encryption": {"type": "sse-s3"}}, "location.encryption.type: got 'sse-s3'"),
    (
        S3 | {"encryption": {"type": "sse-c"}},
        "location.encryption.sse_customer_key_env: got nothing",
    ),
    (S3 | {"encryption": "sse-c"}, "location.encryption: got 'sse-c'; expected a table"),
    (
        S3 | {"encryption": {"type": "sse-c", "sse_customer_key_env": "K", "algo": "x"}},
        "location.encryption.algo: got an unknown key",
    ),
    (
        {"type": "sftp", "sftp_url": "sftp://u@h/", "key": "LEAK"},
        "key: got '***'; expected no literal",
    ),
    (
        {
            "type": "gs",
            "bucket_name": 5,
            "client_id": "1",
            "client_email": "e",
            "private_key_id": "k",
            "private_key_env": "K",
        },
        "bucket_name: got 5; expected a non-empty string",
    ),
]


@pytest.mark.parametrize(("data", "message"), LOCATION_ERRORS)
def test_fails_on_bad_location(data: dict[str, Any], message: str) -> None:
    """Each error names the key, shows the value (never a secret) and what is allowed."""
    with pytest.raises(ConfigError) as info:
        location_from_dict(data)
    assert message in str(info.value)
    assert "LEAK" not in str(info.value)


CLUSTER_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"url": "http://rs:8080"}, "url: got 'http://rs:8080'; expected an https:// URL (plain http"),
    ({"url": "rs.example.com"}, "url: got 'rs.example.com'; expected https://HOST[:PORT]"),
    ({"url": "https://u:LEAK@rs:9443"}, "url: got 'https://***@rs:9443'; expected https://HOST"),
    ({"url": "https://rs:9443/v1"}, "with no user, path or query"),
    ({"url": "https://rs", "tls_verify": "no"}, "tls_verify: got 'no'; expected true or false"),
    (
        {"url": "https://rs", "password_env": ""},
        "password_env: got <a value not shown, 0 characters>; expected the name",
    ),
    ({"url": "https://rs", "ca_cert_pem": "junk"}, "ca_cert: got a value not shown; expected PEM"),
]


@pytest.mark.parametrize(("kwargs", "message"), CLUSTER_ERRORS)
def test_fails_on_bad_cluster(kwargs: dict[str, Any], message: str) -> None:
    """A bad cluster setting is refused with a message naming it, and no secret is shown."""
    with pytest.raises(ConfigError) as info:
        Cluster(**kwargs)
    assert message in str(info.value)
    assert "LEAK" not in str(info.value)


def test_plain_http_is_accepted_only_with_the_opt_in() -> None:
    """A plain http URL is accepted with allow_http (refused without: see CLUSTER_ERRORS)."""
    assert Cluster(url="http://rs:8080", allow_http=True).url == "http://rs:8080"


SPEC_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"database": 0}, "database: got 0; expected a database uid (integer >= 1) or its name"),
    ({"database": True}, "database: got True"),
    ({"database": " "}, "database: got ' '"),
    ({"timeout_seconds": -5}, "timeout_seconds: got -5; expected a number of seconds above 0"),
    ({"timeout_seconds": 0}, "timeout_seconds: got 0"),
    ({"name": "9lives"}, "name: got '9lives'; expected a letter or _"),
    ({"name": "has space"}, "name: got 'has space'"),
    ({"email_notification": "yes"}, "email_notification: got 'yes'; expected true or false"),
]


@pytest.mark.parametrize(("override", "message"), SPEC_ERRORS)
def test_fails_on_bad_export(override: dict[str, Any], message: str) -> None:
    """A bad export setting is refused with a message naming the field and the value."""
    kwargs: dict[str, Any] = {
        "name": "orders",
        "cluster": cluster(),
        "database": 1,
        "location": MountPointLocation(path="/mnt"),
    } | override
    with pytest.raises(ConfigError) as info:
        ExportSpec(**kwargs)
    assert message in str(info.value)


def test_an_unset_sse_c_key_variable_is_named_by_its_key_path() -> None:
    """The SSE-C key is read at apply time only; unset, the error names the key path and variable."""
    location = S3Location(**{k: v for k, v in S3.items() if k != "type"},
                          encryption=SseC(sse_customer_key_env="SSE_KEY"))  # fmt: skip
    spec = ExportSpec(name="x", cluster=cluster(), database=1, location=location)
    with pytest.raises(ConfigError) as info:
        spec.request_body({"S": "s"})
    assert str(info.value).startswith("encryption.sse_customer_key_env: got 'SSE_KEY'")
