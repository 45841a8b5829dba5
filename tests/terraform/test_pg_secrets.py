"""The PostgreSQL connection string never reaches an output: not stderr, not the result
file, not the job summary, not Terraform state, whatever libpq thinks of it."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import PostgresServer, TerraformProject, free_port
from redis_enterprise_export.errors import LocalSetupError
from redis_enterprise_export.polling import Deadline, SystemClock
from redis_enterprise_export.run.coordination import pg_slot
from redis_enterprise_export.simulator import Simulator

# No lowercase and no '_' or '.': a window of a generated secret cannot match the
# fixed words of a message by chance.
SECRET_CHARS = string.ascii_uppercase + string.digits + "%@/ ='\\:?&#;"
FORMS: list[Callable[[str, int], str]] = [
    lambda s, port: f"postgresql://postgres:{s}@127.0.0.1:{port}/postgres",
    lambda s, port: f"postgres://u:{s}@localhost:{port}/db?sslmode=disable",
    lambda s, port: f"host=127.0.0.1 port={port} user=postgres password={s}",
    lambda s, port: f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode={s}",
    lambda s, port: f"postgresql://postgres@127.0.0.1:{port}/postgres?password={s}",
    lambda s, port: f"host=127.0.0.1 port={port} sslmode={s} password=x",
    lambda s, port: s,
]


def leaked(secret: str, text: str) -> bool:
    """Whether ``text`` holds ``secret`` or any 8 characters of it in a row."""
    return any(secret[i : i + 8] in text for i in range(max(len(secret) - 7, 1)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=st.text(SECRET_CHARS, min_size=10, max_size=24), form=st.sampled_from(FORMS))
def test_no_part_of_a_connection_string_secret_is_in_the_error(
    secret: str, form: Callable[[str, int], str]
) -> None:
    """Whatever the string (unparsable, a bad sslmode, a password with % or spaces),
    the error is one line and holds no 8 characters of the secret."""
    conn_str = form(secret, free_port())
    with (
        pytest.raises(LocalSetupError) as info,
        pg_slot("c", 1, Deadline(SystemClock(), 3), database=1, environ={"PG_CONN_STR": conn_str}),
    ):
        pass
    message = str(info.value)
    assert "\n" not in message
    assert not leaked(secret, message), message


@pytest.mark.parametrize(
    ("conn_str", "expected"),
    [
        ("postgresql://u:p%zz@127.0.0.1:9/db", "cannot be parsed"),
        ("password=a b host=127.0.0.1", "cannot be parsed"),
        ("postgresql://u:pw%80@127.0.0.1:9/db", "cannot be parsed"),  # not UTF-8 once decoded
        ("postgresql://u:pw@127.0.0.1:9/db?sslmode=bogus", "a value libpq does not accept"),
        ("postgresql://u:pw@127.0.0.1:9/db", "at 127.0.0.1 port 9 named by $PG_CONN_STR"),
    ],
)
def test_the_error_says_what_was_wrong_in_fixed_words(conn_str: str, expected: str) -> None:
    """Each kind of trouble has its own secret-free sentence."""
    with (
        pytest.raises(LocalSetupError, match="PG_CONN_STR") as info,
        pg_slot("c", 1, Deadline(SystemClock(), 3), database=1, environ={"PG_CONN_STR": conn_str}),
    ):
        pass
    assert expected in str(info.value)


@pytest.mark.e2e
def test_an_apply_with_an_unparsable_pg_conn_str_leaks_it_nowhere(
    sim: Simulator, export_dir: Path, project: TerraformProject, postgres: PostgresServer
) -> None:
    """A real apply, coordination = "postgres", a generated password with '%' in
    $PG_CONN_STR: the export fails as bad input, and neither the output, the result
    file, the job summary nor the state holds the password."""
    secret = "Pg9%Zx-Secret-41"
    summary = project.root / "summary.md"
    project.env |= {
        "PG_CONN_STR": f"postgresql://postgres:{secret}@127.0.0.1:{postgres.port}/postgres",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    project.synth(
        {
            "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path),
                                 "coordination": "postgres"}},
            "exports": {"orders": {"cluster": "sim", "database": 1,
                                   "location": {"type": "mount_point", "path": str(export_dir)}}},
        }
    )  # fmt: skip
    project.init()
    run = project.apply(check=False)
    assert run.code != 0
    record = (project.stack / ".results" / "orders.json").read_text()
    outputs = {
        "terraform's output": run.text,
        "result file": record,
        "job summary": summary.read_text(),
        "state": (project.stack / "terraform.tfstate").read_text(),
    }
    for where, text in outputs.items():
        for part in (secret, "Pg9%Zx", "Zx-Secret"):
            assert part not in text, where
    assert json.loads(record)["export_status"] == "error"
    assert "cannot be parsed" in json.loads(record)["message"]
    assert sim.cluster.exports_started() == 0
