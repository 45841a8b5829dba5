"""moto's S3 API as a real HTTP server, for the S3 state tests and a drill's S3 listing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from .common import VENV_BIN
from .postgres import free_port

AWS_KEY_ID = "AKIAMOTOTESTKEY"
AWS_SECRET = "aws-Secret-Key-0b5e"


SERIAL_MOTO = """
import sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
app = DomainDispatcherApplication(create_backend_app)
run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=False)
"""


class MotoServer:
    """moto's S3 API as a real HTTP server on 127.0.0.1, started from the venv.

    One request at a time: moto checks a conditional PUT (``If-None-Match: *``, how
    Terraform's S3 lock file is taken) and then writes, so two threads could both take
    the lock (about 1 run in 6 of the two-applies test failed so). S3 itself is atomic.
    """

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "moto.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "python"), "-c", SERIAL_MOTO, str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{self.url}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(
                        f"moto_server did not start: {self.log.read_text()}"
                    ) from None
                time.sleep(0.1)

    def client(self, service: str = "s3") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="eu-west-1",
            aws_access_key_id=AWS_KEY_ID,
            aws_secret_access_key=AWS_SECRET,
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object in ``bucket``, by key."""
        s3 = self.client()
        listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {
            o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing
        }

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def require_signatures(self) -> str:
        """An IAM user's access key id, after which every request must be signed by a
        key moto knows, with its secret: a wrong secret gets SignatureDoesNotMatch."""
        iam = self.client("iam")
        iam.create_user(UserName="drill")
        key: str = iam.create_access_key(UserName="drill")["AccessKey"]["AccessKeyId"]
        # moto's server-mode switch: the number of requests still let through unsigned.
        requests.post(f"{self.url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        return key
