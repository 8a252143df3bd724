"""Health band drops to notify tonight: rows of fct_health_alerts nobody was told about yet.

The alerts mart is derived from the daily history, so it is the same on every rerun; what
makes each drop reach people once is `ops.health_alerts_sent`, the ledger of the alert ids
already handed to the alert outbox (in the same transaction as the outbox row, so a drop is
either recorded and will be delivered, or neither). Only drops dated within the last
`RECENT_DAYS` nights are candidates: the first night (a year of history) must not replay a
year of drops, while a night that failed to publish still has its drops sent by the next one.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import psycopg
from psycopg import sql

from customer_health.alerts import outbox
from customer_health.alerts.notify import Alert

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


def record_band_drops(
    conn: psycopg.Connection,
    drops: list[BandDrop],
    run_id: str,
    logical_date: date,
    targets: list[str],
) -> list[BandDrop]:
    """Claim the drops and write their alert to the outbox, in one transaction; returns the
    drops this call claimed (a concurrent or repeated call gets nothing, so adds no alert)."""
    recorded = []
    with conn.transaction():
        for drop in drops:
            row = conn.execute(
                "insert into ops.health_alerts_sent (alert_id, customer_id, alert_date, run_id)"
                " values (%s, %s, %s, %s) on conflict (alert_id) do nothing returning alert_id",
                [drop.alert_id, drop.customer_id, drop.alert_date, run_id],
            ).fetchone()
            if row is not None:
                recorded.append(drop)
        if recorded:
            outbox.record(conn, band_drop_alert(recorded, logical_date), targets)
    return recorded


def band_drop_alert(drops: list[BandDrop], logical_date: date) -> Alert:
    ids = "\n".join(sorted(drop.alert_id for drop in drops))
    return Alert(
        "health_band_drop",
        f"{len(drops)} customer(s) slipped a health band",
        f"health_band_drop:{hashlib.sha256(ids.encode()).hexdigest()[:16]}",
        {"logical_date": logical_date.isoformat(), "customers": [asdict(d) for d in drops]},
    )
