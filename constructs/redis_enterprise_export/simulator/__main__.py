"""``python -m redis_enterprise_export.simulator``: run the simulator until stopped."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Simulator

ADMIN, VIEWER = "admin@redis.local", "viewer@redis.local"
PASSWORD_ENV = "REDIS_ENTERPRISE_PASSWORD"  # noqa: S105 - a variable's name
SAMPLE_DATA = {f"order:{i:04d}": json.dumps({"id": i, "total": i * 7 % 100}) for i in range(500)}
# The bundled databases (uids 1, 2, 3): name, what --help says of it, add_database's options.
BUNDLED: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("orders", "500 sample keys", {"data": SAMPLE_DATA}),
    ("search", "a module without backup_restore",
     {"modules": [{"module_name": "legacy-index", "capabilities": ["types"]}]}),
    ("orders-drill", "empty: the demo's restore drill imports into it", {}),
)  # fmt: skip
# The packages of the `simulator` extra; without one of them nothing starts.
EXTRA = ("trustme", "redis")
INSTALL_EXTRA = "pip install 'redis-enterprise-export[simulator]'"

DESCRIPTION = f"""\
Run a simulated Redis Enterprise REST API on https://127.0.0.1:PORT until stopped.

Users, both signing in with the password in ${PASSWORD_ENV}
(or in the variable that --password-env names):
  admin   {ADMIN:<20}  role admin (--admin)
  viewer  {VIEWER:<20}  role db_viewer (--viewer)

Files:
  ROOT/ca.pem          the CA to trust (a helper's ca_cert)
  ROOT/simulator.json  written once it serves: its url, ca_cert and pid

Databases (--database adds empty ones):
""" + "\n".join(f"  {uid} {name:<13} {what}" for uid, (name, what, _) in enumerate(BUNDLED, 1))
EXAMPLE = f"""\
example:
  {PASSWORD_ENV}=change-me python -m redis_enterprise_export.simulator --root .sim \\
      --database invoices --scheduled-backups invoices"""


def parser() -> argparse.ArgumentParser:
    """The command line; every option's help shows its default."""
    parse = argparse.ArgumentParser(
        prog="python -m redis_enterprise_export.simulator",
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the tables as written
    )
    parse.add_argument(
        "--root",
        type=Path,
        required=True,
        help="state folder: the CA, the ready file, redis data (required)",
    )
    parse.add_argument("--port", type=int, default=0, help="0 picks a free port (default: 0)")
    parse.add_argument("--admin", default=ADMIN, help="admin user's email (default: %(default)s)")
    parse.add_argument(
        "--viewer", default=VIEWER, help="viewer user's email (default: %(default)s)"
    )
    parse.add_argument(
        "--password-env",
        default=PASSWORD_ENV,
        help="environment variable holding both users' password (default: %(default)s)",
    )
    parse.add_argument(
        "--export-seconds",
        type=float,
        default=3.0,
        help="how long an export runs (default: %(default)s)",
    )
    parse.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="NAME",
        help="add an empty database NAME; repeatable (default: none)",
    )
    parse.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="an export to an s3 location writes its object to this S3 endpoint (e.g. "
        "moto) with the location's credentials; needs boto3 (default: accepted, not written)",
    )
    parse.add_argument(
        "--scheduled-backups",
        action="append",
        default=[],
        metavar="NAME",
        help="database NAME has RS's own scheduled backups on, the last one succeeded "
        "at start-up; repeatable (default: none)",
    )
    return parse


def main() -> int:
    parse = parser()
    args = parse.parse_args()
    password = os.environ.get(args.password_env)
    if not password:
        parse.error(f"set {args.password_env} to the users' password")
    names = [name for name, _, _ in BUNDLED] + args.database
    if twice := sorted({name for name in names if names.count(name) > 1}):
        parse.error(f"--database {twice[0]}: a database of that name exists already")
    if unknown := sorted(set(args.scheduled_backups) - set(names)):
        parse.error(f"--scheduled-backups {unknown[0]}: no such database ({', '.join(names)})")

    # Imported only now: --help works without them, and a missing one is one line.
    try:
        from . import redis_server
        from .server import Simulator
    except ModuleNotFoundError as exc:
        if exc.name not in EXTRA:
            raise
        return _fail(f"the Python package {exc.name} is missing: {INSTALL_EXTRA}")
    try:
        redis_server.binary()
    except RuntimeError as exc:
        return _fail(str(exc))
    try:
        sim = Simulator(args.root.resolve(), port=args.port).start()
    except OSError as exc:
        parse.error(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")
    _populate(sim, args, password)
    # The ready file tells a waiting script where to connect; written last.
    (args.root / "simulator.json").write_text(
        json.dumps({"url": sim.url, "ca_cert": str(sim.ca_path), "pid": os.getpid()})
    )
    print(f"simulator on {sim.url}, CA {sim.ca_path}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sim.stop()
    return 0


def _populate(sim: Simulator, args: argparse.Namespace, password: str) -> None:
    """The users, the bundled databases and those the flags ask for."""
    from .state import iso_now

    sim.cluster.scenario.export_seconds = args.export_seconds
    sim.cluster.scenario.s3_endpoint_url = args.s3_endpoint_url
    sim.cluster.add_user(args.admin, password, "admin")
    sim.cluster.add_user(args.viewer, password, "db_viewer")
    databases = [*BUNDLED, *((name, "", {}) for name in args.database)]
    for uid, (name, _, options) in enumerate(databases, start=1):
        sim.add_database(uid, name, **options)
    for db in sim.cluster.databases.values():
        if db.name in args.scheduled_backups:
            db.backup, db.backup_status, db.last_backup_time = True, "succeeded", iso_now()


def _fail(message: str) -> int:
    """A set-up error: one line on stderr, exit 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
