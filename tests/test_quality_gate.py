"""The GX gates block bad data and say which expectation failed on which rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_health.errors import QualityGateError
from customer_health.pipeline import validate_marts, validate_raw
from customer_health.quality.gates import latest_data_docs
from customer_health.settings import load_settings
from tests.helpers import table_checksums


def test_raw_gate_passes_on_loaded_data_with_a_report_per_run(settings, published_night):
    summary = validate_raw(settings, "test-raw-gate")
    assert summary["success"] and summary["expectations"] >= 70
    assert "test-raw-gate" in summary["data_docs"]
    assert latest_data_docs(settings) == Path(summary["data_docs"])


def test_mart_gate_names_the_failing_expectation(conn, published_night):
    published_before = table_checksums(conn)
    build = "analytics_build_gate_test"
    conn.execute(f'drop schema if exists "{build}" cascade; create schema "{build}"')
    for table in published_before:
        conn.execute(f'create table "{build}"."{table}" as select * from analytics."{table}"')
    conn.execute(
        f'update "{build}".dim_customer_health set health_score = 150 '
        "where customer_id = (select min(customer_id) from analytics.dim_customer_health)"
    )
    with pytest.raises(QualityGateError) as failure:
        validate_marts(load_settings(), build, "test-mart-gate")
    message = str(failure.value)
    assert "dim_customer_health.health_score" in message and "150" in message
    assert table_checksums(conn) == published_before
    conn.execute(f'drop schema "{build}" cascade')
