"""A real PostgreSQL server, for Terraform's pg backend."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
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
