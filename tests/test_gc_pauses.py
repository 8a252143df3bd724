"""The collector's thresholds while dbt or GX works in the process, and after."""

import gc

import pytest

from customer_health.gc_pauses import YOUNG_COLLECTION_EVERY, fewer_collections


def test_young_collections_are_rarer_inside_and_the_thresholds_come_back_after_an_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="a failed build"), fewer_collections():
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, before[1], before[2])
        raise RuntimeError("a failed build")
    assert gc.get_threshold() == before
