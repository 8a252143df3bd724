"""The collector's thresholds while dbt or GX works in the process, and after; a process
that skips its collections at exit."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from customer_health.gc_pauses import YOUNG_COLLECTION_EVERY, fewer_collections

# A process that prints, at its exit, how many objects the collector no longer looks at.
EXITING = """
import atexit, gc
atexit.register(lambda: print(gc.get_freeze_count()))
{skip}
heap = [[index] for index in range(10_000)]
"""


@pytest.fixture
def thresholds():
    """The process's thresholds, put back after the test changes them."""
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_young_collections_are_rarer_inside_and_the_thresholds_come_back_after_an_error(
    thresholds,
):
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError, match="a failed build"), fewer_collections():
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, 10, 10)
        raise RuntimeError("a failed build")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_decorated_step_raises_the_threshold_on_every_call_and_keeps_a_higher_one(thresholds):
    @fewer_collections()
    def step() -> tuple[int, int, int]:
        return gc.get_threshold()

    gc.set_threshold(700, 10, 10)
    assert [step(), step()] == [(YOUNG_COLLECTION_EVERY, 10, 10)] * 2
    assert gc.get_threshold() == (700, 10, 10)
    gc.set_threshold(50_000, 10, 10)
    assert step() == (50_000, 10, 10)
    gc.set_threshold(0, 10, 10)
    assert step() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


@pytest.mark.parametrize("skip", [True, False], ids=["skipped", "as usual"])
def test_a_process_that_skips_its_exit_collections_ends_with_its_heap_frozen(skip):
    line = (
        "from customer_health.gc_pauses import skip_collections_at_exit; skip_collections_at_exit()"
    )
    code = EXITING.format(skip=line if skip else "")
    ended = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    frozen = int(ended.stdout)
    assert (frozen > 10_000) is skip
