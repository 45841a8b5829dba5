"""preflight checks the PostgreSQL of coordination = "postgres", without showing its secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import PostgresServer, free_port
from helpers.day2 import checks, config, day2
from redis_enterprise_export.run.coordination import pg_problem
from redis_enterprise_export.simulator import Simulator

CHECK = ("cluster sim", "PostgreSQL for coordination")


def test_preflight_fails_an_unreachable_coordination_postgres_without_its_password(
    sim: Simulator, tmp_path: Path
) -> None:
    """$PG_CONN_STR pointing nowhere: the check fails (exit 1), saying where, not the password."""
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}}, coordination="postgres")
    secret = "pg-Pre-Secret-8"
    conn_str = f"postgresql://u:{secret}@127.0.0.1:{free_port()}/db"
    code, out, err = day2("preflight", "--json", "--config", str(path),
                          env={"PG_CONN_STR": conn_str})  # fmt: skip
    assert code == 1, out + err
    row = checks(out)[CHECK]
    assert row["outcome"] == "fail"
    assert "connection refused" in row["detail"]
    assert secret not in out + err


def test_preflight_passes_a_reachable_coordination_postgres(
    sim: Simulator, tmp_path: Path, postgres: PostgresServer
) -> None:
    """The shared PostgreSQL answers SELECT 1: the check passes."""
    path = config(tmp_path, {"sim": sim}, {"orders": {"database": 1}}, coordination="postgres")
    code, out, err = day2("preflight", "--json", "--config", str(path),
                          env={"PG_CONN_STR": postgres.conn_str})  # fmt: skip
    assert checks(out)[CHECK]["outcome"] == "pass", out + err
    assert code == 0, out + err


def test_a_missing_psycopg_is_named_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg the check says what to install, instead of a traceback."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    assert "needs the Python package psycopg" in pg_problem({"PG_CONN_STR": "host=127.0.0.1"})
