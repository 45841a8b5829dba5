"""``discover``: resolve each selector against its cluster into the lock file.

The only command that turns ``databases = "*"`` into databases; synthesis reads
the lock it writes, so plans stay offline and reproducible. ``--check`` writes
nothing and exits 1 when the lock is out of date (6 when a cluster could not be
read: that is not drift): a CI step that opens the PR.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from redis_enterprise_export.commands.common import (
    CHECK_FAILED,
    OK,
    UNREADABLE,
    UNREADABLE_MEANING,
    add_config_arguments,
    bad_input,
)
from redis_enterprise_export.commands.inventory import read_clusters
from redis_enterprise_export.commands.summary import one_line
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.config import load_config, unique_names
from redis_enterprise_export.spec.selectors import Lock, Match, Selector, lock_path

DESCRIPTION = (
    'Resolve every export that names a selector (databases = "*", or names and '
    "globs, with exclude) against its cluster, and write what matched to the lock "
    "file beside the config (exports.lock.json for exports.toml). Synthesis reads "
    "only that file: commit it, and review its changes like any other."
)
EPILOG = (
    f"exit codes: 0 written or up to date, 1 out of date (--check), 2 bad input, "
    f"{UNREADABLE_MEANING}"
)


def add_options(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    add_config_arguments(parser, environ, names=False)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the lock is out of date"
    )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        config = load_config(args.config, resolve=False)
    except ConfigError as exc:
        return bad_input(exc)
    broken = False
    try:
        old = Lock.read(lock_path(args.config))
    except ConfigError as exc:
        # A broken lock is what discover replaces; for --check it is out of date.
        print(f"note: {exc}")
        old, broken = None, True
    wanted = {s.cluster: config.clusters[s.cluster] for s in config.selectors}
    views = read_clusters(wanted, environ, preflight=False)
    unread = [view for view in views.values() if not view.databases.ok]
    for view in unread:
        print(one_line(f"error: cluster {view.name}: {view.databases.error}"))
    if unread:
        return UNREADABLE
    found: dict[str, tuple[Selector, list[Match]]] = {
        s.name: (s, s.select(views[s.cluster].databases.value)) for s in config.selectors
    }
    # Refused here, before the lock is written, what would stop synthesis of the stack.
    expanded = [spec for selector, matches in found.values() for spec in selector.expand(matches)]
    try:
        unique_names(config.exports + expanded, str(args.config))
    except ConfigError as exc:
        return bad_input(exc)
    new = Lock.of(found)
    changes = _changes(old, found, args)
    path = lock_path(args.config)
    if args.check:
        # No selectors and no lock file: nothing to lock, so nothing is out of date.
        if old is None and not broken and not found:
            print(f"{path.name} is up to date: no export names a selector")
            return OK
        if old is None or old.text() != new.text():
            print(f"{path.name} is out of date; run discover and commit it:")
            print("\n".join(changes) or "  (selectors changed)")
            return CHECK_FAILED
        print(f"{path.name} is up to date")
        return OK
    try:
        new.write(path)
    except ConfigError as exc:
        return bad_input(exc)
    print(f"wrote {path}")
    print("\n".join(changes) or "  no change")
    return OK


def _changes(
    old: Lock | None, found: Mapping[str, tuple[Selector, list[Match]]], args: argparse.Namespace
) -> list[str]:
    lines = []
    for name, (selector, matches) in sorted(found.items()):
        try:
            before = set(old.matches(selector, args.config)) if old else set()
        except ConfigError:
            before = set()
        now = set(matches)
        for match in sorted(now - before, key=lambda m: m.uid):
            lines.append(f"  + {name}: {one_line(match.name)} (uid {match.uid})")
        for match in sorted(before - now, key=lambda m: m.uid):
            lines.append(f"  - {name}: {one_line(match.name)} (uid {match.uid})")
    return lines
