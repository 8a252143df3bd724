"""Benchmarks run on the embedded warehouse only.

They create, fill and drop databases of their own, named in ``Settings.database``; with
``WAREHOUSE_URL`` set, every connection would reach the configured warehouse instead, and a
benchmark's nights would load and publish its synthetic data there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from customer_health.settings import Settings


def require_embedded_warehouse(settings: Settings) -> None:
    if settings.warehouse_url:
        raise SystemExit(
            f"{Path(sys.argv[0]).name}: unset WAREHOUSE_URL; benchmarks run on the embedded"
            " warehouse, in databases of their own"
        )
