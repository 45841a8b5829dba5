"""Synthesize the exports declared in a TOML file into one Terraform stack.

The file is ``$REDIS_EXPORT_CONFIG`` or, if that is unset, ``exports.toml``
beside this script. Run by ``cdktf synth`` / ``cdktf deploy`` or directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from redis_enterprise_export.config import load_config
from redis_enterprise_export.errors import ConfigError

STACK = "exports"


def main() -> int:
    path = Path(os.environ.get("REDIS_EXPORT_CONFIG") or Path(__file__).with_name("exports.toml"))
    try:
        config = load_config(path)
        # The framework loads only after the config is known good: a bad file
        # costs no Node start and leaves no partial cdktf.out behind.
        from redis_enterprise_export.cdk import App
        from redis_enterprise_export.construct import ExportStack, ExportStackProps

        app = App()
        ExportStack(app, STACK, ExportStackProps(exports=config.exports, state=config.state))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
