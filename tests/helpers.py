"""Shared test helpers: TOML writing, a fake clock, and a real-Terraform project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
STACK = "exports"

ADMIN = "admin@example.com"
VIEWER = "viewer@example.com"
# Distinctive, so a leak check finds them wherever they might end up.
PASSWORD = "Cluster-Pass-5ecr3t-91f"
ORDERS = {f"order:{i}": f"total={i * 3}" for i in range(200)}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_text(tables: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """``{"clusters": {"a": {...}}, "exports": {...}}`` as TOML text."""
    lines: list[str] = []
    for kind, named in tables.items():
        for name, table in named.items():
            lines.append(f"[{kind}.{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            lines.append("")
    return "\n".join(lines)


@dataclass
class FakeClock:
    """Monotonic time that moves only when someone sleeps."""

    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.t += seconds


def terraform_env(**extra: str) -> dict[str, str]:
    """Terraform quiet and offline, the venv's python3 first on PATH, credentials set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_ENTERPRISE_", "REDIS_EXPORT_", "TF_VAR_"))
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        CHECKPOINT_DISABLE="1",
        TF_INPUT="0",
        TF_IN_AUTOMATION="1",
        TF_CLI_CONFIG_FILE=str(REPO / "tools" / "terraform.rc"),
        REDIS_ENTERPRISE_USER=ADMIN,
        REDIS_ENTERPRISE_PASSWORD=PASSWORD,
    )
    env.update(extra)
    return env


def run_main(
    config: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python main.py`` on ``config``, as ``cdktf synth`` runs it, in ``cwd``."""
    return subprocess.run(
        [sys.executable, str(REPO / "main.py")],
        cwd=cwd,
        env=dict(env or terraform_env()) | {"REDIS_EXPORT_CONFIG": str(config)},
        capture_output=True,
        text=True,
        check=False,
    )


@dataclass
class TerraformProject:
    """A config file, its synthesized stack, and real terraform runs in it."""

    root: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return self.root / "exports.toml"

    @property
    def stack(self) -> Path:
        return self.root / "cdktf.out" / "stacks" / STACK

    def synth(self, tables: Mapping[str, Mapping[str, Mapping[str, Any]]], extra: str = "") -> Path:
        """Write the config (``extra`` is appended TOML text) and run main.py on it."""
        self.config.write_text(toml_text(tables) + extra)
        run = run_main(self.config, self.root, self.env)
        assert run.returncode == 0, run.stderr
        return self.stack

    def terraform(self, *args: str, check: bool = True, cwd: Path | None = None) -> Result:
        run = subprocess.run(
            ["terraform", *args],
            cwd=cwd or self.stack,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        result = Result(run.returncode, run.stdout, run.stderr)
        if check:
            assert run.returncode == 0, f"terraform {args[0]} failed:\n{run.stdout}\n{run.stderr}"
        return result

    def init(self, *args: str, cwd: Path | None = None) -> Result:
        return self.terraform("init", "-input=false", "-no-color", *args, cwd=cwd)

    def apply(self, run_id: str = "run-1", *, check: bool = True) -> Result:
        return self.terraform(
            "apply", "-auto-approve", "-no-color", f"-var=run_id={run_id}", check=check
        )

    def plan_changes(self, run_id: str = "run-1", cwd: Path | None = None) -> int:
        """Terraform's -detailed-exitcode: 0 no changes, 2 changes."""
        result = self.terraform(
            "plan", "-detailed-exitcode", "-no-color", f"-var=run_id={run_id}", check=False, cwd=cwd
        )
        assert result.code in (0, 2), result.stderr
        return result.code

    def outputs(self, cwd: Path | None = None) -> dict[str, Any]:
        exports: dict[str, Any] = json.loads(
            self.terraform("output", "-json", "exports", cwd=cwd).stdout
        )
        return exports

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.stack / "terraform.tfstate").read_text())
        return state


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


# The helper as a process, the way Terraform's local-exec runs it ------------

S3_SECRET = "s3-Secret-Value-77c"


def write_helper_config(
    url: str,
    ca_cert: Path | None,
    directory: Path,
    *,
    cluster: Mapping[str, Any] | None = None,
    **export: Any,
) -> Path:
    """One export 'orders' of database 1 to S3, its secret from $S3_SECRET."""
    path = directory / "exports.toml"
    cluster_table = {"url": url} | ({"ca_cert": str(ca_cert)} if ca_cert else {})
    path.write_text(
        toml_text(
            {
                "clusters": {"sim": cluster_table | dict(cluster or {})},
                "exports": {
                    "orders": {
                        "cluster": "sim",
                        "database": 1,
                        "location": {
                            "type": "s3",
                            "bucket_name": "b",
                            "access_key_id": "AKIA",
                            "secret_access_key_env": "S3_SECRET",
                        },
                        "timeout_seconds": 30,
                    }
                    | export
                },
            }
        )
    )  # fmt: skip
    return path


def start_helper(
    config: Path, result: Path, env: Mapping[str, str] | None = None, name: str = "orders"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "redis_enterprise_export", "export", "--config", str(config),
         "--name", name, "--result", str(result), "--run-id", "nightly-7"],
        env=terraform_env(S3_SECRET=S3_SECRET) | dict(env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def run_helper(
    config: Path,
    result: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 90,
    name: str = "orders",
) -> tuple[int, str, str]:
    """Run the helper to its end; the timeout bounds a hang."""
    process = start_helper(config, result, env, name)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


# A real PostgreSQL server, for Terraform's pg backend ------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """Debian's PostgreSQL, initialized in ``directory`` and listening on 127.0.0.1.

    PostgreSQL refuses to run as root; as root, it runs as the ``postgres`` user
    that Debian's package creates.
    """

    def __init__(self, directory: Path) -> None:
        import glob
        import pwd
        import shutil

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        self.bin = Path(initdb).parent
        self.directory = directory
        self.port = free_port()
        self.as_user: list[str] = []
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(directory, user.pw_uid, user.pw_gid)
            # runuser lives in /usr/sbin, which a non-login PATH may lack.
            runuser = shutil.which("runuser", path=f"/usr/sbin:/sbin:{os.environ.get('PATH', '')}")
            if runuser is None:
                raise RuntimeError("runuser (util-linux) is needed to start PostgreSQL as root")
            self.as_user = [runuser, "-u", "postgres", "--"]
        data = directory / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-l", str(directory / "log"),
            "-o", f"-p {self.port} -k {directory} -c listen_addresses=127.0.0.1", "start",
        )  # fmt: skip
        self.data = data

    @property
    def conn_str(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def _run(self, *argv: str) -> None:
        run = subprocess.run(
            [*self.as_user, *argv], capture_output=True, text=True, cwd="/", check=False
        )
        if run.returncode:
            raise RuntimeError(f"{argv[0]} failed: {run.stdout}{run.stderr}")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
