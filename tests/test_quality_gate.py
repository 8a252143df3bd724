"""The GX gate blocks bad marts and says which expectation failed on which rows."""

from __future__ import annotations

import pytest

from customer_health.errors import QualityGateError
from customer_health.pipeline import validate
from tests.helpers import table_checksums


def test_gate_names_the_failing_expectation_and_publishes_nothing(settings, conn, published_night):
    published_before = table_checksums(conn)
    build = settings.build_schema
    conn.execute(f'drop schema if exists "{build}" cascade; create schema "{build}"')
    for table in published_before:
        conn.execute(f'create table "{build}"."{table}" as select * from analytics."{table}"')
    conn.execute(
        f'update "{build}".dim_customer_health set health_score = 150 '
        "where customer_id = (select min(customer_id) from analytics.dim_customer_health)"
    )
    with pytest.raises(QualityGateError) as failure:
        validate(settings)
    message = str(failure.value)
    assert "dim_customer_health.health_score" in message
    assert "150" in message
    assert table_checksums(conn) == published_before
    conn.execute(f'drop schema "{build}" cascade')
