"""Alerts reach their targets for real, and a broken target never breaks the night."""

from __future__ import annotations

import json

from customer_health.alerts.band_drops import band_drops
from customer_health.alerts.notify import Alert, LogNotifier, WebhookNotifier, send
from tests.helpers import capture_webhooks


def test_webhook_receives_the_alert_as_json():
    alert = Alert("health_band_drop", "1 customer slipped", {"customers": [{"id": "C1"}]})
    with capture_webhooks() as (url, received):
        assert send(alert, [LogNotifier(), WebhookNotifier(url)]) == 2
    assert json.loads(received[0]) == {
        "kind": "health_band_drop",
        "title": "1 customer slipped",
        "details": {"customers": [{"id": "C1"}]},
    }


def test_an_unreachable_target_is_logged_and_the_others_still_get_the_alert():
    alert = Alert("task_failed", "build failed")
    with capture_webhooks() as (url, received):
        dead = WebhookNotifier("http://127.0.0.1:9/nothing-listens-here", timeout_seconds=1)
        assert send(alert, [dead, WebhookNotifier(url)]) == 1
    assert len(received) == 1


def test_band_drops_compare_tonight_with_what_bi_sees(conn, published_night):
    conn.execute("drop schema if exists band_drop_test cascade; create schema band_drop_test")
    conn.execute(
        "create table band_drop_test.dim_customer_health as "
        "select * from analytics.dim_customer_health"
    )

    def first_in(band: str) -> str:
        return conn.execute(
            "select min(customer_id) from analytics.dim_customer_health where health_band = %s",
            [band],
        ).fetchone()[0]

    green, yellow = first_in("green"), first_in("yellow")
    conn.execute(
        "update band_drop_test.dim_customer_health set health_band = 'red', health_score = 12 "
        "where customer_id in (%s, %s)",
        [green, yellow],
    )
    conn.execute(  # an improvement is not a drop
        "update band_drop_test.dim_customer_health set health_band = 'green' "
        "where health_band = 'yellow' and customer_id <> %s",
        [yellow],
    )
    drops = band_drops(conn, "band_drop_test", "analytics")
    assert {(d.customer_id, d.from_band, d.to_band) for d in drops} == {
        (green, "green", "red"),
        (yellow, "yellow", "red"),
    }
    assert band_drops(conn, "band_drop_test", "no_such_schema") == []
    conn.execute("drop schema band_drop_test cascade")
