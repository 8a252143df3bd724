"""Alerts reach their targets for real, at least once, and once per event."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from customer_health.alerts.band_drops import record_band_drops, unsent_band_drops
from customer_health.alerts.notify import Alert, WebhookNotifier, notifiers_for
from customer_health.alerts.outbox import deliver_pending, notify
from customer_health.warehouse.bootstrap import ensure_warehouse_objects
from tests.helpers import NIGHT, capture_webhooks


def outbox_rows(conn, key: str) -> list[tuple]:
    return conn.execute(
        "select target, attempts, last_error is not null, delivered_at is not null"
        " from ops.alert_outbox where idempotency_key = %s order by target",
        [key],
    ).fetchall()


def test_webhook_receives_the_alert_as_json_with_its_idempotency_key():
    alert = Alert("health_band_drop", "1 customer slipped", "drop:1", {"customers": [{"id": "C1"}]})
    with capture_webhooks() as (url, received):
        WebhookNotifier(url).send(alert)
    assert json.loads(received[0]) == {
        "kind": "health_band_drop",
        "title": "1 customer slipped",
        "idempotency_key": "drop:1",
        "details": {"customers": [{"id": "C1"}]},
    }


def test_an_alert_a_target_refused_is_delivered_by_the_next_delivery_and_only_once(settings, conn):
    ensure_warehouse_objects(conn, None)
    alert = Alert("night_failed", "night failed at ingest", "test-outbox:1", {"step": "ingest"})
    with capture_webhooks(refuse_first=1) as (url, received):
        with_webhook = replace(settings, alert_webhook_url=url)
        assert notify(with_webhook, alert) is True
        assert received == []
        assert outbox_rows(conn, alert.key) == [
            ("log", 1, False, True),
            ("webhook", 1, True, False),
        ]
        # The next run delivers what is pending; the same event raised again adds nothing.
        assert notify(with_webhook, alert) is False
        assert [json.loads(body)["idempotency_key"] for body in received] == [alert.key]
        assert outbox_rows(conn, alert.key) == [
            ("log", 1, False, True),
            ("webhook", 2, False, True),
        ]
        assert deliver_pending(conn, notifiers_for(with_webhook)).delivered == 0
    assert len(received) == 1


def test_each_band_drop_is_recorded_once_and_old_drops_are_not_replayed(conn, published_night):
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
    assert record_band_drops(conn, drops, "test-run-1", NIGHT, ["log"]) == drops
    # A second sender gets nothing to record, so adds no alert.
    assert record_band_drops(conn, drops, "test-run-2", NIGHT, ["log"]) == []
    assert unsent_band_drops(conn, "band_drop_test", NIGHT) == []
    recorded = conn.execute(
        "select payload from ops.alert_outbox where kind = 'health_band_drop'"
        " and payload::text like '%%T-TONIGHT%%'"
    ).fetchall()
    assert [{c["customer_id"] for c in p["details"]["customers"]} for (p,) in recorded] == [
        {"T-TONIGHT", "T-LAST-WEEK"}
    ]
    conn.execute("delete from ops.health_alerts_sent where customer_id like 'T-%'")
    conn.execute("delete from ops.alert_outbox where payload::text like '%%T-TONIGHT%%'")
    conn.execute("drop schema band_drop_test cascade")
