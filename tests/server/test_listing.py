"""Which files an export wrote: a mount_point folder or an s3 prefix listed before and after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import REPO, VENV_BIN, MotoServer, RawServer, free_port
from redis_enterprise_export.run import listing
from redis_enterprise_export.run.listing import Lister, Snapshot, snapshot, written
from redis_enterprise_export.spec.locations import Location, MountPointLocation, location_from_dict

BUCKET = "drills"
SECRET_ENV = "DRILL_S3_SECRET"
# Distinctive, so a leak check finds it wherever it might end up.
WRONG_SECRET = "Wrong-Secret-Key-7c1d9"


def folder(path: Path) -> Snapshot:
    return snapshot(MountPointLocation(path=str(path)), {})


def s3_location(subdir: str | None = "nightly", key_id: str = "AKIAMOTOTESTKEY") -> Location:
    data = {
        "type": "s3",
        "bucket_name": BUCKET,
        "access_key_id": key_id,
        "secret_access_key_env": SECRET_ENV,
        "region_name": "eu-west-1",
    }
    return location_from_dict(data if subdir is None else data | {"subdir": subdir})


@pytest.fixture
def aws_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 reads this machine's AWS files and variables: point them at nothing."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def moto(
    tmp_path: Path, aws_isolated: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MotoServer]:
    """moto's S3 with the bucket ``drills``, the endpoint boto3 finds in AWS_ENDPOINT_URL_S3."""
    server = MotoServer(tmp_path)
    server.create_bucket(BUCKET)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.url)
    yield server
    server.stop()


# mount_point


def test_mount_point_written_names_the_new_and_changed_files_sorted(tmp_path: Path) -> None:
    """New files, files changed in content or only in mtime are written; unchanged ones are not."""
    for name in ("changed.rdb.gz", "touched.rdb.gz", "same.rdb.gz"):
        (tmp_path / name).write_bytes(b"old")
    before = folder(tmp_path)
    (tmp_path / "changed.rdb.gz").write_bytes(b"new and longer")
    stat = (tmp_path / "touched.rdb.gz").stat()
    os.utime(tmp_path / "touched.rdb.gz", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    (tmp_path / "orders-20261128.rdb.gz").write_bytes(b"shard 1")
    (tmp_path / "b-new.rdb.gz").write_bytes(b"shard 2")
    assert written(before, folder(tmp_path)) == (
        "b-new.rdb.gz",
        "changed.rdb.gz",
        "orders-20261128.rdb.gz",
        "touched.rdb.gz",
    )


def test_mount_point_lists_only_regular_files_directly_in_the_folder(tmp_path: Path) -> None:
    """Dot files, subfolders, files in subfolders and symlinks are not an export's files."""
    outside = tmp_path / "outside.rdb.gz"
    outside.write_bytes(b"elsewhere")
    where = tmp_path / "exports"
    where.mkdir()
    (where / "orders.rdb.gz").write_bytes(b"rdb")
    (where / ".nfs000000000001").write_bytes(b"an NFS client's")
    (where / "older").mkdir()
    (where / "older" / "orders-old.rdb.gz").write_bytes(b"nested")
    (where / "link.rdb.gz").symlink_to(outside)
    (where / "link-dir").symlink_to(tmp_path)
    listed = folder(where)
    assert listed.files is not None
    assert set(listed.files) == {"orders.rdb.gz"}
    assert listed.why_not == ""


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_mount_point_that_is_not_a_folder_here_says_so(tmp_path: Path, kind: str) -> None:
    """A path this runner does not see as a folder: not listed, one line naming it."""
    path = tmp_path / "mnt"
    if kind == "a file":
        path.write_bytes(b"")
    listed = folder(path)
    assert listed.files is None
    assert listed.why_not == f"mount_point {path} is not a folder on this runner"
    assert written(listed, folder(tmp_path)) is None


def test_mount_point_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    """A folder this runner may not list: not listed, one line naming it and the reason.

    Root reads any folder: as root the listing runs without the capabilities that let it.
    """
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o311)  # enter and write, not read
    code = (
        "import sys\n"
        "from redis_enterprise_export.run.listing import snapshot\n"
        "from redis_enterprise_export.spec.locations import MountPointLocation\n"
        "s = snapshot(MountPointLocation(path=sys.argv[1]), {})\n"
        "print(s.files, s.why_not, sep='\\n')\n"
    )
    command = [str(VENV_BIN / "python"), "-c", code, str(locked)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("as root, this needs util-linux's setpriv to drop CAP_DAC_*")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    run = subprocess.run(
        command,
        env={"PYTHONPATH": str(REPO / "constructs"), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "None",
        f"mount_point {locked} cannot be listed on this runner: Permission denied",
    ]


# s3


def test_s3_lists_the_objects_directly_under_the_subdir(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys directly under subdir/, by name relative to it; nested keys, other prefixes and
    the folder marker are not listed; a leading '/' in subdir is the same prefix."""
    s3 = moto.client()
    for key in (
        "nightly/",
        "nightly/orders-1.rdb.gz",
        "nightly/deeper/x.rdb.gz",
        "nightlyx/y",
        "z",
    ):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"rdb")
    environ = {SECRET_ENV: "any-secret-moto-takes"}
    before = snapshot(s3_location("/nightly"), environ)
    assert before.files is not None, before.why_not
    assert set(before.files) == {"orders-1.rdb.gz"}
    s3.put_object(Bucket=BUCKET, Key="nightly/orders-1.rdb.gz", Body=b"rewritten")
    s3.put_object(Bucket=BUCKET, Key="nightly/orders-2.rdb.gz", Body=b"rdb")
    s3.put_object(Bucket=BUCKET, Key="nightly/deeper/y.rdb.gz", Body=b"rdb")
    after = snapshot(s3_location("nightly/"), environ)
    assert written(before, after) == ("orders-1.rdb.gz", "orders-2.rdb.gz")
    whole = snapshot(s3_location(None), environ)
    assert whole.files is not None
    assert set(whole.files) == {"z"}


def test_a_run_lists_s3_as_often_as_it_needs_with_one_client(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Warmed ahead, then listed before and after: one client made, both listings right."""
    made: list[object] = []
    real = listing.s3_client

    def counted(*args: object) -> object:
        made.append(real(*args))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(listing, "s3_client", counted)
    lister = Lister(s3_location(), {SECRET_ENV: "any-secret-moto-takes"})
    lister.warm()
    before = lister.snapshot()
    moto.client().put_object(Bucket=BUCKET, Key="nightly/orders-1.rdb.gz", Body=b"rdb")
    after = lister.snapshot()
    assert written(before, after) == ("orders-1.rdb.gz",)
    assert len(made) == 1


def test_an_s3_client_that_cannot_be_made_says_why_on_every_listing(aws_isolated: None) -> None:
    """The secret's variable is unset: warming does not raise, and each listing says why."""
    lister = Lister(s3_location(), {})
    lister.warm()
    for listed in (lister.snapshot(), lister.snapshot()):
        assert listed.files is None
        assert SECRET_ENV in listed.why_not


def test_s3_lists_every_page_of_a_long_listing(moto: MotoServer) -> None:
    """More keys than S3 answers in one page (1000): every one is listed."""
    s3 = moto.client()
    names = {f"orders-{i:04}.rdb.gz" for i in range(1001)}
    for name in names:
        s3.put_object(Bucket=BUCKET, Key=f"nightly/{name}", Body=b"")
    listed = snapshot(s3_location(), {SECRET_ENV: "any-secret-moto-takes"})
    assert listed.files is not None, listed.why_not
    assert set(listed.files) == names


def test_s3_with_a_wrong_secret_says_why_without_the_secret(moto: MotoServer) -> None:
    """S3 refuses the signature: not listed, one line with S3's error code, no secret."""
    key_id = moto.require_signatures()
    listed = snapshot(s3_location(key_id=key_id), {SECRET_ENV: WRONG_SECRET})
    assert listed.files is None
    assert listed.why_not.startswith(f"cannot list s3://{BUCKET}/nightly/: SignatureDoesNotMatch")
    assert WRONG_SECRET not in listed.why_not
    assert "\n" not in listed.why_not


def test_s3_error_text_that_echoes_the_secret_is_scrubbed(
    aws_isolated: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3-compatible store that quotes the secret in its error: the line shows *** instead."""
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
        f"<Message>no key pairs with secret {WRONG_SECRET}\nhere</Message></Error>"
    ).encode()
    server = RawServer(
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.url)
    try:
        listed = snapshot(s3_location(), {SECRET_ENV: WRONG_SECRET})
    finally:
        server.close()
    assert listed.files is None
    assert listed.why_not == (
        f"cannot list s3://{BUCKET}/nightly/: AccessDenied: no key pairs with secret *** here"
    )


def test_s3_endpoint_that_does_not_answer_says_why(
    aws_isolated: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No store at the endpoint: not listed, one line naming botocore's error; nothing raised."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    listed = snapshot(s3_location(), {SECRET_ENV: WRONG_SECRET})
    assert listed.files is None
    assert listed.why_not.startswith(
        f"cannot list s3://{BUCKET}/nightly/: EndpointConnectionError: "
    )
    assert WRONG_SECRET not in listed.why_not


def test_s3_without_its_secret_variable_names_the_variable(aws_isolated: None) -> None:
    """The variable secret_access_key_env names is unset: not listed, the line names it."""
    listed = snapshot(s3_location(), {})
    assert listed.files is None
    assert SECRET_ENV in listed.why_not
    assert listed.why_not.startswith(f"cannot list s3://{BUCKET}/nightly/: ")


def test_s3_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 not installed: not listed, one line naming the extra that brings it."""
    monkeypatch.setitem(sys.modules, "boto3", None)
    listed = snapshot(s3_location(), {SECRET_ENV: WRONG_SECRET})
    assert listed.files is None
    assert "boto3" in listed.why_not
    assert "pip install 'redis-enterprise-export[s3]'" in listed.why_not
    assert "\n" not in listed.why_not


# other types


@pytest.mark.parametrize(
    "data",
    [
        {"type": "url", "url": "ftp://backup@ftp.example.com/exports/"},
        {"type": "sftp", "sftp_url": "sftp://backup@sftp.example.com/exports/"},
        {
            "type": "gs",
            "bucket_name": "b",
            "client_id": "1",
            "client_email": "e@example.com",
            "private_key_id": "k",
            "private_key_env": "GS_KEY",
        },
        {"type": "abs", "account_name": "a", "container": "c", "sas_token_env": "SAS"},
    ],
    ids=lambda data: data["type"],
)
def test_other_location_types_say_the_file_must_be_named(data: dict[str, str]) -> None:
    """RS says no file name and these are not listed from here: the drill needs file = ..."""
    listed = snapshot(location_from_dict(data), {"GS_KEY": "k" * 20, "SAS": "s" * 20})
    assert listed.files is None
    assert "RS does not say which file an export wrote" in listed.why_not
    assert f"a {data['type']} location" in listed.why_not
    assert "(file = ...)" in listed.why_not


# written()

fingerprints = st.dictionaries(st.sampled_from("abcdefgh"), st.sampled_from(["1:1", "1:2", "2:1"]))


@given(before=fingerprints, after=fingerprints)
def test_written_is_the_names_new_or_changed_in_after(
    before: dict[str, str], after: dict[str, str]
) -> None:
    """Exactly the names in after that before lacks or fingerprints otherwise, sorted."""
    expected = {name for name in after if name not in before or before[name] != after[name]}
    assert written(Snapshot(before), Snapshot(after)) == tuple(sorted(expected))
    assert written(Snapshot(None, "x"), Snapshot(after)) is None
    assert written(Snapshot(before), Snapshot(None, "x")) is None
