"""``python -m redis_enterprise_export.simulator``: run the simulator until stopped."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from .server import Simulator

SAMPLE_DATA = {f"order:{i:04d}": json.dumps({"id": i, "total": i * 7 % 100}) for i in range(500)}


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m redis_enterprise_export.simulator",
        description="Run a simulated Redis Enterprise REST API on https://127.0.0.1:PORT.",
    )
    parser.add_argument("--root", type=Path, required=True, help="state folder (CA, redis data)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--admin", default="admin@redis.local", help="admin user's email")
    parser.add_argument("--viewer", default="viewer@redis.local", help="viewer user's email")
    parser.add_argument(
        "--password-env",
        default="REDIS_ENTERPRISE_PASSWORD",
        help="environment variable holding both users' password",
    )
    parser.add_argument("--export-seconds", type=float, default=3.0)
    args = parser.parse_args()
    password = os.environ.get(args.password_env)
    if not password:
        parser.error(f"set {args.password_env} to the users' password")

    try:
        sim = Simulator(args.root.resolve(), port=args.port).start()
    except OSError as exc:
        parser.error(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")
    sim.cluster.scenario.export_seconds = args.export_seconds
    sim.cluster.add_user(args.admin, password, "admin")
    sim.cluster.add_user(args.viewer, password, "db_viewer")
    sim.add_database(1, "orders", data=SAMPLE_DATA)
    sim.add_database(
        2, "search", modules=[{"module_name": "legacy-index", "capabilities": ["types"]}]
    )
    sim.add_database(3, "orders-drill")  # the demo's restore drill imports into it
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


if __name__ == "__main__":
    sys.exit(main())
