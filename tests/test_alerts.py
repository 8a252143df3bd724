"""Alerts reach their targets for real, and a broken target never breaks the night."""

from __future__ import annotations

import json
from datetime import timedelta

from customer_health.alerts.band_drops import mark_sent, unsent_band_drops
from customer_health.alerts.notify import Alert, LogNotifier, WebhookNotifier, send
from tests.helpers import NIGHT, capture_webhooks


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


def test_each_band_drop_is_notified_once_and_old_drops_are_not_replayed(conn, published_night):
    conn.execute("drop schema if exists band_drop_test cascade; create schema band_drop_test")
    conn.execute(
        "create table band_drop_test.fct_health_alerts as "
        "select * from analytics.fct_health_alerts limit 0"
    )
    for customer, days_before in [("T-TONIGHT", 0), ("T-LAST-WEEK", 6), ("T-LAST-MONTH", 30)]:
        day = NIGHT - timedelta(days=days_before)
        conn.execute(
            "insert into band_drop_test.fct_health_alerts (alert_id, customer_id, alert_date,"
            " from_band, to_band, health_score, drivers) values (%s, %s, %s, 'green', 'yellow',"
            " 55, 'usage_depth -10.0')",
            [f"{customer}:{day}", customer, day],
        )
    drops = unsent_band_drops(conn, "band_drop_test", NIGHT)
    assert {d.customer_id for d in drops} == {"T-TONIGHT", "T-LAST-WEEK"}
    assert mark_sent(conn, drops, "test-run-1") == drops
    assert mark_sent(conn, drops, "test-run-2") == []  # a second sender gets nothing to send
    assert unsent_band_drops(conn, "band_drop_test", NIGHT) == []
    conn.execute("delete from ops.health_alerts_sent where customer_id like 'T-%'")
    conn.execute("drop schema band_drop_test cascade")
