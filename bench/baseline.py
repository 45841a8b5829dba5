"""The naive baselines: POST, then poll at a fixed interval (B1: 5 s, B2: 1 s).

What a shell script with curl and sleep does, in Python so that process start-up
costs the same as for our helper. Run by Terraform's local-exec in the bench.
"""

from __future__ import annotations

import os
import sys
import time

import requests


def main() -> int:
    url, uid = os.environ["BENCH_URL"], os.environ["BENCH_UID"]
    interval = float(os.environ["BENCH_INTERVAL"])
    session = requests.Session()
    session.auth = (os.environ["REDIS_ENTERPRISE_USER"], os.environ["REDIS_ENTERPRISE_PASSWORD"])
    # Per request: with trust_env, $REQUESTS_CA_BUNDLE would override session.verify.
    session.trust_env = False
    session.verify = os.environ["BENCH_CA"]
    body = {
        "export_location": {
            "type": "s3",
            "bucket_name": "bench",
            "access_key_id": "AKIA",
            "secret_access_key": os.environ["S3_SECRET"],
        }
    }
    while True:  # a busy cluster: sleep and try again
        answer = session.post(f"{url}/v1/bdbs/{uid}/actions/export", json=body, timeout=30)
        if answer.status_code != 409:
            answer.raise_for_status()
            break
        time.sleep(interval)
    while True:
        time.sleep(interval)
        state = session.get(
            f"{url}/v1/bdbs/{uid}", params={"fields": "export_status"}, timeout=30
        ).json()
        if state["export_status"] in ("succeeded", "failed"):
            return 0 if state["export_status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
