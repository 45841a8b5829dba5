"""Running ``terraform`` in a synthesized stack's folder, for the commands that read
(``status``) or start (``start-state``) its state: bounded, and its errors shown on
one line with no backend secret."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from redis_enterprise_export.commands.summary import one_line
from redis_enterprise_export.redact import hide_passwords, redact_url, scrub

# State may live over the network (s3, pg): bounded, so a monitor never hangs.
TIMEOUT_SECONDS = 120
# Backend credentials Terraform may read from the environment: never in an error shown.
BACKEND_SECRETS = (
    "PG_CONN_STR",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "TF_HTTP_PASSWORD",
    "ARM_CLIENT_SECRET",
    "ARM_ACCESS_KEY",
    "GOOGLE_CREDENTIALS",
    "CONSUL_HTTP_TOKEN",
)


def terraform(
    stack: Path, args: Sequence[str], environ: Mapping[str, str], *, stdin: str | None = None
) -> tuple[str | None, str]:
    """``terraform -chdir=stack args…``: its stdout, or None and why it failed."""
    what = _named(args)
    try:
        run = subprocess.run(
            ["terraform", f"-chdir={stack}", *args, "-no-color"],
            env=dict(environ),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_SECONDS,
        )
    except FileNotFoundError:
        return None, "terraform is not on PATH"
    except subprocess.TimeoutExpired:
        return None, f"{what} did not answer within {TIMEOUT_SECONDS} s"
    except OSError as exc:
        return None, f"terraform could not be started ({exc.strerror})"
    if run.returncode != 0:
        return None, f"{what} in {stack} failed: {first_error(run.stderr, environ)}"
    return run.stdout, ""


def terraform_json(
    stack: Path, args: Sequence[str], environ: Mapping[str, str]
) -> tuple[dict[str, Any] | None, str]:
    """The JSON object ``terraform -chdir=stack args…`` prints, or None and why not."""
    printed, error = terraform(stack, args, environ)
    if printed is None:
        return None, error
    what = _named(args)
    try:
        found = json.loads(printed)
    except ValueError:
        return None, f"{what} in {stack} printed no JSON"
    if not isinstance(found, dict):
        return None, f"{what} in {stack} printed no JSON object"
    return found, ""


def _named(args: Sequence[str]) -> str:
    """How messages name the call: ``terraform state pull``, not its options."""
    return " ".join(["terraform", *(arg for arg in args if not arg.startswith("-"))])


def first_error(stderr: str, environ: Mapping[str, str]) -> str:
    """Terraform's first ``Error:`` line (boxed or not), secrets replaced, on one line."""
    text = scrub(stderr, [environ.get(name, "") for name in BACKEND_SECRETS])
    # A connection string's password, should Terraform quote it in part.
    text = hide_passwords(redact_url(text))
    lines = [line.strip(" │╷╵\t") for line in text.splitlines()]
    errors = [line for line in lines if line.startswith("Error")]
    found = errors[0] if errors else next((line for line in lines if line), "no message")
    return one_line(found)[:300]
