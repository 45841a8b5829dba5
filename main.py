"""Synthesize the exports declared in a TOML file into one Terraform stack.

The file is ``$REDIS_EXPORT_CONFIG`` or, if that is unset, ``exports.toml``
beside this script. Run by ``cdktf synth`` / ``cdktf deploy`` or directly; the
installed package does the same as ``redis-enterprise-export synth``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from redis_enterprise_export.commands.common import bad_input
from redis_enterprise_export.commands.synth import synthesize
from redis_enterprise_export.errors import ConfigError


def main() -> int:
    path = Path(os.environ.get("REDIS_EXPORT_CONFIG") or Path(__file__).with_name("exports.toml"))
    try:
        synthesize(path)
    except ConfigError as exc:
        return bad_input(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
