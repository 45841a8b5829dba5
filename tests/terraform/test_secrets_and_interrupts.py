"""Full applies: no secret anywhere it must not be, and Ctrl-C leaves a rerunnable state."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import PASSWORD, TerraformProject
from redis_enterprise_export.contract import HELPER_BOOTSTRAP
from redis_enterprise_export.simulator import Simulator

pytestmark = pytest.mark.e2e

SECRETS = {
    "S3_SECRET": "leak-s3-secret-Q1",
    "GCS_KEY": "-----BEGIN PRIVATE KEY-----\nleak-gcs-key-Q2\n-----END PRIVATE KEY-----\n",
    "ABS_KEY": "leak-abs-account-key-Q3",
    "ABS_SAS": "sv=2025&sig=leak-sas-Q4",
    "FTP_PW": "leak-ftp-pw-Q5",
    "SFTP_KEY": "leak-sftp-key-Q6",
    "SSE_KEY": "leak-sse-c-key-Q7",
}
ALL_SECRETS = {**SECRETS, "REDIS_ENTERPRISE_PASSWORD": PASSWORD}
LOCATIONS = {
    "s3": {"type": "s3", "bucket_name": "b", "access_key_id": "AKIA", "secret_access_key_env": "S3_SECRET"},
    "s3_sse_c": {"type": "s3", "bucket_name": "b", "access_key_id": "AKIA", "secret_access_key_env": "S3_SECRET",
                 "encryption": {"type": "sse-c", "sse_customer_key_env": "SSE_KEY"}},
    "gcs": {"type": "gs", "bucket_name": "b", "client_id": "1", "client_email": "sa@x",
            "private_key_id": "k1", "private_key_env": "GCS_KEY"},
    "abs_key": {"type": "abs", "account_name": "a", "container": "c", "account_key_env": "ABS_KEY"},
    "abs_sas": {"type": "abs", "account_name": "a", "container": "c", "sas_token_env": "ABS_SAS"},
    "ftp": {"type": "url", "url": "ftp://backup@ftp.example.com/r/", "password_env": "FTP_PW"},
    "sftp": {"type": "sftp", "sftp_url": "sftp://backup@sftp.example.com/r/", "key_env": "SFTP_KEY"},
}  # fmt: skip


def helpers_in(stack: Path) -> dict[int, str]:
    """The running helpers of this stack (their working directory), by pid, with their argv.

    Only this stack's: other tests on the machine may run helpers at the same time.
    """
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes()
            # The construct's interpreter: python3 -c HELPER_BOOTSTRAP export.
            ours = f"{HELPER_BOOTSTRAP}\0export".encode()
            if ours in argv and (proc / "cwd").resolve() == stack:
                found[int(proc.name)] = argv.decode(errors="replace")
        except OSError:
            continue
    return found


def helper_argvs(stack: Path, stop: threading.Event, seen: list[str]) -> None:
    """Collect the command line of every running helper of ``stack``, read from /proc."""
    while not stop.is_set():
        seen += helpers_in(stack).values()
        time.sleep(0.02)


def leak_places(project: TerraformProject, outputs: str) -> dict[str, str]:
    places = {"terraform stdout and stderr": outputs}
    stack = project.stack
    for path in [
        stack / "cdk.tf.json",
        *stack.glob("terraform.tfstate*"),
        *stack.glob(".results/*"),
    ]:
        places[str(path.relative_to(stack))] = path.read_text()
    return places


@pytest.mark.parametrize("path", ["success", "failure"])
def test_no_secret_leaks_on_the_success_or_failure_path(
    sim: Simulator, project: TerraformProject, path: str
) -> None:
    """No secret is in the stack, state, output, results, argv or URLs; each is in the body."""
    sim.cluster.scenario.export_seconds = 1.0
    for uid, name in enumerate(LOCATIONS, start=10):  # one database each: no waiting
        sim.cluster.add_database(uid, f"db-{name}")
    project.env |= SECRETS
    project.synth(
        {
            "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
            "exports": {
                name: {
                    "cluster": "sim",
                    "database": f"db-{name}",
                    "location": location,
                }
                for name, location in LOCATIONS.items()
            },
        }
    )
    project.init()
    project.apply("first")  # a second apply leaves terraform.tfstate.backup behind too
    if path == "failure":
        sim.cluster.scenario.fail_reason = "no-permission"
    stop, argvs = threading.Event(), list[str]()
    watcher = threading.Thread(
        target=helper_argvs, args=(project.stack.resolve(), stop, argvs), daemon=True
    )
    watcher.start()
    result = project.apply("second", check=path == "success")
    stop.set()
    watcher.join()

    assert (result.code == 0) == (path == "success")
    assert len(argvs) > 0, "no helper command line was captured"
    places = leak_places(project, result.text)
    places["helper argv"] = "\n".join(argvs)
    places["simulator URLs and query strings"] = "\n".join(
        f"{r.path}?{r.query}" for r in sim.cluster.log
    )
    assert "terraform.tfstate.backup" in places
    leaks = [
        f"{name} in {place}"
        for name, value in ALL_SECRETS.items()
        for place, text in places.items()
        for needle in {value, value.strip().splitlines()[1 if "\n" in value else 0]}
        if needle in text
    ]
    assert leaks == []
    # The secrets did reach the one place they belong: the request body.
    bodies = json.dumps(sim.cluster.export_bodies)
    assert all(json.dumps(value)[1:-1] in bodies for value in SECRETS.values())


def kill_leftovers(apply: subprocess.Popen[str], stack: Path) -> None:
    """After a failure midway, no terraform or helper of this test outlives it."""
    if apply.poll() is None:
        os.killpg(apply.pid, signal.SIGKILL)
        apply.communicate()
    for pid in helpers_in(stack):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_ctrl_c_on_terraform_records_interrupted_taints_and_the_next_apply_reexports(
    sim: Simulator, export_dir: Path, project: TerraformProject
) -> None:
    """Ctrl-C: 'interrupted' recorded, the helper gone while the cluster still exports (it
    does not wait for the export), resource tainted, next apply exports."""
    sim.cluster.scenario.export_seconds = 10.0
    tables: dict[str, Any] = {
        "clusters": {"sim": {"url": sim.url, "ca_cert": str(sim.ca_path)}},
        "exports": {
            "orders": {
                "cluster": "sim",
                "database": 1,
                "location": {"type": "mount_point", "path": str(export_dir)},
            }
        },
    }
    project.synth(tables)
    project.init()
    apply = subprocess.Popen(
        ["terraform", "apply", "-auto-approve", "-no-color", "-var=run_id=r1"],
        cwd=project.stack,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    stack = project.stack.resolve()
    try:
        deadline = time.monotonic() + 60
        while sim.cluster.exports_started(1) == 0:
            assert time.monotonic() < deadline, "the export never started"
            time.sleep(0.02)
        pids = list(helpers_in(stack))  # the helper and the worker it runs the export in
        assert len(pids) == 2
        sent = time.monotonic()
        os.killpg(apply.pid, signal.SIGINT)  # Ctrl-C
        while any(_running(pid) for pid in pids) and time.monotonic() - sent < 10:
            time.sleep(0.01)
        # Ordered against the cluster's own clock, not a wall-time limit: the export's
        # finish sets its status, so "exporting" here means the helper left before it.
        gone_while_exporting = sim.cluster.databases[1].export_status == "exporting"
        running = [pid for pid in pids if _running(pid)]
        output, _ = apply.communicate(timeout=60)
    finally:
        kill_leftovers(apply, stack)

    assert running == []
    assert gone_while_exporting, output
    assert apply.returncode != 0, output
    result_file = project.stack / ".results" / "orders.json"
    assert result_file.exists(), output
    record = json.loads(result_file.read_text())
    assert record["export_status"] == "interrupted"
    state = project.state()
    export = next(r for r in state["resources"] if r["name"].startswith("orders_export"))
    assert export["instances"][0]["status"] == "tainted"

    rerun = project.apply("r1")
    assert "already exporting (not this run's export)" in rerun.stdout
    assert project.outputs()["orders"]["export_status"] == "succeeded"
    assert sim.cluster.exports_started(1) == 2
