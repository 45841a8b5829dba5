"""Hostile config: every odd value ends in one ConfigError line naming the file, and no secret."""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import toml_text
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.redact import redact_url
from redis_enterprise_export.spec.config import load_config, parse_config
from redis_enterprise_export.spec.locations import FtpLocation, SftpLocation

CLUSTER = {"url": "https://rs.example.com:9443"}
EXPORT = {"cluster": "prod", "database": 1, "location": {"type": "mount_point", "path": "/m"}}


def write(tmp_path: Path, cluster: Any = None, export: Any = None, name: str = "orders") -> Path:
    path = tmp_path / "exports.toml"
    text = toml_text(
        {
            "clusters": {"prod": CLUSTER if cluster is None else cluster},
            "exports": {name: EXPORT if export is None else export},
        }
    )
    path.write_text(text)
    return path


def one_line_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    shown = str(info.value)
    assert shown.startswith(str(path))
    assert "\n" not in shown
    return shown


def at(url: str) -> dict[str, Any]:
    return EXPORT | {"location": {"type": "url", "url": url}}


def sftp_at(url: str) -> dict[str, Any]:
    return EXPORT | {"location": {"type": "sftp", "sftp_url": url}}


BAD_URLS = ["https://c:99999", "https://c:abc", "https://[x"]
FILE_URLS = ["ftp://h:99999/p/", "ftp://h:abc/p/", "ftp://[x/p/"]


@pytest.mark.parametrize(
    ("cluster", "export", "key"),
    [({"url": u}, None, "[clusters.prod]: url") for u in BAD_URLS]
    + [(None, at(u), "[exports.orders]: location.url") for u in FILE_URLS]
    + [(None, sftp_at(u.replace("ftp", "sftp")), "location.sftp_url") for u in FILE_URLS],
)
def test_a_bad_port_or_host_is_one_line_naming_the_key(
    tmp_path: Path, cluster: Any, export: Any, key: str
) -> None:
    """A port out of range, not a number, or an unclosed IPv6 host: a ConfigError, no ValueError."""
    assert key in one_line_error(write(tmp_path, cluster, export))


SHAPES: list[tuple[Any, Any, str]] = [
    (None, EXPORT | {"cluster": ["prod"]}, "cluster: got ['prod']"),
    (None, EXPORT | {"cluster": {"a": 1}}, "cluster: got {'a': 1}"),
    (None, EXPORT | {"location": {"type": ["s3"]}}, "location.type: got ['s3']"),
    (None, EXPORT | {"location": {"type": {"a": 1}}}, "location.type: got {'a': 1}"),
    (None, EXPORT | {"database": {"a": 1}}, "database: got {'a': 1}"),
    (None, EXPORT | {"database": [1]}, "database: got [1]"),
    (None, EXPORT | {"email_notification": [True]}, "email_notification: got [True]"),
    (None, EXPORT | {"location": {"type": "mount_point", "path": ["/m"]}}, "location.path"),
    (None, at({"u": "ftp://h/"}), "location.url: got {'u': 'ftp://h/'}"),  # type: ignore[arg-type]
    ({"url": ["https://rs"]}, None, "url: got ['https://rs']"),
    ({"url": {"h": "rs"}}, None, "url: got {'h': 'rs'}"),
    (CLUSTER | {"tls_verify": [True]}, None, "tls_verify: got [True]"),
    (CLUSTER | {"allow_http": {"a": True}}, None, "allow_http: got {'a': True}"),
    (CLUSTER | {"ca_cert": ["ca.pem"]}, None, "ca_cert: got ['ca.pem']"),
]


@pytest.mark.parametrize(("cluster", "export", "message"), SHAPES)
def test_a_non_string_shape_is_one_line_naming_the_key(
    tmp_path: Path, cluster: Any, export: Any, message: str
) -> None:
    """Arrays and tables where a string or boolean belongs: a ConfigError, never a TypeError."""
    assert message in one_line_error(write(tmp_path, cluster, export))


@pytest.mark.parametrize("name", ["run_id", "exports"])
def test_an_export_named_like_the_stacks_own_names_is_refused(tmp_path: Path, name: str) -> None:
    """run_id and exports are the stack's variable and output: the one-line error names them."""
    shown = one_line_error(write(tmp_path, name=name))
    assert f"[exports.{name}]: name: got '{name}'; expected a name other than" in shown


URL_FIELDS: list[tuple[str, Any, Any]] = [
    ("cluster url, bad scheme", {"url": "htps://admin:S3CRET@host"}, None),
    ("cluster url, http", {"url": "http://admin:S3CRET@host"}, None),
    ("cluster url, user", {"url": "https://admin:S3CRET@host"}, None),
    ("cluster url, bad port", {"url": "https://admin:S3CRET@host:99999"}, None),
    ("cluster url, bad host", {"url": "https://admin:S3CRET@[x"}, None),
    ("ftp url, password", None, at("ftp://admin:S3CRET@h/p/")),
    ("ftp url, bad scheme", None, at("ftq://admin:S3CRET@h/p/")),
    ("ftp url, bad port", None, at("ftp://admin:S3CRET@h:abc/p/")),
    ("ftp url, no host", None, at("ftp://admin:S3CRET@/p/")),
    ("sftp url, password", None, sftp_at("sftp://admin:S3CRET@h/p/")),
    ("sftp url, bad scheme", None, sftp_at("ftp://admin:S3CRET@h/p/")),
    ("sftp url, bad port", None, sftp_at("sftp://admin:S3CRET@h:99999/")),
]


@pytest.mark.parametrize(("_", "cluster", "export"), URL_FIELDS, ids=[c[0] for c in URL_FIELDS])
def test_no_message_shows_a_urls_user_or_password(
    tmp_path: Path, _: str, cluster: Any, export: Any
) -> None:
    """Every URL-bearing field's error hides the userinfo: neither the user nor the password."""
    shown = one_line_error(write(tmp_path, cluster, export))
    assert "S3CRET" not in shown
    assert "admin" not in shown
    assert "***@" in shown


ENV_KEYS: list[tuple[Any, Any]] = [
    (CLUSTER | {"username_env": "x"}, None),
    (CLUSTER | {"password_env": "x"}, None),
    (None, EXPORT | {"location": {"type": "url", "url": "ftp://u@h/", "password_env": "x"}}),
    (None, EXPORT | {"location": {"type": "sftp", "sftp_url": "sftp://u@h/", "key_env": "x"}}),
    (
        None,
        EXPORT
        | {
            "location": {
                "type": "s3",
                "bucket_name": "b",
                "access_key_id": "a",
                "secret_access_key_env": "x",
            }
        },
    ),
    (
        None,
        EXPORT
        | {
            "location": {
                "type": "gs",
                "bucket_name": "b",
                "client_id": "c",
                "client_email": "e",
                "private_key_id": "k",
                "private_key_env": "x",
            }
        },
    ),
    (
        None,
        EXPORT
        | {
            "location": {
                "type": "abs",
                "account_name": "a",
                "container": "c",
                "account_key_env": "x",
            }
        },
    ),
    (
        None,
        EXPORT
        | {
            "location": {"type": "abs", "account_name": "a", "container": "c", "sas_token_env": "x"}
        },
    ),
]


def _with_env_value(cluster: Any, export: Any, value: str) -> tuple[Any, Any]:
    def swap(table: Any) -> Any:
        if not isinstance(table, dict):
            return table
        return {
            k: (value if v == "x" and k.endswith("_env") else swap(v)) for k, v in table.items()
        }

    return swap(cluster), swap(export)


@pytest.mark.parametrize(("cluster", "export"), ENV_KEYS)
@pytest.mark.parametrize("pasted", ["hunter2 secret!", "AKIA/wJalrXUtnFEMI+K7MDENG", "1abc", "a-b"])
def test_a_value_of_an_env_key_that_is_no_name_is_never_printed(
    tmp_path: Path, cluster: Any, export: Any, pasted: str
) -> None:
    """A *_env value that is not a variable name may be a pasted secret: shown only by its length."""
    cluster, export = _with_env_value(cluster, export, pasted)
    shown = one_line_error(write(tmp_path, cluster, export))
    assert pasted not in shown
    assert f"a value not shown, {len(pasted)} characters" in shown


def test_a_literal_secret_key_stays_starred(tmp_path: Path) -> None:
    """secret_access_key given in the file is refused and shown only as '***'."""
    location = {"type": "s3", "bucket_name": "b", "access_key_id": "a",
                "secret_access_key": "S3CRET"}  # fmt: skip
    shown = one_line_error(write(tmp_path, None, EXPORT | {"location": location}))
    assert "S3CRET" not in shown
    assert "secret_access_key: got '***'" in shown


@pytest.mark.parametrize(
    ("cls", "field", "url", "expected"),
    [
        (FtpLocation, "url", "ftp://user@example.com@host/p/", "ftp://user%40example.com:p%40w%2F@host/p/"),
        (FtpLocation, "url", "ftp://user%40example.com@host:21/p/", "ftp://user%40example.com:p%40w%2F@host:21/p/"),
        (SftpLocation, "sftp_url", "sftp://a@b@host/", "sftp://a%40b:p%40w%2F@host/"),
    ],
)  # fmt: skip
def test_a_user_holding_an_at_sign_keeps_the_host_when_the_password_is_inserted(
    cls: Any, field: str, url: str, expected: str
) -> None:
    """The host follows the last "@"; the user is percent-encoded, the password too."""
    location = cls(**{field: url, "password_env": "PW"})
    assert location.api_object({"PW": "p@w/"})[field] == expected
    assert redact_url(url).endswith("***@" + url.rsplit("@", 1)[1])
    assert "user" not in location.describe()


class Stamp(float):
    """A TOML date/time value, written bare; toml_text writes floats with repr."""

    def __new__(cls, when: dt.date | dt.time) -> Stamp:
        stamp = super().__new__(cls, 0.0)
        stamp.when = when
        return stamp

    when: dt.date | dt.time

    def __repr__(self) -> str:
        return self.when.isoformat()


toml_values = st.recursive(
    st.one_of(
        st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=8),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True),
        st.booleans(),
        st.builds(
            Stamp,
            st.one_of(
                st.datetimes(), st.dates(), st.times(), st.datetimes(timezones=st.just(dt.UTC))
            ),
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=4), inner, max_size=3),
    ),
    max_leaves=6,
)
CLUSTER_KEYS = ["url", "ca_cert", "tls_verify", "allow_http", "username_env", "password_env",
                "request_timeout_seconds", "max_concurrent_exports"]  # fmt: skip
EXPORT_KEYS = ["cluster", "database", "location", "email_notification", "timeout_seconds",
               "databases", "exclude"]  # fmt: skip
LOCATION_KEYS = ["type", "url", "sftp_url", "password_env", "key_env", "bucket_name",
                 "access_key_id", "secret_access_key_env", "subdir", "region_name", "path",
                 "account_name", "container", "sas_token_env", "encryption"]  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cluster_key=st.sampled_from(CLUSTER_KEYS),
    export_key=st.sampled_from(EXPORT_KEYS),
    location_key=st.sampled_from(LOCATION_KEYS),
    where=st.sampled_from(["cluster", "export", "location"]),
    value=toml_values,
    kind=st.sampled_from(["mount_point", "s3", "url", "sftp", "gs", "abs"]),
)
def test_any_toml_value_in_any_key_loads_or_is_one_config_error_line(
    tmp_path: Path,
    cluster_key: str,
    export_key: str,
    location_key: str,
    where: str,
    value: Any,
    kind: str,
) -> None:
    """Whatever TOML value sits in whatever key: load_config loads, or one ConfigError line."""
    cluster: dict[str, Any] = dict(CLUSTER)
    location: dict[str, Any] = {"type": kind, "path": "/m"}
    export: dict[str, Any] = EXPORT | {"location": location}
    if where == "cluster":
        cluster[cluster_key] = value
    elif where == "export":
        export[export_key] = value
    else:
        location[location_key] = value
    path = tmp_path / "exports.toml"
    path.write_text(toml_text({"clusters": {"prod": cluster}, "exports": {"x": export}}))
    try:
        load_config(path)
    except ConfigError as exc:
        shown = str(exc)
        assert shown.startswith(str(path))
        assert "\n" not in shown
        event("config error")
        return
    event("loaded")


@pytest.mark.parametrize("field", ["database", "location.path"])
def test_a_nul_character_is_one_line_not_a_failed_apply(tmp_path: Path, field: str) -> None:
    """An environment value cannot hold NUL: refused at synthesis, naming the key, value hidden."""
    export: dict[str, Any] = {"cluster": "c", "database": "orders",
                              "location": {"type": "mount_point", "path": "/m"}}  # fmt: skip
    if field == "database":
        export["database"] = "ord\x00ers"
    else:
        export["location"]["path"] = "/m\x00x"
    path = tmp_path / "exports.toml"
    path.write_text(toml_text({"clusters": {"c": {"url": "https://rs:9443"}},
                               "exports": {"e": export}}))  # fmt: skip
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path} [exports.e]: {field}: got a value not shown; expected text without NUL characters"
    )


BAD_HOSTS = ["a..b", ".a", "a_b..", "a b", "a%62", "-a.b", "a-.b", "a!b", "x" * 64 + ".com",
             ".".join(["abcdefghi"] * 26)]  # fmt: skip
GOOD_HOSTS = ["a.b.", "rs-1.example.com", "rs_node", "10.0.0.1", "[::1]", "bücher.example",
              ("abcdefghi." * 25)[:-1]]  # fmt: skip


def host_fields(host: str) -> list[tuple[Any, Any]]:
    return [
        ({"url": f"https://{host}:9443"}, None),
        (None, at(f"ftp://u@{host}/p/")),
        (None, sftp_at(f"sftp://u@{host}:22/p/")),
    ]


@pytest.mark.parametrize(
    ("cluster", "export"), [c for h in BAD_HOSTS for c in host_fields(h)], ids=str
)
def test_a_malformed_host_is_refused_at_synthesis_not_retried_at_apply(
    tmp_path: Path, cluster: Any, export: Any
) -> None:
    """Empty labels, bad characters, a label over 63 or a name over 253: one line naming the host rule."""
    assert "a host name of labels of 1-63" in one_line_error(write(tmp_path, cluster, export))


@pytest.mark.parametrize(("cluster", "export"), [c for h in GOOD_HOSTS for c in host_fields(h)])
def test_a_well_formed_host_is_accepted(tmp_path: Path, cluster: Any, export: Any) -> None:
    """A trailing dot, _, an IP address, an IDN name and a 249-character name all load."""
    load_config(write(tmp_path, cluster, export))


PASSWORD = "Pw-9zQ"  # a prefix no message holds by chance


@settings(max_examples=200, deadline=None)
@given(
    spelling=st.sampled_from(
        ["ftp:/", "ftp:", "", "//", "ftp:///", "ftp:\\\\", "htps://", "ftp://", "sftp:/", "https:/"]
    ),
    user=st.text(alphabet="abc.@", max_size=4),
    password=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    tail=st.sampled_from(["h/p/", "h:99999/", "[x/", "h:port/", "/p/", "", "a..b/", "h/p@q/"]),
    field=st.sampled_from(["url", "sftp_url", "cluster", "location", "encryption"]),
)
def test_no_misspelt_url_shows_its_password_in_any_error(
    spelling: str, user: str, password: str, tail: str, field: str
) -> None:
    """However a URL with userinfo is misspelt, and whatever key holds it, no error shows the password."""
    url = f"{spelling}{user}:{PASSWORD}{password}@{tail}"
    cluster: dict[str, Any] = dict(CLUSTER)
    export: dict[str, Any] = dict(EXPORT)
    if field == "url":
        export = at(url)
    elif field == "sftp_url":
        export = sftp_at(url)
    elif field == "cluster":
        cluster = {"url": url}
    elif field == "location":
        export = EXPORT | {"location": url}
    else:
        export = EXPORT | {"location": {"type": "s3", "bucket_name": "b", "access_key_id": "a",
                                        "secret_access_key_env": "S", "encryption": [url]}}  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse_config({"clusters": {"prod": cluster}, "exports": {"x": export}}, Path("e.toml"))
    assert PASSWORD not in str(info.value)


def _limit_memory() -> None:
    # Old code read /dev/zero until memory ran out: cap the child, not the machine.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "folder", "17 MiB file"])
def test_a_ca_cert_that_is_no_regular_file_or_too_large_is_one_line_at_once(
    tmp_path: Path, kind: str
) -> None:
    """/dev/zero, a FIFO, a folder or a 17 MiB file: one line within seconds, not a hang or a memory blow-up."""
    ca = tmp_path / "ca.pem"
    if kind == "/dev/zero":
        ca = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(ca)
    elif kind == "folder":
        ca.mkdir()
    else:
        with ca.open("wb") as file:
            file.truncate(17 * 2**20)
    path = write(tmp_path, CLUSTER | {"ca_cert": str(ca)})
    code = f"from pathlib import Path; from redis_enterprise_export.spec.config import load_config; load_config(Path({str(path)!r}))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=False, preexec_fn=_limit_memory)  # fmt: skip
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"redis_enterprise_export.errors.ConfigError: {path} [clusters.prod]: ca_cert: got "
    )
    assert "expected a readable PEM file of at most 16 MiB" in last


def test_certificates_over_1_mib_are_refused_at_synthesis(tmp_path: Path) -> None:
    """Over 1 MiB of CERTIFICATE blocks would fail every apply (argument list too long): one line instead."""
    block = (
        "-----BEGIN CERTIFICATE-----\n" + ("A" * 64 + "\n") * 100 + "-----END CERTIFICATE-----\n"
    )
    (tmp_path / "big.pem").write_text(block * (2**20 // len(block) + 1))
    shown = one_line_error(write(tmp_path, CLUSTER | {"ca_cert": "big.pem"}))
    assert shown.endswith(
        f"ca_cert: got '{len(block) * (2**20 // len(block) + 1)} bytes of certificates'; expected at most 1024 KiB (the helper's "
        "environment is capped near 2 MiB): keep only the CAs that sign the cluster's certificate"
    )


@pytest.mark.parametrize(
    "folder",
    [
        "/mnt/../etc",
        "/mnt/backups/..",
        "/..",
        "/mnt/x\ny",
        "/mnt/\ttab",
        "/mnt/\x1b[31mred",
        "/mnt/\x85next",
    ],
)
def test_a_mount_point_path_with_dot_dot_or_a_control_character_is_one_line(
    tmp_path: Path, folder: str
) -> None:
    """A mount_point path that climbs out with '..' or holds a newline, tab, escape or other
    control character is refused at synthesis: one line naming file, table, key and value."""
    shown = one_line_error(write(tmp_path, export=EXPORT | {"location": {"type": "mount_point",
                                                                        "path": folder}}))  # fmt: skip
    assert "[exports.orders]: location.path: got " in shown
    assert repr(folder) in shown
    assert "without '..' segments or control characters" in shown


# The BMP without surrogates: what the tests' TOML writer escapes faithfully.
PATH_CHARACTERS = st.characters(max_codepoint=0xFFFF).filter(
    lambda c: not "\ud800" <= c <= "\udfff"
)


@given(folder=st.text(PATH_CHARACTERS, max_size=30).map(lambda text: "/" + text))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_any_mount_point_path_loads_only_without_dot_dot_or_control_characters(
    tmp_path: Path, folder: str
) -> None:
    """Whatever absolute path is given, it loads only if it has no '..' segment and no
    control character; otherwise it is one config error line."""
    path = write(tmp_path, export=EXPORT | {"location": {"type": "mount_point", "path": folder}})
    bad = ".." in folder.split("/") or any(c < " " or "\x7f" <= c <= "\x9f" for c in folder)
    if bad:
        one_line_error(path)
    else:
        assert load_config(path).exports[0].location.describe() == f"mount_point {folder}"
