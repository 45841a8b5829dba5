"""Where the client's trust comes from: credentials, CA certificates and proxies.

Against the simulator (real HTTPS) and a small CONNECT proxy written here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from urllib3.util.retry import Retry

from helpers import ADMIN, PASSWORD, ConnectProxy
from redis_enterprise_export.errors import ConfigError, LocalSetupError, TlsError, TransportError
from redis_enterprise_export.rs.client import RsClient
from redis_enterprise_export.simulator import Simulator

PROXY_VARS = (
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
    "NO_PROXY", "no_proxy",
)  # fmt: skip
CA_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets exactly the trust variables it is about."""
    for name in PROXY_VARS + CA_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """The CA of another simulator: it did not sign this one's certificate."""
    other = Simulator(tmp_path / "other")
    other.start()
    other.stop()
    return other.ca_path


# Credentials ----------------------------------------------------------------


@pytest.mark.parametrize("password", ["Pässwörd", "€uro-Pass-9", "密码-ключ-🔑"])
def test_a_non_ascii_password_authenticates_as_utf8(sim: Simulator, password: str) -> None:
    """Basic auth credentials go out as UTF-8, which the cluster decodes."""
    sim.cluster.add_user("jörg@example.com", password, "admin")
    rs = RsClient(sim.url, auth=("jörg@example.com", password), verify=str(sim.ca_path))
    assert rs.export_state(1).uid == 1
    assert sim.cluster.failed_logins == 0


def test_a_password_that_cannot_be_encoded_is_a_config_error_that_hides_it() -> None:
    """A lone surrogate in the password is a ConfigError whose text shows no part of it."""
    password = "Sekr1t-\ud800-Tail"
    with pytest.raises(ConfigError) as info:
        RsClient("https://127.0.0.1:9", auth=("u", password), retry=Retry(0))
    text = str(info.value)
    assert "Sekr1t" not in text
    assert "Tail" not in text
    assert "\\ud800" not in text
    assert "position" not in text
    assert "password" in text


def test_a_password_from_non_utf8_environment_bytes_is_sent_as_those_bytes(
    httpserver: HTTPServer,
) -> None:
    """os.environ carries undecodable bytes as surrogate escapes; the cluster gets the bytes back."""
    raw = "caf\udce9-pass"  # the latin-1 bytes b"caf\xe9-pass", as Python reads them from the env
    httpserver.expect_request("/v1/bdbs/1").respond_with_json({"uid": 1})
    rs = RsClient(httpserver.url_for("").rstrip("/"), auth=("u", raw), retry=Retry(0))
    assert rs.export_state(1).uid == 1
    header = httpserver.log[0][0].headers["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"u:caf\xe9-pass"


# CA certificates --------------------------------------------------------------


def test_ca_cert_wins_over_requests_ca_bundle(
    sim: Simulator, other_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ca_cert set, REQUESTS_CA_BUNDLE (and CURL_CA_BUNDLE) pointing at a wrong CA change nothing."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other_ca))
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    assert rs.export_state(1).uid == 1


def test_a_wrong_ca_cert_fails_even_when_the_environment_has_the_right_one(
    sim: Simulator, other_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ca_cert is the only trust when set: no fallback to REQUESTS_CA_BUNDLE or the system store."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
    monkeypatch.setenv("SSL_CERT_FILE", str(sim.ca_path))
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(other_ca))
    with pytest.raises(TlsError):
        rs.export_state(1)
    assert sim.cluster.log == []


def test_without_ca_cert_the_os_trust_store_is_used(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no ca_cert, a CA installed only via SSL_CERT_FILE (OpenSSL's default paths) verifies."""
    monkeypatch.setenv("SSL_CERT_FILE", str(sim.ca_path))
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=True)
    assert rs.export_state(1).uid == 1


def test_without_ca_cert_requests_ca_bundle_is_honoured(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no ca_cert, REQUESTS_CA_BUNDLE names the CA bundle, as for any requests program."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=True)
    assert rs.export_state(1).uid == 1


def test_without_ca_cert_an_unknown_ca_fails_clearly(sim: Simulator) -> None:
    """The simulator's CA is in no trust store: TlsError, and the cluster sees no request."""
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=True)
    with pytest.raises(TlsError, match="TLS verification of"):
        rs.export_state(1)
    assert sim.cluster.log == []


def test_verify_false_still_skips_verification(sim: Simulator) -> None:
    """tls_verify = false: no CA needed (the warning is the CLI's business)."""
    import urllib3

    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=False)
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        assert rs.export_state(1).uid == 1


def test_a_ca_bundle_that_does_not_exist_is_a_clear_error(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE naming a missing file fails in one line naming the variable and the file."""
    missing = tmp_path / "nope.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(missing))
    with pytest.raises(LocalSetupError) as info:
        RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=True).export_state(1)
    assert "REQUESTS_CA_BUNDLE" in str(info.value)
    assert str(missing) in str(info.value)


# Proxies ------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    yield server
    server.close()


def test_https_proxy_from_the_environment_is_used(
    sim: Simulator, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY carries the requests (CONNECT to the cluster), and ca_cert still verifies it."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    assert rs.export_state(1).uid == 1
    assert proxy.targets == [f"CONNECT {sim.url.removeprefix('https://')}"]


def test_https_proxy_with_the_os_trust_store(
    sim: Simulator, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the proxy, the OS trust store (truststore) verifies the cluster too."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(sim.ca_path))
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=True)
    assert rs.export_state(1).uid == 1
    assert len(proxy.targets) == 1


def test_no_proxy_bypasses_the_proxy(
    sim: Simulator, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster host listed in NO_PROXY is reached directly."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path))
    assert rs.export_state(1).uid == 1
    assert proxy.targets == []


def test_an_unreachable_proxy_is_a_transport_error_that_sent_nothing(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy that refuses connections: TransportError, maybe_sent False, its credentials not shown."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxyuser:Proxy-Secret-3a@127.0.0.1:9")
    rs = RsClient(sim.url, auth=(ADMIN, PASSWORD), verify=str(sim.ca_path), retry=Retry(0))
    with pytest.raises(TransportError) as info:
        rs.export_state(1)
    assert info.value.maybe_sent is False
    assert "Proxy-Secret-3a" not in str(info.value)
    assert "\n" not in str(info.value)
    assert sim.cluster.log == []
