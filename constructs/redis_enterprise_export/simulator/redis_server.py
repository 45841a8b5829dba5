"""A real ``redis-server`` (Debian's package) behind each simulated database, and
reading an RDB file the way an import needs it: checked, then key by key."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import redis

GZIP_MAGIC = b"\x1f\x8b"
# What redis-check-rdb may take on a file of test size; a hang is a corrupt file too.
CHECK_SECONDS = 60


class CorruptRdbError(Exception):
    """Raised when a file is not a whole RDB (or gzipped RDB) that Redis can load."""


@dataclass(frozen=True)
class Entry:
    """One key as DUMP gives it: its serialized value, and its TTL in ms (0: none)."""

    key: bytes
    payload: bytes
    ttl_ms: int


def binary() -> str:
    """The redis-server on PATH; RuntimeError naming Debian's package if there is none."""
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "redis-server is not on PATH: install Debian's package (apt-get install redis-server)"
        )
    return found


class RedisServer:
    """One redis-server on a unix socket in ``directory``; no TCP port to collide on."""

    def __init__(self, directory: Path, *, rdb: Path | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        if rdb is not None:
            shutil.copyfile(rdb, directory / "dump.rdb")
        executable = binary()
        self.process = subprocess.Popen(
            [
                executable,
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

    def replace_data(self, entries: list[Entry], *, erase: bool = True) -> None:
        """Load ``entries``, in one transaction: after erasing every key (an import), or
        over the keys there (an Active-Active merge). Readers see the old data or the new."""
        raw = redis.Redis(unix_socket_path=str(self.socket))
        try:
            with raw.pipeline(transaction=True) as batch:
                if erase:
                    batch.flushall()
                for entry in entries:
                    batch.restore(entry.key, entry.ttl_ms, entry.payload, replace=True)
                batch.execute()
        finally:
            raw.close()

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def read_rdb(path: Path) -> list[Entry]:
    """Every key of the RDB file ``path`` (plain or gzipped), for ``replace_data``.

    Raises CorruptRdbError for a file that is cut short, altered or not an RDB.

    Why this way: ``redis-check-rdb`` decides whether the file is whole (it
    checks the structure to the end and the CRC64 checksum, without loading
    anything), so "corrupt" never depends on how a server happens to fail. Then
    a scratch redis-server loads the checked file and hands over each key with
    DUMP. The database's own redis-server never restarts and never loads an
    unchecked file (Redis exits on a corrupt RDB, and DEBUG RELOAD would take the
    database down with it), and several files (one per shard) merge naturally.
    """
    with tempfile.TemporaryDirectory(prefix="sim-import-") as scratch:
        plain = Path(scratch) / "source.rdb"
        _unpack(path, plain)
        # redis-check-rdb is redis-server under another name (Redis picks its mode
        # from argv[0]), so Debian's redis-server package alone is enough.
        try:
            check = subprocess.run(
                ["redis-check-rdb", str(plain)],
                check=False,
                executable=binary(),
                cwd=scratch,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CHECK_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise CorruptRdbError(f"{path}: redis-check-rdb did not finish") from None
        if check.returncode != 0:
            raise CorruptRdbError(f"{path}: redis-check-rdb refused it")
        server = RedisServer(Path(scratch) / "server", rdb=plain)
        raw = redis.Redis(unix_socket_path=str(server.socket))
        try:
            return _entries(raw)
        finally:
            raw.close()
            server.stop()


def _unpack(path: Path, plain: Path) -> None:
    """Copy ``path`` to ``plain``, gunzipped if it is gzip (RS takes either)."""
    with path.open("rb") as source:
        gzipped = source.read(2) == GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if gzipped else path.open("rb") as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptRdbError(f"{path}: not a whole gzip file ({exc})") from None


def _entries(raw: redis.Redis) -> list[Entry]:
    """Every key's DUMP and TTL, a scan batch to a pipeline: one round trip per key
    made an import of 100000 keys take half a minute of the simulator's own time."""
    entries: list[Entry] = []
    cursor = None
    while cursor != 0:
        cursor, found = raw.scan(cursor or 0, count=1000)
        # The client does not decode: keys are bytes.
        keys = [key for key in found if isinstance(key, bytes)]
        with raw.pipeline(transaction=False) as batch:
            for key in keys:
                batch.dump(key)
                batch.pttl(key)
            answers = batch.execute()
        for key, payload, ttl in zip(keys, answers[::2], answers[1::2], strict=True):
            # A key that expired since the scan is left out (so did it in the file).
            if isinstance(payload, bytes) and int(ttl) != -2:
                entries.append(Entry(key, payload, max(int(ttl), 0)))
    return entries
