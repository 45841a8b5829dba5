"""State where platform teams keep it: S3 (against moto's real S3 API) and any built-in backend by name."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    AWS_KEY_ID,
    AWS_SECRET,
    MotoServer,
    TerraformProject,
    run_main,
    terraform_env,
    toml_text,
)
from helpers.terraform import apply_together, checkout
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.simulator import Simulator
from redis_enterprise_export.spec import state as backends
from redis_enterprise_export.spec.state import (
    PARTIAL_BACKENDS,
    S3_CREDENTIAL_KEYS,
    S3_KEYS,
    StateBackend,
    backend_block,
    parse_state,
)

BUCKET = "team-tfstate"


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path)
    server.create_bucket(BUCKET)
    yield server
    server.stop()


def s3_state(moto: MotoServer, key: str = "team-a/exports.tfstate") -> str:
    return (
        f'[state]\nbackend = "s3"\nbucket = "{BUCKET}"\nkey = "{key}"\n'
        f'region = "eu-west-1"\nendpoint = "{moto.url}"\n'
    )


def aws_env(project: TerraformProject) -> None:
    project.env |= {"AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}


def sim_config(sim: Simulator, export_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    location = {"type": "mount_point", "path": str(export_dir)}
    return {
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {
            "orders": {"cluster": "sim", "database": 1, "location": location},
            "orders_again": {"cluster": "sim", "database": "orders", "location": location},
        },
    }


@pytest.mark.e2e
def test_s3_state_lives_in_the_bucket_and_no_credential_reaches_the_stack_or_state(
    sim: Simulator, export_dir: Path, project: TerraformProject, moto: MotoServer
) -> None:
    """With backend s3, init works offline, the apply's state and lock go to the bucket, and the AWS secret is nowhere we write."""
    aws_env(project)
    project.synth(sim_config(sim, export_dir), extra=s3_state(moto))
    project.init()
    assert project.start_state().returncode == 0
    project.apply("r1")
    objects = moto.objects(BUCKET)
    state = json.loads(objects["team-a/exports.tfstate"])
    assert state["outputs"]["exports"]["value"]["orders"]["export_status"] == "succeeded"
    assert not (project.stack / "terraform.tfstate").exists()
    assert "team-a/exports.tfstate.tflock" not in objects  # released after the apply
    assert project.plan_changes("r1") == 0
    # A plain plan reads the last run id back from the bucket: no changes.
    assert project.plan_changes(None) == 0
    written = [project.stack / "cdk.tf.json", *project.stack.glob(".terraform/**/*")]
    for path in [p for p in written if p.is_file()]:
        assert AWS_SECRET not in path.read_text(errors="replace"), path
        assert AWS_KEY_ID not in path.read_text(errors="replace"), path
    for body in objects.values():
        assert AWS_SECRET.encode() not in body


@pytest.mark.e2e
def test_two_applies_at_once_on_s3_state_export_each_database_once_per_run_id(
    sim: Simulator, export_dir: Path, project: TerraformProject, moto: MotoServer
) -> None:
    """Two pipelines applying together on one S3 state: S3's lock file makes one wait, one export per run_id."""
    sim.cluster.scenario.export_seconds = 1.0
    aws_env(project)
    project.synth(sim_config(sim, export_dir), extra=s3_state(moto))
    first, second = checkout(project, "runner-a"), checkout(project, "runner-b")
    for run_id, expected in (("r1", 2), ("r2", 4)):
        results = apply_together(project, [first, second], run_id)
        assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
        assert sim.cluster.exports_started(1) == expected
    assert any("Acquiring state lock" in r.stdout for r in results)


def synth_with_state(directory: Path, state: str) -> None:
    """Synthesize one export of a cluster nothing needs to reach, with ``[state]`` as given."""
    tables: dict[str, dict[str, dict[str, Any]]] = {
        "clusters": {"a": {"url": "https://rs.example.com:9443"}},
        "exports": {
            "x": {"cluster": "a", "database": 1, "location": {"type": "mount_point", "path": "/b"}}
        },
    }
    config = directory / "exports.toml"
    config.write_text(toml_text(tables) + f"[state]\n{state}\n")
    run = run_main(config, directory)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("backend", PARTIAL_BACKENDS)
def test_other_backends_are_declared_by_name_and_configured_at_init(
    tmp_path: Path, backend: str
) -> None:
    """gcs, azurerm, http, consul, kubernetes synthesize an empty block that terraform validates; settings come from -backend-config."""
    synth_with_state(tmp_path, f'backend = "{backend}"')
    stack = tmp_path / "cdktf.out" / "stacks" / "exports"
    assert json.loads((stack / "cdk.tf.json").read_text())["terraform"]["backend"] == {backend: {}}
    project = TerraformProject(tmp_path, terraform_env())
    project.terraform("init", "-backend=false", "-no-color")
    project.terraform("validate", "-no-color")


@pytest.mark.parametrize(
    ("state", "reads_back"),
    [('backend = "s3"\nbucket = "bkt"\nregion = "eu-west-1"', True),
     ('backend = "s3"\nbucket = "bkt"', False),
     ('backend = "pg"\nschema_name = "s ${x}"', True)],
)  # fmt: skip
def test_stacks_reading_their_run_id_back_validate_without_credentials(
    tmp_path: Path, state: str, reads_back: bool
) -> None:
    """terraform validate, offline and with no AWS or PostgreSQL variable, accepts the stack:
    s3 without a region reads no run id back (the read would need one; before, validate
    failed), and a template sequence in the data source's config stays a literal."""
    synth_with_state(tmp_path, state)
    stack = json.loads((tmp_path / "cdktf.out" / "stacks" / "exports" / "cdk.tf.json").read_text())
    data = stack.get("data", {}).get("terraform_remote_state", {}).get("previous_run")
    assert (data is not None) == reads_back
    if data is not None and "schema_name" in data["config"]:
        assert data["config"]["schema_name"] == "s $${x}"
        assert stack["terraform"]["backend"]["pg"]["schema_name"] == "s ${x}"
    env = {k: v for k, v in terraform_env().items() if not k.startswith(("AWS_", "PG"))}
    project = TerraformProject(tmp_path, env)
    project.terraform("init", "-backend=false", "-no-color")
    project.terraform("validate", "-no-color")


def test_s3_endpoint_block_is_what_terraform_1_11_expects_for_a_compatible_store() -> None:
    """An endpoint becomes endpoints.s3 with path style, lock file and every AWS-only check skipped."""
    block = backend_block(
        StateBackend(backend="s3", bucket="b-1", key="k", endpoint="https://minio.example:9000")
    )
    assert block == {
        "bucket": "b-1",
        "key": "k",
        "use_lockfile": True,
        "endpoints": {"s3": "https://minio.example:9000"},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
    }
    plain = backend_block(StateBackend(backend="s3", bucket="b-1", region="eu-west-1"))
    assert plain == {
        "bucket": "b-1",
        "key": "redis-enterprise-export/terraform.tfstate",
        "use_lockfile": True,
        "region": "eu-west-1",
    }


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"backend": "s3"}, "bucket: got ''; expected an S3 bucket name"),
        ({"backend": "s3", "bucket": "B"}, "bucket: got 'B'; expected an S3 bucket name"),
        ({"backend": "s3", "bucket": "bkt", "key": "/a"}, "key: got '/a'; expected an object key"),
        ({"backend": "s3", "bucket": "bkt", "endpoint": "ftp://x"}, "endpoint: got 'ftp://x'"),
        ({"backend": "s3", "bucket": "bkt", "use_path_style": "yes"}, "use_path_style: got 'yes'"),
        (
            {"backend": "s3", "bucket": "bkt", "dynamodb_table": "t"},
            "dynamodb_table: got an unknown key",
        ),
        (
            {"backend": "gcs", "bucket": "bkt"},
            "bucket: got a value not shown; expected only 'backend' for gcs: pass its settings to terraform init -backend-config=bucket=",
        ),
    ],
)
def test_fails_with_one_line_naming_the_state_key(table: dict[str, Any], message: str) -> None:
    """A wrong [state] value is one ConfigError naming the key, the value and what is allowed."""
    with pytest.raises(ConfigError) as info:
        parse_state(table)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@given(
    key=st.sampled_from(sorted(S3_CREDENTIAL_KEYS | {"profile"})),
    secret=st.text(min_size=4, max_size=40).filter(str.strip),
)
def test_s3_credentials_in_the_config_are_refused_without_echoing_them(
    key: str, secret: str
) -> None:
    """A credential key in [state] is refused, pointing at AWS's own variables, and its value is never shown."""
    with pytest.raises(ConfigError) as info:
        parse_state({"backend": "s3", "bucket": "bkt", key: secret})
    text = str(info.value)
    assert text.startswith(f"{key}: got a value not shown; expected no credential here")
    assert "AWS_ACCESS_KEY_ID" in text
    assert secret not in text.removeprefix(f"{key}: ")


def test_backends_imports_neither_construct_nor_the_framework() -> None:
    """backends.py is pure data: no import of construct or cdk, not even inside a function."""
    tree = ast.parse(Path(backends.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"construct", "cdk"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"backend": ["s3"]}, "backend: got ['s3']; expected one of local"),
        ({"backend": {"a": 1}}, "backend: got {'a': 1}; expected one of local"),
        (
            {"backend": "s3", "bucket": "bkt", "endpoint": "http://[::1"},
            "endpoint: got 'http://[::1'",
        ),
        ({"backend": "s3", "bucket": "bkt", "endpoint": "http://h:notaport"}, "a port 0-65535"),
        ({"backend": "s3", "bucket": "bkt", "endpoint": "http://h:99999"}, "a port 0-65535"),
        ({"backend": "s3", "bucket": "bkt", "endpoint": "https://a..b"}, "labels of 1-63"),
        ({"backend": "s3", "bucket": "bkt", "endpoint": "http://h?x=1"}, "got 'http://h?x=1'"),
        (
            {"backend": "s3", "bucket": "bkt", "endpoint": ["http://h"]},
            "endpoint: got ['http://h']",
        ),
        ({"backend": "s3", "bucket": "bkt", "region": 5}, "region: got 5"),
    ],
)
def test_odd_state_shapes_and_urls_are_one_line_not_a_traceback_or_a_failed_init(
    table: dict[str, Any], message: str
) -> None:
    """A list as backend, an unclosed IPv6 host, a port that is no number: one ConfigError at synthesis."""
    with pytest.raises(ConfigError) as info:
        parse_state(table)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


state_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(
            [
                "s3",
                "pg",
                "local",
                "gcs",
                "bkt",
                "http://h",
                "http://[::1",
                "http://h:x",
                "https://a..b",
                "http://u:p@h",
            ]
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)


@given(
    table=st.dictionaries(
        st.sampled_from(sorted(S3_KEYS | {"path", "schema_name", "profile", "x"})),
        state_values,
        max_size=4,
    ),
    backend=st.one_of(st.sampled_from(["s3", "local", "pg", "http"]), state_values),
)
def test_any_state_table_parses_or_is_one_config_error_line(
    table: dict[str, Any], backend: Any
) -> None:
    """Whatever shapes a [state] table holds: a StateBackend, or one ConfigError line, never another exception."""
    try:
        state = parse_state(table | {"backend": backend})
    except ConfigError as exc:
        assert "\n" not in str(exc)  # noqa: PT017 (most tables fail; that is the point)
        return
    backend_block(state)


@pytest.mark.parametrize(
    ("state", "version"),
    [('backend = "s3"\nbucket = "bkt"\nregion = "eu-west-1"', ">= 1.10"),
     ('backend = "pg"', ">= 1.4"), ('backend = "local"', ">= 1.4")],
)  # fmt: skip
def test_an_s3_stack_requires_the_terraform_that_has_use_lockfile(
    tmp_path: Path, state: str, version: str
) -> None:
    """An s3 stack (locked with use_lockfile) requires Terraform >= 1.10; the others >= 1.4."""
    synth_with_state(tmp_path, state)
    stack = tmp_path / "cdktf.out" / "stacks" / "exports"
    assert (
        json.loads((stack / "cdk.tf.json").read_text())["terraform"]["required_version"] == version
    )
