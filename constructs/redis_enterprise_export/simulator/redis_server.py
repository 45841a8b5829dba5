"""A real ``redis-server`` (Debian's package) behind each simulated database."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis


class RedisServer:
    """One redis-server on a unix socket in ``directory``; no TCP port to collide on."""

    def __init__(self, directory: Path, *, rdb: Path | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        if rdb is not None:
            shutil.copyfile(rdb, directory / "dump.rdb")
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH: apt-get install redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--dir", str(directory),
                "--dbfilename", "dump.rdb",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.client = redis.Redis(unix_socket_path=str(self.socket), decode_responses=True)
        self._wait_ready()

    def _wait_ready(self, seconds: float = 10.0) -> None:
        until = time.monotonic() + seconds
        while True:
            try:
                if self.client.ping():
                    return
            except (redis.ConnectionError, FileNotFoundError):
                if self.process.poll() is not None or time.monotonic() > until:
                    raise RuntimeError(f"redis-server in {self.directory} did not start") from None
                time.sleep(0.02)

    def dump(self) -> Path:
        """Write an RDB snapshot of the data now and return its path."""
        self.client.save()
        return self.directory / "dump.rdb"

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
