"""The GX gates block bad data and say which expectation failed on which rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from customer_health.errors import QualityGateError
from customer_health.pipeline import validate_marts, validate_raw
from customer_health.quality.gates import latest_data_docs
from customer_health.settings import load_settings
from tests.helpers import capture_webhooks, table_checksums


def test_raw_gate_passes_on_loaded_data_with_a_report_per_run(settings, published_night):
    summary = validate_raw(settings, "test-raw-gate")
    assert summary["success"] and summary["expectations"] >= 70
    assert "test-raw-gate" in summary["data_docs"]
    assert latest_data_docs(settings) == Path(summary["data_docs"])


def test_mart_gate_names_the_failing_expectation_and_alerts(conn, published_night, monkeypatch):
    published_before = table_checksums(conn)
    build = "analytics_build_gate_test"
    conn.execute(f'drop schema if exists "{build}" cascade; create schema "{build}"')
    for table in published_before:
        conn.execute(f'create table "{build}"."{table}" as select * from analytics."{table}"')
    conn.execute(
        f'update "{build}".dim_customer_health set health_score = 150 '
        "where customer_id = (select min(customer_id) from analytics.dim_customer_health)"
    )
    with capture_webhooks() as (webhook_url, received):
        monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_url)
        with pytest.raises(QualityGateError) as failure:
            validate_marts(load_settings(), build, "test-mart-gate")
    message = str(failure.value)
    assert "dim_customer_health.health_score" in message and "150" in message
    assert table_checksums(conn) == published_before
    alert = json.loads(received[0])
    assert alert["kind"] == "quality_gate_failed"
    assert any("health_score" in failure for failure in alert["details"]["failures"])
    conn.execute(f'drop schema "{build}" cascade')
