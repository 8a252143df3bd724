"""Fewer garbage-collector pauses while dbt or GX works in the process.

dbt's parsed project and GX's context leave millions of long-lived objects in the process, and
CPython 3.11's collector walks every one of them on each full collection: it runs a young
collection every 700 net allocations and a full one after about a hundred young ones. On a
next night at SF 1 in one process that was 8 full collections, 1.4 s of a 16 s night. With
young collections ten times rarer there is about one full collection a night; the cycles
they free are the same ones, found a little later.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_COLLECTION_EVERY = 10_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young generation's threshold for the block (or decorated function), then put
    the process's own thresholds back, whatever the block raised."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_EVERY), middle, old)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)
