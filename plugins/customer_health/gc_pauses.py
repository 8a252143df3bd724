"""Fewer garbage-collector pauses while dbt or GX works in the process.

dbt's parsed project and GX's context leave hundreds of thousands of long-lived objects in the
process (about 450,000 after a night), and CPython 3.11's collector walks every one of them on
each full collection: it runs a young collection every 700 net allocations and a full one
after about a hundred young ones. A next night at SF 1, in one process, spent 1.9 s of about
17 s in the collector, 1.4 s of it in 8 full collections. With young collections 14 times
rarer it makes one full collection and spends 0.9 s; the cycles freed are the same ones, found
a little later (bench/README.md).

The thresholds belong to the process: the steps that use this run one at a time, never on
threads of their own. The CLI's night, ``DBT_EXECUTION_MODE=single`` and the gates and docs
steps run dbt and GX through the functions it decorates; Cosmos's task group runs dbt itself.

The same heap makes a process slow to end: CPython collects it again while it tears its
modules down, 1.3-1.5 s after a night in one process. A process that ran a night can skip that.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_COLLECTION_EVERY = 10_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young generation's threshold for the block (or decorated function), then put
    the process's own thresholds back, whatever the block raised. A threshold already higher
    is kept, and so is 0, which turns automatic collection off."""
    young, middle, old = gc.get_threshold()
    if young:
        gc.set_threshold(max(young, YOUNG_COLLECTION_EVERY), middle, old)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


def skip_collections_at_exit() -> None:
    """Freeze the heap as the process exits, so that tearing it down collects nothing: the
    operating system takes the memory back. Python promises no finalizer of an object still
    alive at exit; the files and connections a night opens are closed by the code that opened
    them, and ``logging`` flushes its handlers at exit all the same. For a process's entry
    point (the CLI, a benchmark's child), never for library code: a test process would keep
    every frozen object."""
    atexit.register(gc.freeze)
