"""``python -m redis_enterprise_export``: the export helper."""

import sys

from .cli import main

sys.exit(main())
