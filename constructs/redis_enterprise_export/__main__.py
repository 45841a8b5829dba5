"""``python -m redis_enterprise_export``: the export helper."""

import sys

from redis_enterprise_export.cli import main

sys.exit(main())
