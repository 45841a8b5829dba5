"""Any string in any string field: a stack whose plan holds that literal, or one ConfigError line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from helpers import terraform_env
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.config import parse_config
from redis_enterprise_export.synth.cdk import App
from redis_enterprise_export.synth.stack import ExportStack, ExportStackProps

LOCATIONS: dict[str, dict[str, Any]] = {
    "mount_point": {"type": "mount_point", "path": "/m"},
    "s3": {"type": "s3", "bucket_name": "b", "access_key_id": "a", "subdir": "s",
           "region_name": "r", "secret_access_key_env": "S"},
    "gs": {"type": "gs", "bucket_name": "b", "client_id": "c", "client_email": "e",
           "private_key_id": "k", "subdir": "s", "private_key_env": "K"},
    "abs": {"type": "abs", "account_name": "a", "container": "c", "subdir": "s",
            "sas_token_env": "T"},
    "url": {"type": "url", "url": "ftp://u@h/p/"},
    "sftp": {"type": "sftp", "sftp_url": "sftp://u@h/p/"},
}  # fmt: skip
# Every user string that reaches the stack: (location type, field); "database" is the export's.
FIELDS = [("mount_point", "database")] + [
    (kind, key)
    for kind, location in LOCATIONS.items()
    for key, value in location.items()
    if key != "type" and not key.endswith("_env") and isinstance(value, str)
]
SEQUENCES = ["${", "%{", "$${", "%%{", "}", "$", "%", '"', "'", "\\", "\n", "\x00", "é", "€", "😀"]
hostile = st.lists(st.one_of(st.sampled_from(SEQUENCES), st.text(max_size=4)), max_size=6).map(
    "".join
)


def field_value(field: tuple[str, str], text: str) -> str:
    """URL fields keep a scheme and host so the text lands in the path."""
    _, key = field
    if key == "url":
        return "ftp://u@h/" + text
    if key == "sftp_url":
        return "sftp://u@h/" + text
    if key == "path":
        return "/" + text
    return text


def exports_for(values: list[tuple[tuple[str, str], str]]) -> dict[str, Any]:
    exports = {}
    for i, ((kind, key), value) in enumerate(values):
        export: dict[str, Any] = {"cluster": "p", "database": 1,
                                  "location": dict(LOCATIONS[kind])}  # fmt: skip
        if key == "database":
            export["database"] = value
        else:
            export["location"][key] = value
        exports[f"e{i}"] = export
    return exports


def given_value(export: dict[str, Any], key: str) -> Any:
    return export["database"] if key == "database" else export["location"][key]


def synth(tmp_path: Path, exports: dict[str, Any]) -> dict[str, Any] | None:
    """The stack's terraform_data inputs by export name, or None after a one-line ConfigError."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    where = tmp_path / "exports.toml"
    try:
        config = parse_config({"clusters": {"p": {"url": "https://rs"}}, "exports": exports}, where)
    except ConfigError as exc:
        assert str(exc).startswith(str(where))  # noqa: PT017 (the other branch must not raise)
        assert "\n" not in str(exc)  # noqa: PT017
        return None
    app = App(outdir=str(tmp_path / "out"))
    ExportStack(app, "exports", ExportStackProps(exports=config.exports))
    app.synth()
    stack: dict[str, Any] = json.loads(
        (tmp_path / "out" / "stacks" / "exports" / "cdk.tf.json").read_text()
    )
    return stack


field_and_text = st.tuples(st.sampled_from(FIELDS), hostile).map(
    lambda pair: (pair[0], field_value(*pair))
)


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=field_and_text)
def test_any_string_synthesizes_as_its_escaped_literal_or_is_a_config_error(
    tmp_path: Path, value: tuple[tuple[str, str], str]
) -> None:
    """In-process: the synthesized input is the string with ${ and %{ doubled, or a ConfigError."""
    (_, key), text = value
    stack = synth(tmp_path, exports_for([value]))
    if stack is None:
        event("config error")
        return
    event("synthesized")
    data = next(v for k, v in stack["resource"]["terraform_data"].items() if "_export_" in k)
    written = given_value(data["input"], key)
    assert written == text.replace("${", "$${").replace("%{", "%%{")


# Each example is a real init and plan: few examples, and no shrinking (minutes of plans).
@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(field_and_text, min_size=12, max_size=12))
def test_terraform_plans_every_accepted_string_as_the_same_literal(
    tmp_path_factory: Any, values: list[tuple[tuple[str, str], str]]
) -> None:
    """Real terraform plan: each accepted string appears unchanged in the planned values."""
    tmp_path = tmp_path_factory.mktemp("plan")
    exports = exports_for(values)
    # Drop the values config refuses (each alone gives the one-line error, checked above).
    kept = {n: e for n, e in exports.items() if synth(tmp_path / n, {n: e}) is not None}
    if not kept:
        return
    assert synth(tmp_path, kept) is not None
    stack = tmp_path / "out" / "stacks" / "exports"
    env = terraform_env()

    def terraform(*args: str) -> str:
        run = subprocess.run(["terraform", *args], cwd=stack, env=env, capture_output=True,
                             text=True, check=False, timeout=300)  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    terraform("init", "-input=false", "-no-color")
    terraform("plan", "-refresh=false", "-no-color", "-var=run_id=r", "-out=plan.bin")
    shown = json.loads(terraform("show", "-json", "plan.bin"))
    planned = {
        r["values"]["input"]["name"]: r["values"]["input"]
        for r in shown["planned_values"]["root_module"]["resources"]
        if r["type"] == "terraform_data" and isinstance(r.get("values", {}).get("input"), dict)
    }
    fields = [field for (field, _), n in zip(values, exports, strict=True) if n in kept]
    for (_, key), (name, export) in zip(fields, kept.items(), strict=True):
        assert given_value(planned[name], key) == given_value(export, key)
    event(f"{len(kept)} literals planned")
