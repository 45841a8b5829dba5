"""``logins``: the refused logins this machine remembers, and the way to forget them.

After a 401, every command on this machine with the same cluster, user and password
fails at once for 15 minutes (``run.logins``), so a stale password cannot lock the
user out. Once the cluster side is fixed (the password reset to the CI secret, the
account unlocked, an LDAP outage over), ``--clear`` lets the next run ask at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from redis_enterprise_export.commands.common import OK, bad_input
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.run.logins import CLEAR_COMMAND, REMEMBER_SECONDS, clear, refusals
from redis_enterprise_export.run.slots import slots_dir

DESCRIPTION = (
    "List the refused logins (401) this machine remembers: for "
    f"{REMEMBER_SECONDS // 60} minutes after one, every command with the same cluster, "
    "user and password fails at once instead of asking, as RS locks a user after 5 "
    "failed logins in 15 minutes. --clear forgets them, once the cluster accepts the "
    "credentials again. A changed password needs no clearing: it is tried at once."
)
EPILOG = "exit codes: 0 listed or cleared, 2 bad input"


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument("--clear", action="store_true", help="forget the refused logins")
    parser.add_argument(
        "--config",
        type=Path,
        help="only those of this exports file's clusters (default: every cluster)",
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    urls = None
    if args.config is not None:
        from redis_enterprise_export.spec.config import load_config

        try:
            urls = [c.url for c in load_config(args.config, resolve=False).clusters.values()]
        except ConfigError as exc:
            return bad_input(exc)
    directory = slots_dir(environ)
    if args.clear:
        gone = clear(directory, urls)
        for refusal in gone:
            print(f"cleared: {refusal.describe()}")
        print(f"{len(gone)} refused login(s) cleared; the next run signs in again")
        return OK
    found = refusals(directory, urls)
    for refusal in found:
        print(f"refused: {refusal.describe()}")
    print(
        f"{len(found)} refused login(s) in force"
        + (f"; once the cluster accepts them again, run: {_again(args)}" if found else "")
    )
    return OK


def _again(args: argparse.Namespace) -> str:
    return CLEAR_COMMAND + (f" --config {args.config}" if args.config else "")
