"""Health band drops to notify tonight: rows of fct_health_alerts nobody was told about yet.

The alerts mart is derived from the daily history, so it is the same on every rerun; what
makes each drop reach people exactly once is `ops.health_alerts_sent`, a ledger of the
alert ids already notified. Only drops dated within the last `RECENT_DAYS` nights are
candidates: the first night (a year of history) must not replay a year of drops, while a
night that failed to publish still has its drops sent by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import psycopg
from psycopg import sql

RECENT_DAYS = 7


@dataclass(frozen=True)
class BandDrop:
    alert_id: str
    customer_id: str
    alert_date: str
    from_band: str
    to_band: str
    health_score: float
    drivers: str


def unsent_band_drops(
    conn: psycopg.Connection, build_schema: str, logical_date: date
) -> list[BandDrop]:
    rows = conn.execute(
        sql.SQL(
            "select alert_id, customer_id, alert_date, from_band, to_band, health_score, drivers"
            " from {alerts} as alerts"
            " where alert_date > %s and alert_date <= %s"
            " and not exists (select from ops.health_alerts_sent as sent"
            "                 where sent.alert_id = alerts.alert_id)"
            " order by alert_date, health_score, customer_id"
        ).format(alerts=sql.Identifier(build_schema, "fct_health_alerts")),
        [logical_date - timedelta(days=RECENT_DAYS), logical_date],
    ).fetchall()
    return [
        BandDrop(r[0], r[1], r[2].isoformat(), r[3], r[4], float(r[5]), r[6] or "") for r in rows
    ]


def mark_sent(conn: psycopg.Connection, drops: list[BandDrop], run_id: str) -> list[BandDrop]:
    """Record the drops as notified; returns those this call recorded (a concurrent or
    repeated call that lost the race gets nothing back, so it sends nothing)."""
    recorded = []
    for drop in drops:
        row = conn.execute(
            "insert into ops.health_alerts_sent (alert_id, customer_id, alert_date, run_id)"
            " values (%s, %s, %s, %s) on conflict (alert_id) do nothing returning alert_id",
            [drop.alert_id, drop.customer_id, drop.alert_date, run_id],
        ).fetchone()
        if row is not None:
            recorded.append(drop)
    return recorded
